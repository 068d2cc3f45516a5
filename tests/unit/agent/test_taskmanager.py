"""The task manager driving the fake executor through §3.2 (asyncio only, no threads)."""

from __future__ import annotations

import asyncio

from node.agent.taskmanager import TaskManager
from node.exec.fake import Behavior, FakeExecutor
from swarm.api.types_pb2 import TaskState as S
from tests.unit.agent.helpers import Recorder, eventually, make_task, run, with_desired

PATH = ["ACCEPTED", "PREPARING", "READY", "STARTING", "RUNNING"]


def manager(x: FakeExecutor, task, rec: Recorder, **kw) -> TaskManager:  # type: ignore[no-untyped-def]
    tm = TaskManager(task, x.controller(task), rec, retry_delay=0.01, **kw)
    tm.start()
    return tm


def test_runs_to_complete_with_messages_and_timestamps() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        tm = manager(x, make_task("t1", env=["FAKE_RUN_SECONDS=0.05"]), rec)
        await eventually(lambda: tm.status.state == S.COMPLETE)
        await tm.close()
        assert rec.states("t1") == [*PATH, "COMPLETE"]
        msgs = [s.message for _, s in rec.updates]
        assert msgs == ["accepted", "preparing", "prepared", "starting", "started", "finished"]
        stamps = [s.timestamp.ToNanoseconds() for _, s in rec.updates]
        assert all(stamps) and stamps == sorted(stamps)
        last = rec.last("t1")
        assert last.err == "" and last.container.exit_code == 0
        assert last.container.container_id == x.containers["t1"].id
        running = next(s for _, s in rec.updates if s.state == S.RUNNING)
        assert running.container.pid == x.containers["t1"].pid
    run(main())


def test_nonzero_exit_fails_with_code() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        tm = manager(x, make_task("t1", env=["FAKE_RUN_SECONDS=0", "FAKE_EXIT_CODE=3"]), rec)
        await eventually(lambda: tm.status.state == S.FAILED)
        await tm.close()
        last = rec.last("t1")
        assert rec.states("t1") == [*PATH, "FAILED"]
        assert (last.err, last.message, last.container.exit_code) == ("task: non-zero exit (3)", "started", 3)
    run(main())


def test_desired_ready_holds_then_starts() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        task = make_task("t1", desired=S.READY)
        tm = manager(x, task, rec)
        await eventually(lambda: tm.status.state == S.READY)
        await asyncio.sleep(0.05)
        assert tm.status.state == S.READY and x.containers["t1"].state == "created"
        assert ("t1", "start") not in x.calls
        tm.update(with_desired(task, S.RUNNING))
        await eventually(lambda: tm.status.state == S.RUNNING)
        await tm.close()
        assert rec.states("t1") == PATH
    run(main())


def test_shutdown_interrupts_wait_and_stops_container() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        task = make_task("t1")
        tm = manager(x, task, rec)
        await eventually(lambda: tm.status.state == S.RUNNING)
        tm.update(with_desired(task, S.SHUTDOWN))
        await eventually(lambda: tm.status.state == S.SHUTDOWN)
        assert x.containers["t1"].state == "exited"      # stopped, not removed
        assert rec.last("t1").message == "shutdown"
        await tm.close()
    run(main())


def test_shutdown_before_start_goes_straight_to_shutdown() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        tm = manager(x, make_task("t1", desired=S.SHUTDOWN), rec)
        await eventually(lambda: tm.status.state == S.SHUTDOWN)
        await tm.close()
        assert rec.states("t1") == ["SHUTDOWN"]
        assert "t1" not in x.containers
    run(main())


def test_shutdown_interrupts_a_slow_prepare() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        task = make_task("t1", env=["FAKE_PREPARE_SECONDS=30"])
        tm = manager(x, task, rec)
        await eventually(lambda: tm.status.state == S.PREPARING)
        tm.update(with_desired(task, S.REMOVE))
        await eventually(lambda: tm.status.state == S.SHUTDOWN, timeout=2)
        await tm.close()
    run(main())


def test_missing_image_is_rejected_with_registry_message() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(images={"demo/web:1"}), Recorder()
        tm = manager(x, make_task("t1", image="demo/nope:1"), rec)
        await eventually(lambda: tm.status.state == S.REJECTED)
        await tm.close()
        last = rec.last("t1")
        assert rec.states("t1") == ["ACCEPTED", "PREPARING", "REJECTED"]
        assert last.message == "preparing" and "manifest unknown" in last.err
    run(main())


def test_start_error_fails() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        tm = manager(x, make_task("t1", env=["FAKE_START_ERROR=exec: no such file"]), rec)
        await eventually(lambda: tm.status.state == S.FAILED)
        await tm.close()
        assert rec.states("t1") == ["ACCEPTED", "PREPARING", "READY", "STARTING", "FAILED"]
        assert rec.last("t1").err == "exec: no such file"
    run(main())


def test_temporary_errors_are_retried_then_succeed() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        tm = manager(x, make_task("t1", env=["FAKE_PREPARE_TEMPFAIL=2"]), rec)
        await eventually(lambda: tm.status.state == S.RUNNING)
        await tm.close()
        assert x.calls.count(("t1", "prepare")) == 3
        preparing = [s for _, s in rec.updates if s.state == S.PREPARING]
        assert any("registry unavailable" in s.err for s in preparing)   # reported while retrying
        assert rec.last("t1").err == ""
    run(main())


def test_temporary_errors_give_up_after_max() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(script=lambda t: Behavior(prepare_temporary_failures=100)), Recorder()
        tm = manager(x, make_task("t1"), rec, max_temporary=2)
        await eventually(lambda: tm.status.state == S.REJECTED)
        await tm.close()
        assert x.calls.count(("t1", "prepare")) == 3
        assert "registry unavailable" in rec.last("t1").err
    run(main())


def test_process_dying_behind_our_back_fails_task() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        tm = manager(x, make_task("t1"), rec)
        await eventually(lambda: tm.status.state == S.RUNNING)
        x.kill_behind_our_back("t1", 137)
        await eventually(lambda: tm.status.state == S.FAILED)
        await tm.close()
        assert rec.last("t1").err == "task: non-zero exit (137)"
    run(main())


def test_ignored_stop_signal_is_killed_after_grace() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        task = make_task("t1", env=["FAKE_IGNORE_STOP=1"], stop_grace=0.2)
        tm = manager(x, task, rec)
        await eventually(lambda: tm.status.state == S.RUNNING)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        tm.update(with_desired(task, S.SHUTDOWN))
        await eventually(lambda: tm.status.state == S.SHUTDOWN)
        assert loop.time() - t0 >= 0.15
        assert x.containers["t1"].exit_code == 137
        await tm.close()
    run(main())


def test_restored_running_task_is_adopted_not_restarted() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        tm = manager(x, make_task("t1"), rec)
        await eventually(lambda: tm.status.state == S.RUNNING)
        await tm.close()
        x.calls.clear()
        again = make_task("t1")
        again.status.CopyFrom(tm.status)
        tm2 = manager(x, again, rec, restored=True)
        await asyncio.sleep(0.05)
        assert tm2.status.state == S.RUNNING
        assert [op for _, op in x.calls] == ["adopt", "wait"]
        x.kill_behind_our_back("t1", 0)
        await eventually(lambda: tm2.status.state == S.COMPLETE)
        await tm2.close()
    run(main())


def test_restored_ready_task_without_container_is_prepared_again() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        task = make_task("t1", desired=S.READY)
        task.status.state = S.READY
        tm = manager(x, task, rec, restored=True)
        await eventually(lambda: "t1" in x.containers)
        assert tm.status.state == S.READY
        tm.update(with_desired(task, S.RUNNING))
        await eventually(lambda: tm.status.state == S.RUNNING)
        await tm.close()
    run(main())


def test_restored_running_task_whose_container_vanished_fails() -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        task = make_task("t1")
        task.status.state = S.RUNNING
        tm = manager(x, task, rec, restored=True)
        await eventually(lambda: tm.status.state == S.FAILED)
        await tm.close()
        assert "gone" in rec.last("t1").err
    run(main())
