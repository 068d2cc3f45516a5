#!/bin/bash
# The main job from README.md: installs what it needs, brings up a multi-host cluster on this
# machine (network-namespace hosts, one swarmd each), forms a swarm, and shows it working.
#   deploy/demo.sh [--managers M] [--workers W]     (defaults 3 and 2)
#   deploy/demo.sh down                               removes everything again
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
if [ "${1:-}" = "down" ]; then exec deploy/testbed down; fi
managers=3; workers=2
while [ $# -gt 0 ]; do
  case "$1" in
    --managers) managers="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    *) echo "usage: deploy/demo.sh [--managers M] [--workers W] | down" >&2; exit 2 ;;
  esac
done
bash deploy/install.sh
deploy/testbed down >/dev/null 2>&1 || true
deploy/testbed up --managers "$managers" --workers "$workers" --form-swarm
echo
echo "== mgr1: swarm node ls"
deploy/testbed exec mgr1 -- swarm node ls
for h in $(deploy/testbed ls | awk 'NR>1 && $1 != "infra" {print $1}'); do
  echo "== $h: swarm info"
  deploy/testbed exec "$h" -- swarm info | sed -n '2,6p'
done
echo
echo "The cluster keeps running. Try: deploy/testbed exec mgr1 -- swarm node ls"
echo "Remove it with: deploy/demo.sh down"
