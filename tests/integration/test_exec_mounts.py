"""Secrets, configs, tmpfs, binds and volumes through the agent's worker and the real runtime
executor: the container reads what the task's ContainerSpec asked for.

Root only, with umoci/skopeo/docker-registry for the local registry of test images. Every
container, cgroup and directory made here is removed afterwards.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.agent.worker import Worker
from node.exec.runtime import RuntimeExecutor
from node.images import ImageStore
from node.runtime import Runtime
from node.runtime import cgroups as cg
from node.volumes import VolumeStore
from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Config, Secret, Task
from swarm.api.types_pb2 import Mount as M
from swarm.api.types_pb2 import TaskState as S
from tests.support.registry import registry_fixture
from tests.unit.agent.helpers import Recorder, eventually, make_task, run

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                       reason="umoci/skopeo/docker-registry not installed"),
]

registry = registry_fixture()
PARENT = f"pyswarm-test-execm-{os.getpid()}"


class Node:
    """A node's data root: runtime, volumes, agent dir (short path: shim sockets)."""

    def __init__(self, root: Path, images: ImageStore) -> None:
        self.root, self.images = root, images
        self.volumes = VolumeStore(root / "volumes")
        self.rt = Runtime(root / "runtime", cgroup_parent=PARENT, volumes=self.volumes)

    def executor(self) -> RuntimeExecutor:
        return RuntimeExecutor(self.rt, self.images, hostname="node-m", poll=0.05)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    root = Path(tempfile.mkdtemp(prefix="pxm", dir="/tmp"))
    n = Node(root, ImageStore(tmp_path / "images"))
    yield n
    for c in n.rt.list():
        n.rt.remove(c.id, force=True)
    n.rt.close()
    cg.remove_parent(PARENT)
    shutil.rmtree(root, ignore_errors=True)


def change(**item: Any) -> d.AssignmentChange:
    return d.AssignmentChange(assignment=d.Assignment(**item))


def complete(*changes: d.AssignmentChange) -> d.AssignmentsMessage:
    return d.AssignmentsMessage(type=d.AssignmentsMessage.COMPLETE, changes=list(changes))


async def out_of(x: RuntimeExecutor, tid: str, stream: str = "stdout") -> str:
    return "".join([r.data.decode() async for r in x.logs(tid) if r.stream == stream])


def test_container_reads_secret_config_tmpfs_bind_and_volume(node: Node, registry: Any,
                                                             tmp_path: Path) -> None:
    value = b"pyswarm-secret-" + uuid.uuid4().hex.encode()
    src = tmp_path / "bind"
    src.mkdir()
    (src / "in.txt").write_text("from host\n")
    script = """
        md5sum < /run/secrets/db | cut -d' ' -f1
        stat -c '%a %u %g' /run/secrets/db /etc/app.conf
        cat /etc/app.conf
        cat /in/in.txt
        echo x > /in/new 2>/dev/null && echo bind=rw || echo bind=ro
        stat -c 'mode=%a' /scratch
        grep ' /scratch ' /proc/mounts | cut -d' ' -f3,4
        echo kept > /data/x && echo volume=ok
        """
    t = make_task("t1", image=registry.refs["demo/web:1"], command=["/bin/sh", "-c", script])
    c = t.spec.container
    ref = c.secrets.add(secret_id="sid1", secret_name="db")
    ref.file.name, ref.file.uid, ref.file.gid, ref.file.mode = "db", "1000", "1000", 0o400
    cref = c.configs.add(config_id="cid1", config_name="app")
    cref.file.name, cref.file.mode = "/etc/app.conf", 0o444
    m = c.mounts.add(type=M.BIND, source=str(src), target="/in", readonly=True)
    m = c.mounts.add(type=M.TMPFS, target="/scratch")
    m.tmpfs_options.size_bytes, m.tmpfs_options.mode = 1 << 20, 0o700
    m = c.mounts.add(type=M.VOLUME, source="appdata", target="/data")
    m.volume_options.labels["app"] = "a"
    secret, config = Secret(id="sid1"), Config(id="cid1")
    secret.spec.data, config.spec.data = value, b"k=v\n"

    async def main() -> None:
        x, rec = node.executor(), Recorder()
        w = Worker(node.root / "agent", x, rec)
        await w.start()
        await w.assign(complete(change(secret=secret), change(config=config), change(task=t)))
        await eventually(lambda: w.managers["t1"].status.state == S.COMPLETE, timeout=60)
        out = (await out_of(x, "t1")).splitlines()
        err = await out_of(x, "t1", "stderr")
        assert out[0] == hashlib.md5(value).hexdigest(), err      # the value itself stays out of logs
        assert out[1:3] == ["400 1000 1000", "444 0 0"]
        assert out[3:6] == ["k=v", "from host", "bind=ro"]
        assert out[6] == "mode=700"
        assert out[7].split()[0] == "tmpfs" and "size=1024k" in out[7]
        assert out[8] == "volume=ok"
        assert not (src / "new").exists()
        assert node.volumes.get("appdata").labels == {"app": "a"}
        assert (Path(node.volumes.get("appdata").mountpoint) / "x").read_text() == "kept\n"
        await w.stop()
        await x.close()

    run(main(), timeout=120)
    for path in node.root.rglob("*"):                     # never on disk, anywhere in the data root
        if path.is_file() and not path.is_symlink():
            assert value not in path.read_bytes(), path


def _rejected(node: Node, t: Task, *items: d.AssignmentChange) -> str:
    async def main() -> str:
        x, rec = node.executor(), Recorder()
        w = Worker(node.root / "agent", x, rec)
        await w.start()
        await w.assign(complete(*items, change(task=t)))
        await eventually(lambda: w.managers[t.id].status.state == S.REJECTED, timeout=60)
        err = w.managers[t.id].status.err
        assert node.rt.list() == []                        # nothing was created
        await w.stop()
        await x.close()
        return err

    return run(main(), timeout=120)


def test_missing_bind_source_rejects_with_dockers_message(node: Node, registry: Any) -> None:
    t = make_task("t2", image=registry.refs["demo/web:1"], command=["true"])
    t.spec.container.mounts.add(type=M.BIND, source="/nonexistent/pyswarm", target="/x")
    assert _rejected(node, t) == \
        'invalid mount config for type "bind": bind source path does not exist: /nonexistent/pyswarm'


def test_bind_of_the_data_root_is_refused(node: Node, registry: Any) -> None:
    t = make_task("t3", image=registry.refs["demo/web:1"], command=["true"])
    t.spec.container.mounts.add(type=M.BIND, source=str(node.root / "runtime"), target="/x")
    assert "is inside the node's data root" in _rejected(node, t)


def test_a_secret_the_node_does_not_hold_rejects_the_task(node: Node, registry: Any) -> None:
    t = make_task("t4", image=registry.refs["demo/web:1"], command=["true"])
    t.spec.container.secrets.add(secret_id="nosuch", secret_name="db")
    assert _rejected(node, t) == "unable to get secret from secret store: secret nosuch not found"
