"""Conformance: the same bundle under our runtime, runc and crun; compare what the container sees.

The bundle is ``runc spec``'s default plus what Docker would add (Docker's 14 capabilities, a
hostname, the probe as the process) and a plain busybox rootfs directory; our runtime gets
that directory as its only (read-only) layer. For every runtime we record pid 1, hostname,
capabilities, no_new_privs, seccomp mode, the mount points, masked/read-only /proc paths,
access to a host device (``/dev/cpu_dma_latency``'s numbers, not in any allow-list) and
whether a memory hog is OOM-killed. Ours must match runc/crun, or be stricter (seccomp: we
load Docker's default profile; the bare runc spec has none).

crun 1.8 refuses hybrid cgroup hosts whose cgroup2 still owns a controller (here hugetlb).
The ``crun_ready`` fixture binds hugetlb to a v1 hierarchy if that is needed and possible and
unmounts it afterwards only when no foreign cgroups live in it (REPORT §4); otherwise the
crun cases are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from node.images.model import ImageConfig
from node.runtime import ContainerConfig, Limits, Runtime
from node.runtime import cgroups as cg
from node.runtime.linux import DOCKER_DEFAULT_CAPS
from tests.support.images import build_bundle_rootfs

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]
PARENT = f"pyswarm-test-{os.getpid()}"
HOSTNAME = "conformance"


def _dev_numbers() -> tuple[int, int]:
    try:
        st = os.stat("/dev/cpu_dma_latency")
        return os.major(st.st_rdev), os.minor(st.st_rdev)
    except OSError:
        return 10, 259


MAJ, MIN = _dev_numbers()
PROBE = f"""
echo pid=$$
echo host=$(hostname)
grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status \\
  | tr -d '\\t' | tr 'A-Z' 'a-z' | sed 's/:/=/'
echo mounts=$(awk '{{print $2}}' /proc/mounts | grep -E '^/(proc|dev|sys)(/(pts|shm|mqueue))?$' \\
  | sort -u | tr '\\n' ,)
(echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo procsys=rw || echo procsys=ro
grep -q ' /proc/timer_list ' /proc/mounts && echo timer_list=masked || echo timer_list=visible
rm -f /tmp/.probe-dev
if mknod /tmp/.probe-dev c {MAJ} {MIN} 2>/dev/null; then
  dd if=/tmp/.probe-dev of=/dev/null bs=4 count=1 2>/dev/null && echo hostdev=ALLOWED || echo hostdev=denied
  rm -f /tmp/.probe-dev
else echo hostdev=denied; fi
"""
HOG = "dd if=/dev/zero of=/dev/null bs=64M count=1"


def parse(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> Path:
    return build_bundle_rootfs(tmp_path_factory.mktemp("conf"))


@pytest.fixture(scope="module")
def crun_ready():
    ctl = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    hug = Path("/sys/fs/cgroup/hugetlb")
    mounted_here = False
    if not shutil.which("crun"):
        yield "crun not installed"
        return
    if ctl.exists() and ctl.read_text().split() and not os.path.ismount(hug):
        if ctl.read_text().split() != ["hugetlb"]:
            yield f"cgroup2 owns controllers {ctl.read_text().split()}; cannot make crun work here"
            return
        try:
            hug.mkdir(exist_ok=True)
            subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", str(hug)], check=True,
                           capture_output=True)
            mounted_here = True
        except (OSError, subprocess.CalledProcessError) as e:
            yield f"could not bind hugetlb to a v1 hierarchy: {e}"
            return
    yield None
    if mounted_here:
        _unmount_hugetlb(hug, ctl)


def _hugetlb_cgroups() -> int:
    for line in Path("/proc/cgroups").read_text().splitlines():
        f = line.split()
        if f and f[0] == "hugetlb":
            return int(f[2])
    return -1


def _unmount_hugetlb(hug: Path, ctl: Path) -> None:
    """Undo the v1 hugetlb mount, only if no foreign cgroups live in it.

    Trap: the kernel destroys an unmounted v1 hierarchy (and hands hugetlb back to cgroup2)
    only if it had no children *at umount time*; cgroups rmdir'd a moment before may still
    be offlining. So wait until only the root cgroup is left, and if hugetlb still did not
    return to cgroup2, mount + unmount once more.
    """
    foreign = [p.name for p in hug.iterdir() if p.is_dir()]
    if foreign:
        print(f"NOTE: v1 hugetlb hierarchy left mounted, foreign cgroups inside: {foreign}")
        return
    for attempt in range(2):
        deadline = time.monotonic() + 5
        while _hugetlb_cgroups() > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        if attempt:
            subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", str(hug)], check=False)
        subprocess.run(["umount", str(hug)], check=False)
        time.sleep(0.2)
        if "hugetlb" in ctl.read_text().split():
            break
    with contextlib.suppress(OSError):
        hug.rmdir()


def _cleanup_parent() -> None:
    """rmdir our parent in every cgroup hierarchy (runc/crun also use cpuset, blkio, ...)."""
    cg.remove_parent(PARENT)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        if " - cgroup " in line or " - cgroup2 " in line:
            d = Path(f[4]) / PARENT
            if d.is_dir():
                for sub in sorted(d.rglob("*"), reverse=True):
                    if sub.is_dir():
                        with contextlib.suppress(OSError):
                            sub.rmdir()
                with contextlib.suppress(OSError):
                    d.rmdir()


def run_oci(tool: str, rootfs: Path, tmp: Path, script: str, memory: int | None = None) -> tuple[int, str]:
    bundle = tmp / f"{tool}-{uuid.uuid4().hex[:8]}"
    bundle.mkdir()
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    c = json.loads((bundle / "config.json").read_text())
    caps = [f"CAP_{n}" for n in DOCKER_DEFAULT_CAPS]
    c["process"].update(args=["/bin/sh", "-c", script], terminal=False,
                        capabilities={"bounding": caps, "effective": caps, "permitted": caps})
    c["root"] = {"path": str(rootfs), "readonly": False}
    c["hostname"] = HOSTNAME
    c["linux"]["cgroupsPath"] = f"/{PARENT}/{bundle.name}"
    if memory:
        c["linux"]["resources"]["memory"] = {"limit": memory, "swap": memory}
    (bundle / "config.json").write_text(json.dumps(c))
    state = tmp / f"{tool}-state"
    p = subprocess.run([tool, "--root", str(state), "run", "-b", str(bundle), bundle.name],
                       capture_output=True, text=True, timeout=60)
    subprocess.run([tool, "--root", str(state), "delete", "-f", bundle.name], capture_output=True)
    return p.returncode, p.stdout + p.stderr


def run_ours(rootfs: Path, tmp: Path, script: str, memory: int | None = None) -> tuple[int, str, bool]:
    rt = Runtime(tmp / "ours", cgroup_parent=PARENT)
    cid = "conf" + uuid.uuid4().hex[:8]
    try:
        rt.create(ContainerConfig(id=cid, image=([rootfs], ImageConfig()), hostname=HOSTNAME,
                                  command=["/bin/sh", "-c", script], limits=Limits(memory_bytes=memory)))
        rt.start(cid)
        code = rt.wait(cid, timeout=60)
        out = "".join(line.data for line in rt.logs(cid))
        return code, out, rt.state(cid).oom_killed
    finally:
        with contextlib.suppress(Exception):
            rt.remove(cid, force=True)
        rt.close()


@pytest.fixture(scope="module")
def results(rootfs, tmp_path_factory, crun_ready):
    tmp = tmp_path_factory.mktemp("conf-run")
    res: dict[str, dict[str, str] | str] = {}
    try:
        code, out, _ = run_ours(rootfs, tmp, PROBE)
        res["ours"] = parse(out) if code == 0 else f"exit {code}: {out}"
        for tool in ("runc", "crun"):
            if not shutil.which(tool):
                res[tool] = f"{tool} not installed"
            elif tool == "crun" and crun_ready:
                res[tool] = crun_ready
            else:
                code, out = run_oci(tool, rootfs, tmp, PROBE)
                res[tool] = parse(out) if code == 0 else f"exit {code}: {out}"
    finally:
        _cleanup_parent()
    return res


@pytest.mark.parametrize("ref", ["runc", "crun"])
def test_probe_matches_or_stricter(results, ref):
    if isinstance(results[ref], str):
        pytest.skip(f"{ref}: {results[ref]}")
    ours, theirs = results["ours"], results[ref]
    assert isinstance(ours, dict), ours
    for key in ("pid", "host", "capeff", "capbnd", "mounts", "procsys", "timer_list", "hostdev"):
        assert ours[key] == theirs[key], (key, ours[key], theirs[key])
    assert ours["pid"] == "1" and ours["host"] == HOSTNAME and ours["hostdev"] == "denied"
    assert int(ours["nonewprivs"]) >= int(theirs["nonewprivs"])
    assert int(ours["seccomp"]) >= int(theirs["seccomp"]) and ours["seccomp"] == "2"


@pytest.mark.parametrize("tool", ["ours", "runc", "crun"])
def test_memory_hog_oom_killed(rootfs, tmp_path, crun_ready, tool):
    try:
        if tool == "ours":
            code, _out, oom = run_ours(rootfs, tmp_path, HOG, memory=16 << 20)
            assert oom
        else:
            if not shutil.which(tool) or (tool == "crun" and crun_ready):
                pytest.skip(f"{tool}: {crun_ready or 'not installed'}")
            code, _out = run_oci(tool, rootfs, tmp_path, HOG, memory=16 << 20)
        assert code == 137
    finally:
        _cleanup_parent()
