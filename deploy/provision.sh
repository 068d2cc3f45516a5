#!/bin/bash
# Install pyswarm on a VM (Debian 12 or Ubuntu 24.04) and run swarmd under systemd.
#   sudo deploy/provision.sh [SRC]      SRC = the repository (default $PYSWARM_SRC or /vagrant)
# Environment:
#   PYSWARM_SRC      repository path (pip-installable: has pyproject.toml)
#   PYSWARM_PREFIX   venv to install into (default /opt/pyswarm)
#   SWARM_HOSTS      "name=ip name=ip ..." added to /etc/hosts (the Vagrantfile passes all nodes)
#   SWARMD_OPTS      extra swarmd flags written to /etc/default/swarmd on first install
# Idempotent: re-running upgrades the install and restarts swarmd.
set -euo pipefail

SRC="${1:-${PYSWARM_SRC:-/vagrant}}"
PREFIX="${PYSWARM_PREFIX:-/opt/pyswarm}"
UNIT_SRC="$SRC/deploy/swarmd.service"
SOCK=/run/swarm/swarmd.sock

die() { echo "provision.sh: $*" >&2; exit 1; }
log() { echo "provision.sh: $*"; }

[ "$(id -u)" = 0 ] || die "run as root"
[ -f "$SRC/pyproject.toml" ] || die "no pyproject.toml in $SRC (pass the repository path)"
[ -f "$UNIT_SRC" ] || die "missing $UNIT_SRC"
if [ -r /etc/os-release ]; then
  . /etc/os-release
  case "${ID:-}:${VERSION_ID:-}" in
    debian:12|ubuntu:24.04) ;;
    *) log "warning: untested on ${PRETTY_NAME:-unknown OS} (want Debian 12 or Ubuntu 24.04)" ;;
  esac
fi

log "installing OS packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  python3 python3-venv python3-pip ca-certificates iproute2 nftables util-linux kmod tini

# VXLAN overlay and the routing mesh need these; load now and at boot
printf 'vxlan\nbr_netfilter\noverlay\n' > /etc/modules-load.d/pyswarm.conf
for m in vxlan br_netfilter overlay; do modprobe "$m" 2>/dev/null || log "warning: cannot load module $m"; done
printf 'net.ipv4.ip_forward = 1\n' > /etc/sysctl.d/60-pyswarm.conf
sysctl -q -p /etc/sysctl.d/60-pyswarm.conf || true

log "installing pyswarm from $SRC into $PREFIX"
[ -x "$PREFIX/bin/python" ] || python3 -m venv "$PREFIX"
"$PREFIX/bin/pip" install -q --upgrade pip
"$PREFIX/bin/pip" install -q --upgrade "$SRC"
ln -sf "$PREFIX/bin/swarm" /usr/local/bin/swarm
ln -sf "$PREFIX/bin/swarmd" /usr/local/sbin/swarmd

if [ -n "${SWARM_HOSTS:-}" ]; then
  for pair in $SWARM_HOSTS; do
    name="${pair%%=*}" ip="${pair#*=}"
    grep -qE "^$ip[[:space:]]+$name\$" /etc/hosts || echo "$ip $name" >> /etc/hosts
  done
fi

if [ ! -f /etc/default/swarmd ]; then
  cat > /etc/default/swarmd <<CONF
# extra swarmd flags, e.g. --insecure-registry 192.168.56.1:5000 --log-level debug
SWARMD_OPTS="${SWARMD_OPTS:-}"
CONF
fi
install -m 0644 "$UNIT_SRC" /etc/systemd/system/swarmd.service
systemctl daemon-reload
systemctl enable swarmd.service
systemctl restart swarmd.service

for _ in $(seq 60); do [ -S "$SOCK" ] && break; sleep 0.5; done
[ -S "$SOCK" ] || { journalctl -u swarmd --no-pager -n 30 >&2 || true; die "swarmd did not open $SOCK"; }
SWARM_HOST="unix://$SOCK" swarm info >/dev/null 2>&1 || log "warning: swarm info failed (see journalctl -u swarmd)"
log "swarmd running on $(hostname) (socket $SOCK)"
