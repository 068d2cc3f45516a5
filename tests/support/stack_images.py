"""Offline images of the course's two-service app (issue 16), built with umoci like images.py's.

* ``demo/redis:7``: Debian's ``redis-server`` and ``redis-cli`` binaries and the libraries
  ``ldd`` lists for them (the dynamic loader included), nothing else: no shell. Entrypoint
  ``/usr/bin/redis-server``; the stack gives it its config file (a secret) as the argument.
* ``demo/counter:1``: the busybox rootfs of images.py with ``httpd`` serving ``/www`` and the
  CGI script ``/www/cgi-bin/count``: it reads the password from the ACL file Redis reads
  (``/run/secrets/redis_acl``), sends ``AUTH``/``INCR visits`` to ``$REDIS_HOST:6379`` (default
  ``redis``) in RESP with
  ``nc`` and fills the page template ``/etc/page.tmpl`` (a config) with the count and the
  container's hostname.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tests.support.images import _config, _run, make_busybox_rootfs

REDIS_BINARIES = ("/usr/bin/redis-server", "/usr/bin/redis-cli")

#: repository:tag -> ref name inside the OCI layout
STACK_IMAGES: dict[str, str] = {"demo/redis:7": "redis-7", "demo/counter:1": "counter-1"}

COUNT_CGI = r"""#!/bin/sh
PASS=$(sed -n 's/^user counter on >\([^ ]*\).*/\1/p' /run/secrets/redis_acl)
HOST=$(cat /tmp/redis-host)
N=$(printf 'AUTH counter %s\r\nINCR visits\r\nQUIT\r\n' "$PASS" | nc -w 5 "$HOST" 6379 | tr -d '\r' | sed -n 's/^://p')
echo "Content-Type: text/plain"
echo ""
if [ -z "$N" ]; then
  echo "redis did not answer at $HOST ($(hostname))"
  exit 0
fi
sed -e "s/{{visits}}/$N/" -e "s/{{host}}/$(hostname)/" /etc/page.tmpl
"""

COUNTER_ENTRY = """#!/bin/sh
trap 'exit 0' TERM INT
# the CGI script asks Redis at this name (httpd does not hand its environment to CGI scripts)
echo "${REDIS_HOST:-redis}" > /tmp/redis-host
echo "counter: httpd on port 80 as $(hostname)"
httpd -f -v -p 80 -h /www &
wait $!
"""


def missing() -> str | None:
    for b in REDIS_BINARIES:
        if not os.access(b, os.X_OK):
            return f"{b} is missing (Debian's redis-server package, deploy/install.sh)"
    return None


def _libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts:
            path = parts[parts.index("=>") + 1]
            if path.startswith("/"):
                libs.append(path)
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])                     # the dynamic loader
    return libs


def _redis_rootfs(dest: Path) -> None:
    for d in ("data", "tmp", "etc", "run"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    files = set(REDIS_BINARIES)
    for b in REDIS_BINARIES:
        files.update(_libraries(b))
    for f in sorted(files):
        target = dest / f.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(f), target)     # the file itself, under the name ldd gives
    (dest / "etc/passwd").write_text("root:x:0:0:root:/data:/nonexistent\n")
    (dest / "etc/group").write_text("root:x:0:\n")


def build_stack_images(workdir: Path) -> Path:
    """Build (once) the OCI layout with the images of :data:`STACK_IMAGES`; return its path."""
    workdir = Path(workdir)
    layout, marker = workdir / "oci", workdir / "oci.done"
    recipe = hashlib.sha256((COUNT_CGI + COUNTER_ENTRY).encode()).hexdigest()
    if marker.exists() and layout.is_dir() and marker.read_text().strip() == recipe:
        return layout
    shutil.rmtree(layout, ignore_errors=True)
    work = workdir / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lay = str(layout)
    _run("umoci", "init", "--layout", lay)
    _run("umoci", "new", "--image", f"{lay}:redis-7")
    _run("umoci", "unpack", "--image", f"{lay}:redis-7", str(work / "r"))
    _redis_rootfs(work / "r/rootfs")
    _run("umoci", "repack", "--image", f"{lay}:redis-7", str(work / "r"))
    _config(layout, "redis-7", "--config.entrypoint", "/usr/bin/redis-server",
            "--config.exposedports", "6379/tcp", "--config.workingdir", "/data")
    _run("umoci", "new", "--image", f"{lay}:counter-1")
    _run("umoci", "unpack", "--image", f"{lay}:counter-1", str(work / "c"))
    rootfs = make_busybox_rootfs(work / "c/rootfs")
    (rootfs / "www/cgi-bin").mkdir(parents=True, exist_ok=True)
    for path, text in (("www/cgi-bin/count", COUNT_CGI), ("entry.sh", COUNTER_ENTRY)):
        (rootfs / path).write_text(text)
        os.chmod(rootfs / path, 0o755)
    (rootfs / "www/index.html").write_text("counter: ask /cgi-bin/count\n")
    _run("umoci", "repack", "--image", f"{lay}:counter-1", str(work / "c"))
    _config(layout, "counter-1", "--config.entrypoint", "/entry.sh", "--config.exposedports", "80/tcp")
    _run("umoci", "gc", "--layout", lay)
    shutil.rmtree(work, ignore_errors=True)
    marker.write_text(recipe + "\n")
    return layout
