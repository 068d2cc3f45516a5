"""Offline test images built from busybox-static with umoci.

Design notes:
* One OCI image layout holds every test image; each image is a *ref name* inside the layout
  (``web-1``, ``web-2``, ``fail-1``) and :data:`TEST_IMAGES` maps the Docker-style repository
  ``name:tag`` each one is pushed as (``demo/web:1`` ...).
* The rootfs is hand made: the static busybox binary, one symlink per applet, /etc/passwd and
  /etc/group. ``demo/web`` runs ``/entry.sh`` which writes ``/www/index.html`` saying the
  image version and the container's hostname, says so on stdout, then runs
  ``httpd -f -v -p 80 -h /www`` (a line per request on stderr) under a shell that exits on
  SIGTERM. Arguments are ignored: a test that wants another program sets the entrypoint. Tag 2 is
  tag 1 plus one small layer that replaces ``/etc/version`` (so layers are shared).
* ``demo/fail:1`` prints a message on stderr and exits 3 at once (for update-failure tests).
* umoci 0.4.7's ``insert`` writes broken tars, so every change goes unpack -> edit -> repack.
* Building takes ~1 s; :func:`build_test_images` caches the result in ``workdir`` (a marker
  file is written last, so a half-built layout is rebuilt).
* busybox ``wget`` segfaults on the lab machine: use ``nc`` for in-container HTTP checks, e.g.
  ``printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 80``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BUSYBOX = "/bin/busybox"

#: repository:tag -> ref name inside the OCI layout
TEST_IMAGES: dict[str, str] = {
    "demo/web:1": "web-1",
    "demo/web:2": "web-2",
    "demo/fail:1": "fail-1",
}

ENTRY_SH = """#!/bin/sh
# generated at container start: the page names the image version and the hostname
mkdir -p /www
echo "demo/web version $(cat /etc/version) on $(hostname)" > /www/index.html
# PID 1 ignores SIGTERM unless it handles it: exit at once on stop, as the Docker lab's workload
# does, so the stop grace period never dominates update timings
trap 'exit 0' TERM INT
# a line at start and one per request (httpd -v, to stderr): something for `service logs` to show
echo "demo/web version $(cat /etc/version) serving on port ${PORT:-80} as $(hostname)"
httpd -f -v -p "${PORT:-80}" -h /www &
wait $!
"""

FAIL_SH = """#!/bin/sh
echo "demo/fail: refusing to start (exit 3)" >&2
exit 3
"""


def _run(*argv: str, cwd: Path | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_busybox_rootfs(dest: Path) -> Path:
    """A minimal busybox rootfs in ``dest`` (also used for runc/crun bundles)."""
    for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "www", "root", "var/run",
              "usr/bin", "usr/sbin"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, dest / "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    for a in applets:
        p = dest / a
        if not p.exists() and not p.is_symlink():
            p.parent.mkdir(parents=True, exist_ok=True)
            p.symlink_to("/bin/busybox")
    (dest / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/www:/bin/false\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (dest / "etc/group").write_text("root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n")
    (dest / "etc/hostname").write_text("busybox\n")
    return dest


def _config(layout: Path, ref: str, *opts: str) -> None:
    _run("umoci", "config", "--image", f"{layout}:{ref}", "--author", "pyswarm-tests",
         "--architecture", "amd64", "--os", "linux",
         "--config.env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "--config.workingdir", "/", *opts)


def build_test_images(workdir: Path) -> Path:
    """Build (once) the OCI layout with every image of :data:`TEST_IMAGES`; return its path."""
    workdir = Path(workdir)
    layout = workdir / "oci"
    marker = workdir / "oci.done"
    import hashlib

    recipe = hashlib.sha256((ENTRY_SH + FAIL_SH).encode()).hexdigest()
    if marker.exists() and layout.is_dir() and marker.read_text().strip() == recipe:
        return layout
    shutil.rmtree(layout, ignore_errors=True)
    work = workdir / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lay = str(layout)
    _run("umoci", "init", "--layout", lay)
    # base: busybox rootfs + /entry.sh, tagged web-1
    _run("umoci", "new", "--image", f"{lay}:web-1")
    _run("umoci", "unpack", "--image", f"{lay}:web-1", str(work / "b1"))
    rootfs = make_busybox_rootfs(work / "b1/rootfs")
    (rootfs / "entry.sh").write_text(ENTRY_SH)
    os.chmod(rootfs / "entry.sh", 0o755)
    (rootfs / "etc/version").write_text("1\n")
    _run("umoci", "repack", "--image", f"{lay}:web-1", str(work / "b1"))
    # fail-1 shares the base layer, adds /fail.sh
    _run("umoci", "tag", "--image", f"{lay}:web-1", "fail-1")
    _run("umoci", "unpack", "--image", f"{lay}:fail-1", str(work / "f1"))
    (work / "f1/rootfs/fail.sh").write_text(FAIL_SH)
    os.chmod(work / "f1/rootfs/fail.sh", 0o755)
    _run("umoci", "repack", "--image", f"{lay}:fail-1", str(work / "f1"))
    _config(layout, "fail-1", "--config.entrypoint", "/fail.sh")
    # web-2 = web-1 + one layer replacing /etc/version
    _run("umoci", "tag", "--image", f"{lay}:web-1", "web-2")
    _run("umoci", "unpack", "--image", f"{lay}:web-2", str(work / "b2"))
    (work / "b2/rootfs/etc/version").write_text("2\n")
    _run("umoci", "repack", "--image", f"{lay}:web-2", str(work / "b2"))
    for ref, ver in (("web-1", "1"), ("web-2", "2")):
        _config(layout, ref, "--config.entrypoint", "/entry.sh", "--config.exposedports", "80/tcp",
                "--config.label", f"org.pyswarm.test.version={ver}")
    _run("umoci", "gc", "--layout", lay)
    shutil.rmtree(work, ignore_errors=True)
    marker.write_text(recipe + "\n")
    return layout


def build_bundle_rootfs(workdir: Path) -> Path:
    """A plain-directory busybox rootfs (for runc/crun bundles and conformance tests)."""
    dest = Path(workdir) / "bundle-rootfs"
    if not (dest / "bin/busybox").exists():
        shutil.rmtree(dest, ignore_errors=True)
        make_busybox_rootfs(dest)
    return dest
