"""One conformance suite for every executor (Nomad's driver test harness, for our seam).

Each test runs against the fake executor and -- as root, when ``node.runtime`` imports and
umoci/skopeo/docker-registry are installed -- the runtime executor with real images from the
local registry fixture. A test task carries both a real command (for the runtime) and FAKE_*
variables (for the fake), so one task definition means the same thing to both.

The tests drive tasks through the agent's task manager, so they check the executor seam the
way the agent uses it, plus the controller contract directly (idempotency, no-op removal).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from node.agent.taskmanager import TaskManager
from node.exec.executor import Executor
from node.exec.fake import FakeExecutor
from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import TaskState as S
from tests.unit.agent.helpers import Recorder, eventually, make_task, run, with_desired

try:
    from node.exec.runtime import RuntimeExecutor
    from node.images import ImageStore
    from node.runtime import Runtime
    from node.runtime import cgroups as cg
    RUNTIME_IMPORT_ERROR = ""
except Exception as e:  # the runtime may be unusable here; the fake still runs
    RUNTIME_IMPORT_ERROR = f"node.runtime not importable: {e!r}"

RUNTIME_SKIP = RUNTIME_IMPORT_ERROR or (
    "needs root" if os.geteuid() != 0 else
    "" if all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")) else
    "umoci/skopeo/docker-registry not installed")
PARENT = f"pyswarm-test-exec-{os.getpid()}"

if not RUNTIME_SKIP:
    from tests.support.registry import registry_fixture
    registry = registry_fixture()


@dataclass
class Env:
    """An executor under test plus what the tests need to know about it."""

    kind: str
    image: str
    missing_image: str
    make: Any                    # () -> Executor, a fresh instance over the same state
    executor: Executor | None = None

    def new(self) -> Executor:
        self.executor = self.make()
        return self.executor


@pytest.fixture(params=["fake", pytest.param("runtime", marks=[
    pytest.mark.root, pytest.mark.skipif(bool(RUNTIME_SKIP), reason=RUNTIME_SKIP or "-")])])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "fake":
        fake = FakeExecutor(images={"demo/web:1"})
        yield Env("fake", "demo/web:1", "demo/nope:1", lambda: fake)
        return
    reg = request.getfixturevalue("registry")
    images = ImageStore(tmp_path / "images")
    runtimes: list[Runtime] = []
    root = Path(tempfile.mkdtemp(prefix="pxc", dir="/tmp"))   # shim sockets need a short path

    def make() -> Executor:
        if runtimes:
            runtimes[-1].close()          # the old "daemon" goes away; shims stay
        runtimes.append(Runtime(root, cgroup_parent=PARENT))
        return RuntimeExecutor(runtimes[-1], images, hostname="node-a", poll=0.05)

    yield Env("runtime", reg.refs["demo/web:1"], f"{reg.address}/demo/nope:1", make)
    rt = runtimes[-1] if runtimes else Runtime(root, cgroup_parent=PARENT)
    for c in rt.list():
        rt.remove(c.id, force=True)
    rt.close()
    cg.remove_parent(PARENT)
    shutil.rmtree(root, ignore_errors=True)


def sh_task(env: Env, tid: str, script: str, fake_env: list[str], **kw: Any) -> Task:
    return make_task(tid, image=kw.pop("image", env.image), command=["/bin/sh", "-c", script],
                     env=fake_env, **kw)


def drive(x: Executor, task: Task, rec: Recorder, restored: bool = False) -> TaskManager:
    tm = TaskManager(task, x.controller(task), rec, restored=restored, retry_delay=0.05, max_temporary=1)
    tm.start()
    return tm


def test_exit_zero_completes(env: Env) -> None:
    async def main() -> None:
        x, rec = env.new(), Recorder()
        task = sh_task(env, "t-ok", "echo hello; exit 0", ["FAKE_RUN_SECONDS=0", "FAKE_LOG=hello"])
        tm = drive(x, task, rec)
        await eventually(lambda: tm.status.state >= S.COMPLETE, timeout=60, what="COMPLETE")
        await tm.close()
        assert rec.states("t-ok") == ["ACCEPTED", "PREPARING", "READY", "STARTING", "RUNNING", "COMPLETE"]
        last = rec.last("t-ok")
        assert (last.message, last.err, last.container.exit_code) == ("finished", "", 0)
        assert last.container.container_id
        lines = [r async for r in x.logs("t-ok")]
        assert [(r.stream, r.data) for r in lines] == [("stdout", b"hello\n")]
        assert lines[0].timestamp.seconds > 0
        await x.close()
    run(main(), timeout=90)


def test_nonzero_exit_fails_with_code(env: Env) -> None:
    async def main() -> None:
        x, rec = env.new(), Recorder()
        tm = drive(x, sh_task(env, "t-3", "exit 3", ["FAKE_RUN_SECONDS=0", "FAKE_EXIT_CODE=3"]), rec)
        await eventually(lambda: tm.status.state >= S.COMPLETE, timeout=60, what="FAILED")
        await tm.close()
        last = rec.last("t-3")
        assert S.Name(last.state) == "FAILED"
        assert (last.err, last.container.exit_code) == ("task: non-zero exit (3)", 3)
        await x.close()
    run(main(), timeout=90)


def test_missing_image_is_rejected_with_registry_message(env: Env) -> None:
    async def main() -> None:
        x, rec = env.new(), Recorder()
        tm = drive(x, sh_task(env, "t-404", "exit 0", [], image=env.missing_image), rec)
        await eventually(lambda: tm.status.state >= S.COMPLETE, timeout=60, what="REJECTED")
        await tm.close()
        last = rec.last("t-404")
        assert S.Name(last.state) == "REJECTED"
        assert last.message == "preparing"
        assert "manifest unknown" in last.err.lower()
        assert await x.controller(tm.task).inspect() is None
        await x.close()
    run(main(), timeout=90)


@pytest.mark.parametrize("trap", [True, False], ids=["stops-on-signal", "killed-after-grace"])
def test_shutdown_stops_within_grace(env: Env, trap: bool) -> None:
    grace = 1.5
    script = ("trap 'exit 0' TERM; while true; do sleep 0.1; done" if trap
              else "trap '' TERM; while true; do sleep 0.1; done")

    async def main() -> None:
        x, rec = env.new(), Recorder()
        fake = [] if trap else ["FAKE_IGNORE_STOP=1"]
        task = sh_task(env, "t-stop", script, fake, stop_grace=grace)
        tm = drive(x, task, rec)
        await eventually(lambda: tm.status.state == S.RUNNING, timeout=60, what="RUNNING")
        await asyncio.sleep(0.3)              # let the shell install its trap
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        tm.update(with_desired(task, S.SHUTDOWN))
        await eventually(lambda: tm.status.state == S.SHUTDOWN, timeout=30, what="SHUTDOWN")
        took = loop.time() - t0
        await tm.close()
        info = await x.controller(task).inspect()
        assert info is not None and info.exited          # stopped but kept until removed
        if trap:
            assert took < grace
        else:
            assert grace * 0.8 <= took < grace + 5
        assert rec.last("t-stop").message == "shutdown"
        await x.controller(task).remove()
        assert await x.controller(task).inspect() is None
        await x.close()
    run(main(), timeout=90)


def test_adopt_after_agent_restart_finds_running_container(env: Env) -> None:
    async def main() -> None:
        x, rec = env.new(), Recorder()
        task = sh_task(env, "t-live", "trap 'exit 0' TERM; while true; do sleep 0.1; done", [])
        tm = drive(x, task, rec)
        await eventually(lambda: tm.status.state == S.RUNNING, timeout=60, what="RUNNING")
        before = await x.controller(task).inspect()
        await tm.close()
        await x.close()
        # the agent restarts: a new executor instance over the same state
        x2, rec2 = env.new(), Recorder()
        restored = Task()
        restored.CopyFrom(task)
        restored.status.CopyFrom(tm.status)
        ctl = x2.controller(restored)
        found = await ctl.adopt()
        assert found is not None and before is not None
        assert found.running and found.container_id == before.container_id
        tm2 = drive(x2, restored, rec2, restored=True)
        await asyncio.sleep(0.3)
        assert tm2.status.state == S.RUNNING and rec2.updates == []   # not started again
        tm2.update(with_desired(restored, S.SHUTDOWN))
        await eventually(lambda: tm2.status.state == S.SHUTDOWN, timeout=30, what="SHUTDOWN")
        await tm2.close()
        await x2.controller(restored).remove()
        await x2.close()
    run(main(), timeout=90)


def test_controller_contract_idempotent_and_noop(env: Env) -> None:
    async def main() -> None:
        x = env.new()
        task = sh_task(env, "t-idem", "exit 0", ["FAKE_RUN_SECONDS=0"])
        ctl = x.controller(task)
        assert await ctl.adopt() is None
        await ctl.shutdown(0.1)             # nothing to stop: no-op
        await ctl.remove()                  # nothing to remove: no-op
        await ctl.prepare()
        first = await ctl.inspect()
        await ctl.prepare()                 # idempotent
        assert first is not None and (await ctl.inspect()) == first
        await ctl.start()
        assert await ctl.wait() == 0
        await ctl.start()                   # already ran: no-op
        assert await ctl.wait() == 0        # returns at once after exit
        assert task.id in await x.task_ids()
        await ctl.remove()
        assert task.id not in await x.task_ids()
        await x.close()
    run(main(), timeout=90)
