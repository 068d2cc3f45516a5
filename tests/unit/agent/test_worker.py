"""The worker with the fake executor: assignment sets, removal, restart re-adoption."""

from __future__ import annotations

from pathlib import Path

from node.agent.taskdb import TaskDB
from node.agent.worker import Worker
from node.exec.fake import FakeExecutor
from swarm.api.types_pb2 import TaskState as S
from swarm.api.types_pb2 import TaskStatus
from tests.unit.agent.helpers import (
    Recorder,
    complete,
    eventually,
    incremental,
    make_task,
    run,
    with_desired,
)


def running(w: Worker, *ids: str) -> bool:
    return all(tid in w.managers and w.managers[tid].status.state == S.RUNNING for tid in ids)


def test_complete_set_starts_tasks_and_removes_the_rest(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec, retry_delay=0.01)
        await w.start()
        t1, t2, t3 = make_task("t1"), make_task("t2", slot=2), make_task("t3", slot=3)
        await w.assign(complete(t1, t2, t3))
        await eventually(lambda: running(w, "t1", "t2", "t3"))
        await w.assign(complete(t2))
        await w.idle()
        assert set(w.managers) == {"t2"}
        assert set(x.containers) == {"t2"}
        assert ("t1", "remove") in x.calls and ("t3", "remove") in x.calls
        assert [t.id for t in TaskDB.open(tmp_path).tasks()] == ["t2"]
        await w.stop()
    run(main())


def test_incremental_remove_and_update(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec, retry_delay=0.01)
        await w.start()
        t1, t2 = make_task("t1"), make_task("t2", slot=2)
        await w.assign(complete())
        await w.assign(incremental(updates=[t1, t2]))
        await eventually(lambda: running(w, "t1", "t2"))
        # desired SHUTDOWN: stopped, container kept until the manager deletes the task
        await w.assign(incremental(updates=[with_desired(t1, S.SHUTDOWN)]))
        await eventually(lambda: w.managers["t1"].status.state == S.SHUTDOWN)
        assert x.containers["t1"].state == "exited"
        await w.assign(incremental(removes=[t1]))
        await w.idle()
        assert "t1" not in x.containers and "t1" not in w.managers
        assert running(w, "t2")
        # an incremental set does not touch tasks it does not mention
        await w.assign(incremental(updates=[make_task("t3", slot=3)]))
        await eventually(lambda: running(w, "t2", "t3"))
        await w.stop()
    run(main())


def test_remove_of_running_task_stops_it(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec)
        await w.start()
        t1 = make_task("t1")
        await w.assign(complete(t1))
        await eventually(lambda: running(w, "t1"))
        c = x.containers["t1"]
        await w.assign(incremental(removes=[t1]))
        await w.idle()
        assert c.state == "exited" and "t1" not in x.containers
        await w.stop()
    run(main())


def test_desired_ready_is_held(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec)
        await w.start()
        t1 = make_task("t1", desired=S.READY)
        await w.assign(complete(t1))
        await w.idle()
        assert w.managers["t1"].status.state == S.READY
        await w.assign(incremental(updates=[with_desired(t1, S.RUNNING)]))
        await eventually(lambda: running(w, "t1"))
        await w.stop()
    run(main())


def test_restart_readopts_from_task_db(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec)
        await w.start()
        t1, t2, t3 = make_task("t1"), make_task("t2", slot=2), make_task("t3", slot=3, desired=S.READY)
        await w.assign(complete(t1, t2, t3))
        await eventually(lambda: running(w, "t1", "t2"))
        await w.idle()
        await w.stop()                                  # live restore: containers stay
        assert x.containers["t1"].state == "running"
        ids = {tid: c.id for tid, c in x.containers.items()}
        x.kill_behind_our_back("t2", 0)                 # t2 ends while the agent is down
        x.calls.clear()

        rec2 = Recorder()
        w2 = Worker(tmp_path, x, rec2)
        await w2.start()                                # before any session
        await eventually(lambda: w2.managers["t2"].status.state == S.COMPLETE)
        await w2.idle()
        assert w2.managers["t1"].status.state == S.RUNNING
        assert w2.managers["t3"].status.state == S.READY
        assert {tid: c.id for tid, c in x.containers.items()} == ids          # nothing new
        assert not [c for c in x.calls if c[1] in ("prepare", "start")]
        # reconnect: the first COMPLETE set re-reports every known task
        rec2.updates.clear()
        await w2.assign(complete(t1, t2, t3))
        reported = {tid: s.state for tid, s in rec2.updates}
        assert reported == {"t1": S.RUNNING, "t2": S.COMPLETE, "t3": S.READY}
        await w2.stop()
    run(main())


def test_status_is_persisted_and_manager_status_ignored_for_known_tasks(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec)
        await w.start()
        t1 = make_task("t1")
        await w.assign(complete(t1))
        await eventually(lambda: running(w, "t1"))
        stale = make_task("t1")          # the manager still thinks ASSIGNED
        await w.assign(complete(stale))
        assert w.managers["t1"].status.state == S.RUNNING
        stored = TaskDB.open(tmp_path).get("t1")
        assert stored is not None and stored.status.state == S.RUNNING
        await w.stop()
    run(main())


def test_orphaned_containers_are_removed_on_complete(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path / "a", x, rec)
        await w.start()
        await w.assign(complete(make_task("old")))
        await eventually(lambda: running(w, "old"))
        await w.stop()
        # a new agent state dir (e.g. the node left and rejoined): the container is nobody's
        w2 = Worker(tmp_path / "b", x, rec)
        await w2.start()
        await w2.assign(complete(make_task("new")))
        await w2.idle()
        assert set(x.containers) == {"new"}
        await w2.stop()
    run(main())


def test_taskdb_roundtrip(tmp_path: Path) -> None:
    db = TaskDB.open(tmp_path)
    t = make_task("t1")
    db.put_task(t)
    db.put_status("t1", TaskStatus(state=S.RUNNING, message="started"))
    db.put_task(with_desired(t, S.SHUTDOWN))           # keeps our status
    db.close()
    db = TaskDB.open(tmp_path)
    got = db.get("t1")
    assert got is not None
    assert (got.desired_state, got.status.state, got.status.message) == (S.SHUTDOWN, S.RUNNING, "started")
    db.delete("t1")
    assert db.tasks() == [] and db.get("t1") is None
    assert (tmp_path / "worker" / "tasks.db").exists()


def test_remove_of_unknown_task_removes_its_leftover_container(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path / "a", x, rec)
        await w.start()
        t1 = make_task("t1")
        await w.assign(complete(t1))
        await eventually(lambda: running(w, "t1"))
        await w.stop()
        w2 = Worker(tmp_path / "b", x, rec)       # lost its task DB
        await w2.start()
        await w2.assign(incremental(removes=[t1]))
        await w2.idle()
        assert x.containers == {}
        await w2.stop()
    run(main())
