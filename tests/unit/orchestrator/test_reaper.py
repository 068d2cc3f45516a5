"""Task reaper decisions: removable tasks, the history limit, and which tasks of a slot expire."""

from __future__ import annotations

from swarm.api.objects_pb2 import Cluster
from swarm.api.types_pb2 import ASSIGNED, COMPLETE, FAILED, NEW, ORPHANED, PENDING, REMOVE, RUNNING, SHUTDOWN
from swarm.orchestrator.reaper import expired_in_slot, history_limit, removable

from .factories import service, task


def test_removable() -> None:
    assert removable(task("t", desired=REMOVE, state=SHUTDOWN))
    assert removable(task("t", desired=REMOVE, state=FAILED))
    assert removable(task("t", desired=REMOVE, state=ORPHANED))
    assert removable(task("t", desired=REMOVE, state=PENDING))     # never placed
    assert removable(task("t", desired=REMOVE, state=NEW))
    assert not removable(task("t", desired=REMOVE, state=RUNNING))
    assert not removable(task("t", desired=REMOVE, state=ASSIGNED))
    assert removable(task("t", desired=REMOVE, state=RUNNING), node_exists=False)
    assert not removable(task("t", desired=SHUTDOWN, state=SHUTDOWN))


def test_history_limit() -> None:
    cl = Cluster()
    cl.spec.orchestration.task_history_retention_limit = 3
    assert history_limit(None, service()) == 5
    assert history_limit(cl, service()) == 3
    assert history_limit(cl, service(max_attempts=4)) == 5
    cl.spec.orchestration.task_history_retention_limit = -1
    assert history_limit(cl, service(max_attempts=4)) == -1
    assert history_limit(None, None, task("t", svc=service(max_attempts=1))) == 2


def test_expired_oldest_non_running_first_counting_the_current_task() -> None:
    tasks = [task(f"old{i}", state=FAILED, desired=SHUTDOWN, stamp=float(i)) for i in range(6)]
    tasks.append(task("cur", state=RUNNING, stamp=10.0))
    assert expired_in_slot(tasks, 5) == ["old0", "old1"]
    assert expired_in_slot(tasks, 7) == []
    assert expired_in_slot(tasks, -1) == []
    assert expired_in_slot(tasks, 0) == [f"old{i}" for i in range(6)]   # the running one stays


def test_expired_skips_running_and_wanted_unplaced_tasks() -> None:
    tasks = [task("run-old", state=RUNNING, desired=SHUTDOWN, stamp=0.0),     # still running (down node)
             task("pend", state=PENDING, stamp=1.0),                          # wanted, waiting
             task("dead", state=COMPLETE, desired=SHUTDOWN, stamp=2.0),
             task("never", state=PENDING, desired=SHUTDOWN, stamp=3.0),       # never ran, unwanted
             task("cur", state=RUNNING, stamp=4.0)]
    assert expired_in_slot(tasks, 2) == ["dead", "never"]
