#!/bin/bash
# Install pyswarm on a VM (Debian 12 or Ubuntu 24.04) and run swarmd under systemd.
#   sudo deploy/provision.sh [SRC]      SRC = the repository (default $PYSWARM_SRC or /vagrant)
# Environment:
#   PYSWARM_SRC      repository path (pip-installable: has pyproject.toml)
#   PYSWARM_PREFIX   venv to install into (default /opt/pyswarm)
#   SWARM_HOSTS      "name=ip name=ip ..." added to /etc/hosts (the Vagrantfile passes all nodes)
#   SWARMD_OPTS      extra swarmd flags written to /etc/default/swarmd on first install
#   PYSWARM_WHEELS   install offline from this wheel directory (pip --no-index), e.g. in an image build
#   PYSWARM_NO_START 1 = a root filesystem being built (chroot, no systemd running): enable swarmd,
#                    do not load modules, apply sysctls or start anything (deploy/vmtb/image.py)
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

NO_START="${PYSWARM_NO_START:-0}"
OS_PACKAGES=(python3 python3-venv python3-pip ca-certificates iproute2 nftables util-linux kmod tini)
missing=()
for p in "${OS_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing OS packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# VXLAN overlay and the routing mesh need these; load now and at boot
printf 'vxlan\nbr_netfilter\noverlay\n' > /etc/modules-load.d/pyswarm.conf
printf 'net.ipv4.ip_forward = 1\n' > /etc/sysctl.d/60-pyswarm.conf
if [ "$NO_START" != 1 ]; then
  for m in vxlan br_netfilter overlay; do modprobe "$m" 2>/dev/null || log "warning: cannot load module $m"; done
  sysctl -q -p /etc/sysctl.d/60-pyswarm.conf || true
fi

[ -x "$PREFIX/bin/python" ] || python3 -m venv "$PREFIX"
if [ -n "${PYSWARM_WHEELS:-}" ]; then
  [ -d "$PYSWARM_WHEELS" ] || die "PYSWARM_WHEELS=$PYSWARM_WHEELS is not a directory"
  log "installing pyswarm from the wheels in $PYSWARM_WHEELS into $PREFIX (offline)"
  "$PREFIX/bin/pip" install -q --no-index --find-links "$PYSWARM_WHEELS" --upgrade pyswarm
else
  log "installing pyswarm from $SRC into $PREFIX"
  "$PREFIX/bin/pip" install -q --upgrade pip
  "$PREFIX/bin/pip" install -q --upgrade "$SRC"
fi
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
if [ "$NO_START" = 1 ]; then
  systemctl enable swarmd.service
  log "swarmd installed and enabled (starts at boot)"
  exit 0
fi
systemctl daemon-reload
systemctl enable swarmd.service
systemctl restart swarmd.service

for _ in $(seq 60); do [ -S "$SOCK" ] && break; sleep 0.5; done
[ -S "$SOCK" ] || { journalctl -u swarmd --no-pager -n 30 >&2 || true; die "swarmd did not open $SOCK"; }
SWARM_HOST="unix://$SOCK" swarm info >/dev/null 2>&1 || log "warning: swarm info failed (see journalctl -u swarmd)"
log "swarmd running on $(hostname) (socket $SOCK)"
