"""`build`: the Debian 12 VM image, made offline from the apt mirror and cached by input hash.

Two cached layers:

    base-<key>/           mmdebstrap of BASE_PACKAGES (key: suite, mirror, package list)
    images/<key>/         base.qcow2 vmlinuz initrd.img id_ed25519{,.pub} manifest.json
                          (key: the base key, this module, and the git tree of the project's
                          files at HEAD: what goes into its wheel, provision.sh, the unit)

The project is taken from the commit checked out (`git archive HEAD`), never from files being
edited in the working tree, so an image is always one commit of the project.

The project goes in the way the Vagrantfile puts it on a VM: deploy/provision.sh, run in a
chroot with PYSWARM_NO_START=1 (nothing to start yet) and PYSWARM_WHEELS (the wheels of the
project and its dependencies built here first, so the guest needs no index). Mounts for the
chroot are made in a private mount namespace (`unshare -m`), so none outlives the build. The
kernel boots with -kernel/-initrd (no bootloader); the address and hostname come on the kernel
line; a unit prints READY_MARK on the serial console once sshd is up.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from swtb.errors import TestbedError

from vmtb.config import READY_MARK, cache_dir
from vmtb.sh import run

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
MIRROR = os.environ.get("PYSWARM_VM_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = (
    "systemd-sysv", "udev", "kmod", "linux-image-amd64", "initramfs-tools", "openssh-server",
    "python3", "python3-venv", "python3-pip", "ca-certificates", "iproute2", "nftables",
    "util-linux", "busybox-static", "tini", "procps", "iputils-ping", "curl", "psmisc",
)
# the project's part of the image: what `pip wheel` packs, and what provision.sh reads
PROJECT_PATHS = ("pyproject.toml", "swarm", "node", "deploy/provision.sh", "deploy/swarmd.service")
TOOLS = ("mmdebstrap", "qemu-img", "mkfs.ext4", "ssh-keygen", "unshare", "git")


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big"))
        h.update(p)
    return h.hexdigest()[:16]


def base_key() -> str:
    return _sha(SUITE.encode(), MIRROR.encode(), " ".join(BASE_PACKAGES).encode())


def project_tree() -> str:
    """`git ls-tree -r HEAD` of PROJECT_PATHS: the blob ids of exactly what gets built."""
    return run(["git", "-C", str(REPO), "ls-tree", "-r", "HEAD", "--", *PROJECT_PATHS]).stdout


def head() -> str:
    return run(["git", "-C", str(REPO), "rev-parse", "HEAD"]).stdout.strip()


def image_key(tree: str) -> str:
    return _sha(base_key().encode(), Path(__file__).read_bytes(), tree.encode())


def current_image() -> Path | None:
    link = cache_dir() / "current"
    return link.resolve() if link.exists() else None


def check_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise TestbedError(f"missing tools: {', '.join(missing)} "
                           "(apt-get install mmdebstrap qemu-utils e2fsprogs openssh-client)")


def build_base(log: Path) -> Path:
    base = cache_dir() / f"base-{base_key()}"
    if base.is_dir():
        return base
    tmp = cache_dir() / f"base-{base_key()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with log.open("a") as f:
        # apt retries: the mirror's name does not always resolve here
        cp = subprocess.run(
            ["mmdebstrap", "--variant=minbase", "--format=directory", "--aptopt=Acquire::Retries \"10\"",
             "--include=" + ",".join(BASE_PACKAGES), SUITE, str(tmp), f"deb {MIRROR} {SUITE} main"],
            stdout=f, stderr=subprocess.STDOUT, timeout=1800)
    if cp.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TestbedError(f"mmdebstrap failed (exit {cp.returncode}); see {log}")
    tmp.rename(base)
    return base


GUEST_SETUP = r"""
set -eu
echo vm > /etc/hostname
echo '/dev/vda / ext4 defaults,noatime 0 1' > /etc/fstab
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
  > /etc/ssh/sshd_config.d/vmtb.conf
mkdir -p /etc/systemd/system/systemd-networkd-wait-online.service.d
printf '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=15\n' \
  > /etc/systemd/system/systemd-networkd-wait-online.service.d/short.conf
cat > /etc/systemd/system/vmtb-ready.service <<EOU
[Unit]
Description=print the ready marker on the serial console once sshd is up
After=ssh.service network.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "@MARK@ \$(hostname) uptime=\$(cut -d" " -f1 /proc/uptime)" > /dev/ttyS0'
[Install]
WantedBy=multi-user.target
EOU
systemctl enable systemd-networkd.service vmtb-ready.service
systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
  fstrim.timer systemd-pstore.service getty-static.service
systemctl set-default multi-user.target
passwd -d root >/dev/null
sed -i 's/^MODULES=.*/MODULES=list/; s/^COMPRESS=.*/COMPRESS=gzip/' /etc/initramfs-tools/initramfs.conf
printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\ncrc32c_generic\n' >> /etc/initramfs-tools/modules
update-initramfs -u -k all >/dev/null
PYSWARM_NO_START=1 PYSWARM_WHEELS=/tmp/vmtb/wheels bash /tmp/vmtb/src/deploy/provision.sh /tmp/vmtb/src
rm -rf /tmp/vmtb /usr/share/doc/* /usr/share/man/* /var/cache/apt/*.bin /root/.cache
""".replace("@MARK@", READY_MARK)


def _chroot(rootfs: Path, script: str, log: Path) -> None:
    """Run script in rootfs with /proc, /sys, /dev mounted in a private mount namespace."""
    r = str(rootfs)
    outer = (f"set -e; mount --make-rprivate /; mount -t proc proc {r}/proc; mount -t sysfs sys {r}/sys; "
             f"mount --bind /dev {r}/dev; mount -t devpts devpts {r}/dev/pts; "
             f"exec chroot {r} /bin/bash -c \"$0\"")
    with log.open("a") as f:
        cp = subprocess.run(["unshare", "--mount", "--fork", "/bin/sh", "-c", outer, script],
                            stdout=f, stderr=subprocess.STDOUT, timeout=1800,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"})
    if cp.returncode != 0:
        raise TestbedError(f"guest setup in the chroot failed (exit {cp.returncode}); see {log}")


def _wheels(src: Path, dest: Path) -> None:
    """Wheels of src and its dependencies into dest, from the cache's wheelhouse when it has them
    all (offline), else from the index (with retries: names do not always resolve here)."""
    pip = REPO / ".venv/bin/pip"
    house = cache_dir() / "wheels"
    house.mkdir(exist_ok=True)
    # the project is built with this venv's setuptools: an offline build needs no index for it
    argv = [str(pip if pip.exists() else "pip"), "wheel", "-q", "--no-build-isolation",
            "--find-links", str(house)]
    offline = run([*argv, "--no-index", "--wheel-dir", str(dest), str(src)], check=False, timeout=900)
    if offline.returncode != 0:
        run([*argv, "--retries", "30", "--wheel-dir", str(house), str(src)], timeout=1800)
        run([*argv, "--no-index", "--wheel-dir", str(dest), str(src)], timeout=900)


def build(force: bool = False, say: Callable[[str], None] = print) -> Path:
    """Build (or find) the image for the current tree; returns its directory."""
    check_tools()
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    commit = head()
    tree = project_tree()
    key = image_key(tree)
    out = cache / "images" / key
    if (out / "manifest.json").exists() and not force:
        _point_current(out)
        say(f"image {key} is built: {out}")
        return out
    work = cache / f"work.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    log = cache / f"build-{key}.log"
    log.write_text("")
    times: dict[str, float] = {}
    try:
        t0 = time.monotonic()
        say(f"base root filesystem (mmdebstrap, cached as base-{base_key()}/); log {log}")
        base = build_base(log)
        times["base_s"] = round(time.monotonic() - t0, 1)
        t1 = time.monotonic()
        rootfs = work / "rootfs"
        run(["cp", "-a", "--reflink=auto", str(base), str(rootfs)], timeout=600)
        stage = rootfs / "tmp/vmtb"
        (stage / "src").mkdir(parents=True)
        archive = work / "src.tar"
        run(["git", "-C", str(REPO), "archive", "-o", str(archive), commit, "--", *PROJECT_PATHS])
        run(["tar", "-C", str(stage / "src"), "-xf", str(archive)])
        say("wheels of the project and its dependencies")
        _wheels(stage / "src", stage / "wheels")
        out_tmp = work / "out"
        out_tmp.mkdir()
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"vmtb-{key}",
             "-f", str(out_tmp / "id_ed25519")])
        ssh_dir = rootfs / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copy(out_tmp / "id_ed25519.pub", ssh_dir / "authorized_keys")
        (ssh_dir / "authorized_keys").chmod(0o600)
        say("guest setup and deploy/provision.sh in a chroot")
        _chroot(rootfs, GUEST_SETUP, log)
        for name in ("vmlinuz", "initrd.img"):
            found = sorted((rootfs / "boot").glob(f"{name}-*"))
            if not found:
                raise TestbedError(f"no /boot/{name}-* in the image")
            shutil.copy(found[-1], out_tmp / name)
        times["setup_s"] = round(time.monotonic() - t1, 1)
        t2 = time.monotonic()
        say("ext4 file system and qcow2 image")
        raw = work / "base.raw"
        run(["truncate", "-s", "4G", str(raw)])
        run(["mkfs.ext4", "-q", "-F", "-L", "vmroot", "-d", str(rootfs), str(raw)], timeout=900)
        run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(out_tmp / "base.qcow2")], timeout=900)
        times["disk_s"] = round(time.monotonic() - t2, 1)
        times["total_s"] = round(time.monotonic() - t0, 1)
        manifest = {"key": key, "base_key": base_key(), "suite": SUITE, "mirror": MIRROR,
                    "packages": list(BASE_PACKAGES), "commit": commit,
                    "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "times": times}
        (out_tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        out_tmp.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _point_current(out)
    say(f"built image {key} in {times['total_s']}s: {out}")
    return out


def _point_current(out: Path) -> None:
    link = cache_dir() / "current"
    tmp = cache_dir() / "current.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(out.relative_to(cache_dir()))
    tmp.replace(link)
