#!/bin/bash
# Installs everything pyswarm needs on a fresh Debian 12 / Ubuntu 24.04 machine (as root):
# the apt packages and a virtualenv at <repo>/.venv with the project and its dev tools.
# Idempotent; used by deploy/demo.sh, deploy/test.sh and .ci/run.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" != 0 ]; then echo "deploy/install.sh: run as root" >&2; exit 1; fi

# The package mirrors are sometimes unreachable for a minute: every download is retried.
retry() {
  local n
  for n in 1 2 3 4 5 6; do
    "$@" && return 0
    echo "deploy/install.sh: attempt $n of: $* failed; retrying in 20 s" >&2
    sleep 20
  done
  "$@"
}

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc
  iproute2 nftables util-linux procps psmisc kmod curl ca-certificates
  runc crun skopeo umoci docker-registry busybox-static tini
  redis-server   # its binaries make the stack e2e test's Redis image (tests/support/stack_images.py)
  etcd-server vagrant
  mmdebstrap qemu-system-x86 qemu-utils openssh-client   # deploy/vmtestbed (the VM testbed)
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # redis-server and etcd-server are here for their binaries (test images, the store bench):
  # no service of theirs may start on this machine, so policy-rc.d says no while we install.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  retry apt-get update -qq
  # etcd-server is only for the store benchmark's reference run; tolerate its absence.
  retry apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || \
    retry apt-get install -y -qq --no-install-recommends "${missing[@]/etcd-server}" >/dev/null
fi

py=/usr/bin/python3
if [ ! -x "$repo/.venv/bin/python" ]; then
  "$py" -m venv "$repo/.venv"
fi
retry "$repo/.venv/bin/pip" install -q --disable-pip-version-check -U pip >/dev/null
retry "$repo/.venv/bin/pip" install -q --disable-pip-version-check -e "$repo[dev]"
echo "pyswarm installed in $repo/.venv"
