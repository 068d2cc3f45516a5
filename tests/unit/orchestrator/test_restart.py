"""Restart supervisor decisions: when a task must be replaced, what the policy allows, and when
a delayed replacement may start."""

from __future__ import annotations

from swarm.api.objects_pb2 import NodeStatus
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import (
    ASSIGNED,
    COMPLETE,
    FAILED,
    PENDING,
    READY,
    REJECTED,
    RUNNING,
    SHUTDOWN,
    RestartPolicy,
)
from swarm.orchestrator.restart import restart_cause, should_restart, start_due
from swarm.reconciler.tasks import OLD_TASK_WAIT

from .factories import node, service, task


def test_restart_cause() -> None:
    up, down = node("n1"), node("n1", state=NodeStatus.DOWN)
    drained = node("n1", availability=NodeSpec.DRAIN)
    assert restart_cause(task("t", slot=1, node="n1"), up) is None
    failed = task("t", slot=1, node="n1", state=FAILED)
    failed.status.err = "exit 1"
    assert restart_cause(failed, up) == "task failed: exit 1"
    assert restart_cause(task("t", slot=1, node="n1", state=COMPLETE), up) == "task complete"
    assert restart_cause(task("t", slot=1, node="n1", state=SHUTDOWN), up) == "task shutdown"
    assert restart_cause(task("t", slot=1, node="n1"), down) == "node down"
    assert restart_cause(task("t", slot=1, node="n1"), None) == "node removed"
    assert restart_cause(task("t", slot=1, node="n1", state=ASSIGNED), drained) == "node drained"
    # asked to stop: never restarted
    assert restart_cause(task("t", slot=1, node="n1", state=FAILED, desired=SHUTDOWN), up) is None
    # global tasks on a down or drained node belong to the global orchestrator
    assert restart_cause(task("t", slot=0, node="n1"), down) is None
    assert restart_cause(task("t", slot=0, node="n1", state=REJECTED), up) == "task rejected"
    # not placed yet: no node to lose
    assert restart_cause(task("t", slot=1, state=PENDING), None) is None


def test_conditions() -> None:
    def ok(cond: int, state: int) -> bool:
        t = task("t", slot=1, state=state, svc=service(condition=cond))
        return should_restart(t, [t], 100.0)[0]
    assert ok(RestartPolicy.RESTART_ON_ANY, COMPLETE) and ok(RestartPolicy.RESTART_ON_ANY, FAILED)
    assert not ok(RestartPolicy.RESTART_ON_NONE, FAILED)
    assert ok(RestartPolicy.RESTART_ON_FAILURE, FAILED) and ok(RestartPolicy.RESTART_ON_FAILURE, REJECTED)
    assert not ok(RestartPolicy.RESTART_ON_FAILURE, COMPLETE)
    # node failure: the task is still "running", so on-failure restarts it
    assert ok(RestartPolicy.RESTART_ON_FAILURE, RUNNING)


def test_max_attempts_per_slot_and_spec_version() -> None:
    svc = service(max_attempts=2)
    first = task("a", slot=1, created=1, state=FAILED, desired=SHUTDOWN, svc=svc)
    r1 = task("b", slot=1, created=2, state=FAILED, desired=SHUTDOWN, svc=svc)
    r2 = task("c", slot=1, created=3, state=FAILED, svc=svc)
    assert should_restart(first, [first], 10)[0]
    assert should_restart(r1, [first, r1], 10)[0]
    ok, why = should_restart(r2, [first, r1, r2], 10)
    assert not ok and why == "max attempts (2) reached"
    # a new spec version starts counting again
    v2 = task("d", slot=1, created=4, state=FAILED, version=2, svc=svc)
    assert should_restart(v2, [first, r1, r2, v2], 10)[0]


def test_max_attempts_window() -> None:
    svc = service(max_attempts=1, window=10.0)
    first = task("a", slot=1, created=0, state=FAILED, desired=SHUTDOWN, svc=svc)
    r1 = task("b", slot=1, created=5, state=FAILED, svc=svc)
    assert not should_restart(r1, [first, r1], 12.0)[0]   # the restart at t=5 is inside the window
    assert should_restart(r1, [first, r1], 16.0)[0]       # ... and outside it later


def test_start_due_waits_for_delay_then_old_task() -> None:
    nodes = {"n1": node("n1"), "n2": node("n2", state=NodeStatus.DOWN)}
    new = task("new", slot=1, desired=READY, state=PENDING)
    old = task("old", slot=1, node="n1", desired=SHUTDOWN, state=RUNNING)
    assert start_due(new, [new, old], nodes, 4.0, 5.0) == (False, 5.0)
    assert start_due(new, [new, old], nodes, 6.0, 5.0) == (False, 5.0 + OLD_TASK_WAIT)
    assert start_due(new, [new, old], nodes, 5.0 + OLD_TASK_WAIT, 5.0) == (True, None)  # gave up waiting
    stopped = task("old", slot=1, node="n1", desired=SHUTDOWN, state=SHUTDOWN)
    assert start_due(new, [new, stopped], nodes, 6.0, 5.0) == (True, None)
    on_down = task("old", slot=1, node="n2", desired=SHUTDOWN, state=RUNNING)
    assert start_due(new, [new, on_down], nodes, 6.0, 5.0) == (True, None)
