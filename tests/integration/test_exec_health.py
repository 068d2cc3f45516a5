"""Healthchecks through the agent's worker and the real runtime executor (root only).

A task with a healthcheck stays STARTING until its probe succeeds (then RUNNING), as Docker's
swarm executor does; a container that turns unhealthy is stopped and its task FAILED with
``dockerexec: unhealthy container``; ``NONE`` switches the check off; a container that exits
before it is healthy reports its exit, not a healthcheck error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.agent.worker import Worker
from node.exec.runtime import RuntimeExecutor
from node.images import ImageStore
from node.runtime import Runtime
from node.runtime import cgroups as cg
from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Task
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
PARENT = f"pyswarm-test-health-{os.getpid()}"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Runtime, ImageStore, Path]]:
    root = Path(tempfile.mkdtemp(prefix="pxh", dir="/tmp"))
    rt = Runtime(root / "runtime", cgroup_parent=PARENT)
    yield rt, ImageStore(tmp_path / "images"), root
    for c in rt.list():
        rt.remove(c.id, force=True)
    rt.close()
    cg.remove_parent(PARENT)
    shutil.rmtree(root, ignore_errors=True)


def task(registry: Any, tid: str, script: str, test: list[str], retries: int = 1,
         interval: float = 0.1) -> Task:
    t = make_task(tid, image=registry.refs["demo/web:1"], command=["/bin/sh", "-c", script])
    hc = t.spec.container.healthcheck
    hc.test.extend(test)
    hc.interval.FromNanoseconds(int(interval * 1e9))
    hc.timeout.FromNanoseconds(int(5e9))
    hc.retries = retries
    return t


def states(rec: Recorder, tid: str) -> list[int]:
    out: list[int] = []
    for t, st in rec.updates:
        if t == tid and (not out or out[-1] != st.state):
            out.append(st.state)
    return out


def drive(node: Any, t: Task, until: Any, timeout: float = 60) -> tuple[Recorder, Any]:
    """Run ``t`` until its status satisfies ``until``; the recorder and that final status."""
    rt, images, root = node

    async def main() -> tuple[Recorder, Any]:
        x, rec = RuntimeExecutor(rt, images, hostname="node-h", poll=0.05), Recorder()
        w = Worker(root / "agent", x, rec)
        await w.start()
        await w.assign(d.AssignmentsMessage(type=d.AssignmentsMessage.COMPLETE, changes=[
            d.AssignmentChange(assignment=d.Assignment(task=t))]))
        await eventually(lambda: until(w.managers[t.id].status), timeout=timeout, what="task state")
        final = w.managers[t.id].status
        await w.stop()
        await x.close()
        return rec, final

    return run(main(), timeout=timeout + 30)


def test_task_is_starting_until_healthy_then_running(node: Any, registry: Any) -> None:
    # the probe fails until the container made /tmp/ready (after its 3rd check of the file)
    t = task(registry, "h1", "i=0; while [ ! -f /tmp/go ]; do i=$((i+1)); sleep 0.1; done; "
             "touch /tmp/ready; sleep 300", ["CMD-SHELL", "touch /tmp/go; test -f /tmp/ready"], retries=50)
    rec, _ = drive(node, t, lambda st: st.state == S.RUNNING)
    seen = states(rec, "h1")
    assert seen[-2:] == [S.STARTING, S.RUNNING], seen          # RUNNING only once healthy
    health = {S.Name(st.state): st.container.health for tid, st in rec.updates if tid == "h1"}
    assert health["RUNNING"] == "healthy", health


def test_unhealthy_container_is_stopped_and_the_task_fails(node: Any, registry: Any) -> None:
    t = task(registry, "h2", "touch /tmp/ok; sleep 300",
             ["CMD-SHELL", "if [ -f /tmp/ok ]; then rm /tmp/ok; exit 0; else exit 1; fi"], retries=2)
    rec, st = drive(node, t, lambda st: st.state == S.FAILED)
    assert st.err == "dockerexec: unhealthy container"
    assert S.RUNNING in states(rec, "h2")                       # healthy once, then unhealthy
    rt = node[0]
    assert all(str(c.status) == "exited" for c in rt.list())    # the container was stopped


def test_never_healthy_fails_at_start(node: Any, registry: Any) -> None:
    t = task(registry, "h3", "sleep 300", ["CMD", "false"], retries=2)
    rec, st = drive(node, t, lambda st: st.state == S.FAILED)
    assert st.err == "dockerexec: unhealthy container"
    assert S.RUNNING not in states(rec, "h3")


def test_none_disables_the_check_and_an_early_exit_is_an_exit(node: Any, registry: Any) -> None:
    t = task(registry, "h4", "sleep 300", ["NONE"])
    _, st = drive(node, t, lambda st: st.state == S.RUNNING)
    assert st.state == S.RUNNING and st.container.health == ""  # no healthcheck, no health
    t = task(registry, "h5", "exit 3", ["CMD", "false"], retries=100, interval=5)
    _, st = drive(node, t, lambda st: st.state == S.FAILED)
    assert "non-zero exit (3)" in st.err
