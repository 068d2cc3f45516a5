"""The agent's worker over the real runtime executor: spec merging, limits, logs, live restore.

Root only, with umoci/skopeo/docker-registry for the local registry of test images. Every
container, cgroup and directory made here is removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.agent.worker import Worker
from node.exec.containerspec import container_id
from node.exec.executor import LABEL_TASK_NAME
from node.exec.runtime import RuntimeExecutor
from node.images import ImageStore
from node.runtime import Runtime
from node.runtime import cgroups as cg
from swarm.api.types_pb2 import TaskState as S
from tests.support.registry import registry_fixture
from tests.unit.agent.helpers import Recorder, complete, eventually, incremental, make_task, run

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                       reason="umoci/skopeo/docker-registry not installed"),
]

registry = registry_fixture()
PARENT = f"pyswarm-test-execw-{os.getpid()}"
LOOP = "trap 'exit 0' TERM; while true; do sleep 0.1; done"


class Node:
    """One node's executor state (runtime root, image store, agent data dir) across restarts."""

    def __init__(self, root: Path, images: ImageStore) -> None:
        self.root, self.images = root, images
        self.rt: Runtime | None = None

    def executor(self) -> RuntimeExecutor:
        if self.rt is not None:
            self.rt.close()            # the old daemon's zygote goes; shims stay
        self.rt = Runtime(self.root / "rt", cgroup_parent=PARENT)
        return RuntimeExecutor(self.rt, self.images, hostname="node-a", poll=0.05)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    root = Path(tempfile.mkdtemp(prefix="pxw", dir="/tmp"))     # shim sockets need short paths
    n = Node(root, ImageStore(tmp_path / "images"))
    yield n
    rt = n.rt or Runtime(root / "rt", cgroup_parent=PARENT)
    for c in rt.list():
        rt.remove(c.id, force=True)
    rt.close()
    cg.remove_parent(PARENT)
    shutil.rmtree(root, ignore_errors=True)


async def text_logs(x: RuntimeExecutor, tid: str) -> str:
    return "".join([r.data.decode() async for r in x.logs(tid)])


def test_spec_is_merged_with_the_image_per_docker(node: Node, registry: Any) -> None:
    async def main() -> None:
        x, rec = node.executor(), Recorder()
        w = Worker(node.root / "agent", x, rec)
        await w.start()
        script = 'echo "host=$(hostname) pwd=$(pwd) uid=$(id -u) A=$A PATH=$PATH"; exit 0'
        t1 = make_task("t1", image=registry.refs["demo/web:1"], command=["/bin/sh", "-c", script],
                       env=["A=task"])
        t1.spec.container.dir, t1.spec.container.user = "/tmp", "nobody"
        t2 = make_task("t2", slot=2, image=registry.refs["demo/web:1"], command=["/bin/sh", "-c", "hostname"])
        t2.spec.container.hostname = "{{.Service.Name}}-{{.Task.Slot}}"
        await w.assign(complete(t1, t2))
        await eventually(lambda: all(w.managers[t].status.state == S.COMPLETE for t in ("t1", "t2")),
                         timeout=60)
        out = await text_logs(x, "t1")
        assert out == (f"host={container_id('t1')[:12]} pwd=/tmp uid=65534 A=task "
                       "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n")              # image env kept
        assert (await text_logs(x, "t2")).strip() == "web-2"
        state = next(s for s in node.rt.list() if s.id == container_id("t1"))  # type: ignore[union-attr]
        assert state.labels[LABEL_TASK_NAME] == "web.1.t1"
        await w.stop()
        await x.close()
    run(main(), timeout=120)


def test_limits_reach_the_cgroup(node: Node, registry: Any) -> None:
    async def main() -> None:
        x, rec = node.executor(), Recorder()
        w = Worker(node.root / "agent", x, rec)
        await w.start()
        t = make_task("t1", image=registry.refs["demo/web:1"], command=["/bin/sh", "-c", LOOP])
        t.spec.resources.limits.pids = 42
        t.spec.resources.limits.memory_bytes = 64 << 20
        await w.assign(complete(t))
        await eventually(lambda: w.managers["t1"].status.state == S.RUNNING, timeout=60)
        grp = cg.Cgroup(PARENT, container_id("t1"))
        pids = (grp.dirs["unified"] if grp.mode == "v2" else grp.ctrl["pids"]) / "pids.max"
        assert pids.read_text().strip() == "42"
        await w.assign(incremental(removes=[t]))
        await w.idle()
        assert node.rt.list() == []  # type: ignore[union-attr]
        await w.stop()
        await x.close()
    run(main(), timeout=120)


def test_worker_restart_readopts_running_container_and_sees_its_exit(node: Node, registry: Any) -> None:
    async def main() -> None:
        x, rec = node.executor(), Recorder()
        w = Worker(node.root / "agent", x, rec)
        await w.start()
        t = make_task("t1", image=registry.refs["demo/web:1"],
                      command=["/bin/sh", "-c", "echo up; " + LOOP])
        await w.assign(complete(t))
        await eventually(lambda: w.managers["t1"].status.state == S.RUNNING, timeout=60)
        assert node.rt is not None
        before = node.rt.state(container_id("t1"))
        await w.stop()
        await x.close()

        x2, rec2 = node.executor(), Recorder()          # "swarmd restarted"
        w2 = Worker(node.root / "agent", x2, rec2)
        await w2.start()
        await asyncio.sleep(0.5)
        assert w2.managers["t1"].status.state == S.RUNNING
        after = node.rt.state(container_id("t1"))
        assert (after.pid, after.started_at) == (before.pid, before.started_at)   # same process
        assert [s.id for s in node.rt.list()] == [container_id("t1")]
        await w2.assign(complete(t))                      # reconnect: status re-reported
        assert rec2.states("t1") == ["RUNNING"]
        lines = []
        async for r in x2.logs("t1", follow=True):        # follow ends when the container exits
            lines.append(r.data)
            if len(lines) == 1:
                node.rt.kill(container_id("t1"), "SIGKILL")
        assert lines == [b"up\n"]
        await eventually(lambda: w2.managers["t1"].status.state == S.FAILED, timeout=30)
        last = rec2.last("t1")
        assert (last.err, last.container.exit_code) == ("task: non-zero exit (137)", 137)
        await w2.stop()
        await x2.close()
    run(main(), timeout=120)
