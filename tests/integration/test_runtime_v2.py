"""The runtime's cgroup v2 code path, run for real on this hybrid host's cgroup2 hierarchy.

This host binds every resource controller to a v1 hierarchy (its cgroup2 tree at
``/sys/fs/cgroup/unified`` has at most ``hugetlb``), and moving a controller that is in use
is not possible. So the daemon side is told the host is ``v2`` with its root at that tree:
everything the v2 path does that needs no resource controller runs for real here -- the
cgroup directory and ``subtree_control``, ``clone3(CLONE_INTO_CGROUP)`` as the *only* way in
(no v1 ``tasks`` at all), the cgroup namespace, the eBPF device allow-list as the only
device control, ``cgroup.kill`` and removal. The limit files (``memory.max``, ``cpu.max``,
``pids.max``, ``memory.events``) are covered against a fake cgroupfs in
tests/unit/runtime/test_cgroups_fake.py; a pure-v2 host run is still owed (see the README).
"""

from __future__ import annotations

import os
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from node.images import ImageStore
from node.runtime import ContainerConfig, Runtime, Status
from node.runtime import cgroups as cg
from tests.support.registry import registry_fixture

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                       reason="umoci/skopeo/docker-registry not installed"),
    pytest.mark.skipif(cg.mode() != "hybrid", reason="emulates v2 on a hybrid host's cgroup2 tree"),
]

registry = registry_fixture()
PARENT = f"pyswarm-test-v2-{os.getpid()}"
UNIFIED = Path("/sys/fs/cgroup/unified")


@pytest.fixture(scope="module")
def image(registry, tmp_path_factory):
    return ImageStore(tmp_path_factory.mktemp("images")).pull(registry.refs["demo/web:1"])


@pytest.fixture
def rt(tmp_path, monkeypatch):
    monkeypatch.setattr(cg, "ROOT", UNIFIED)
    monkeypatch.setattr(cg, "mode", lambda: "v2")
    runtime = Runtime(tmp_path / "rt", cgroup_parent=PARENT)
    yield runtime
    for c in runtime.list():
        runtime.remove(c.id, force=True)
    runtime.close()
    (UNIFIED / PARENT).rmdir()


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", textwrap.dedent(script)]


def test_v2_path_cgroup_membership_namespace_and_devices(rt, image):
    dev = os.stat("/dev/cpu_dma_latency") if os.path.exists("/dev/cpu_dma_latency") else None
    major, minor = (os.major(dev.st_rdev), os.minor(dev.st_rdev)) if dev else (10, 259)
    c = rt.create(ContainerConfig(id="v2" + uuid.uuid4().hex[:10], image=image, command=sh(f"""
        cat /proc/self/cgroup
        mknod /tmp/d c {major} {minor} && echo mknod=ok
        dd if=/tmp/d of=/dev/null bs=4 count=1 2>/dev/null && echo open=ALLOWED || echo open=denied
        dd if=/dev/zero of=/dev/null bs=4 count=1 2>/dev/null && echo zero=ok
        sleep 30""")))
    d = UNIFIED / PARENT / c.id
    assert d.is_dir() and c.status == Status.CREATED
    rt.start(c.id)
    pid = rt.state(c.id).pid
    # seen from the host: pid 1 was born in the container's cgroup2 directory (clone3), and
    # nowhere else was it moved (v2 mode has no v1 tasks to write: it stays in the shim's)
    host_view = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    assert f"0::/{PARENT}/{c.id}" in host_view, host_view
    assert str(pid) in (d / "cgroup.procs").read_text().split()
    out = ""
    for line in rt.logs(c.id, follow=True):
        out += line.data
        if "zero=" in out:
            break
    assert "0::/" in out.splitlines()                       # cgroup namespace rooted at its own
    assert "mknod=ok" in out and "open=denied" in out and "zero=ok" in out   # eBPF allow-list only
    rt.remove(c.id, force=True)                             # cgroup.kill, then rmdir
    assert not d.exists() and not os.path.exists(f"/proc/{pid}")
