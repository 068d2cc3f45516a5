#!/bin/bash
# The main job from README.md: installs what it needs, brings up a multi-host cluster on this
# machine (network-namespace hosts, one swarmd each), forms a swarm, starts a registry with the
# offline-built demo images, deploys a web service and shows it running across the hosts.
#   deploy/demo.sh [--managers M] [--workers W]     (defaults 3 and 2)
#   deploy/demo.sh down                               removes everything again
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
if [ "$(id -u)" != 0 ]; then echo "deploy/demo.sh: run as root" >&2; exit 1; fi
if [ "${1:-}" = "down" ]; then exec deploy/testbed down --purge; fi
managers=3; workers=2
while [ $# -gt 0 ]; do
  case "$1" in
    --managers) managers="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    *) echo "usage: deploy/demo.sh [--managers M] [--workers W] | down" >&2; exit 2 ;;
  esac
done
bash deploy/install.sh
py="$repo/.venv/bin/python"
registry="10.231.0.1:5000"
work=/var/lib/swtb-demo
mkdir -p "$work"

echo "== building the demo images offline (busybox-static, umoci)"
layout="$("$py" -c "import sys; sys.path.insert(0, '$repo')
from pathlib import Path
from tests.support.images import build_test_images
print(build_test_images(Path('$work/images')))")"

deploy/testbed down --purge >/dev/null 2>&1 || true
echo "== bringing up $managers managers + $workers workers and forming the swarm"
deploy/testbed up --managers "$managers" --workers "$workers" --insecure-registry "$registry" --form-swarm

echo "== starting a registry in the testbed's infra namespace ($registry)"
mkdir -p "$work/registry/data"
cat > "$work/registry/config.yml" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry/data
http:
  addr: $registry
CFG
deploy/testbed infra -- docker-registry serve "$work/registry/config.yml" >/dev/null
for _ in $(seq 100); do deploy/testbed exec infra -- curl -sf "http://$registry/v2/" >/dev/null && break; sleep 0.1; done
for tag in 1 2; do
  deploy/testbed exec infra -- skopeo copy --quiet --dest-tls-verify=false \
    "oci:$layout:web-$tag" "docker://$registry/demo/web:$tag"
done

echo
echo "== mgr1: swarm node ls"
deploy/testbed exec mgr1 -- swarm node ls
echo
echo "== mgr1: swarm service create --name web --replicas 6 --publish 8080:80 $registry/demo/web:1"
deploy/testbed exec mgr1 -- swarm service create --name web --replicas 6 --publish 8080:80 "$registry/demo/web:1"
echo
deploy/testbed exec mgr1 -- swarm service ls
echo
deploy/testbed exec mgr1 -- swarm service ps web
echo
echo "== the routing mesh: port 8080 answers on every node, from containers anywhere"
hosts=$(deploy/testbed ls | awk 'NR>1 && $1 != "infra" {print $1 " " $2}')
client=$(echo "$hosts" | awk 'NR==1 {print $1}')
echo "(6 requests to each node from $client; each node's mesh spreads them round-robin over all replicas)"
failed=0
while read -r host addr; do
  answers=$(for _ in 1 2 3 4 5 6; do
    deploy/testbed exec "$client" -- curl -s --max-time 5 "http://$addr:8080/" || echo "(no answer)"
  done)
  printf '%-5s %-12s -> %s\n' "$host" "$addr:8080" "$(echo "$answers" | head -1)"
  answered=$(echo "$answers" | grep -c ' on ' || true)
  printf '%-18s    %s of 6 answered, by %s distinct containers\n' "" \
    "$answered" "$(echo "$answers" | awk '/ on /{print $NF}' | sort -u | wc -l)"
  [ "$answered" = 6 ] || failed=1
done <<< "$hosts"
if [ "$failed" = 1 ]; then
  echo "demo: the routing mesh did not answer every request (see above); the cluster is left up for a look" >&2
  exit 1
fi
echo
echo "The cluster keeps running. Try:"
echo "  deploy/testbed exec mgr1 -- swarm service update --image $registry/demo/web:2 web"
echo "  deploy/testbed exec mgr1 -- swarm service logs web"
echo "Remove everything with: deploy/demo.sh down"
