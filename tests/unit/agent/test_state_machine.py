"""The pure decision functions of the task manager, against reference §3.2 (no I/O)."""

from __future__ import annotations

import pytest

from node.agent.taskmanager import Action, Done, Errored, Exited, apply, next_action
from swarm.api.types_pb2 import TaskState as S

A = Action
ALL = [S.NEW, S.PENDING, S.ASSIGNED, S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING,
       S.COMPLETE, S.SHUTDOWN, S.FAILED, S.REJECTED, S.ORPHANED]


@pytest.mark.parametrize("observed,desired,expected", [
    # the normal path towards RUNNING
    (S.NEW, S.RUNNING, A.ACCEPT),
    (S.PENDING, S.RUNNING, A.ACCEPT),
    (S.ASSIGNED, S.RUNNING, A.ACCEPT),
    (S.ACCEPTED, S.RUNNING, A.BEGIN_PREPARE),
    (S.PREPARING, S.RUNNING, A.PREPARE),
    (S.READY, S.RUNNING, A.BEGIN_START),
    (S.STARTING, S.RUNNING, A.START),
    (S.RUNNING, S.RUNNING, A.WAIT),
    (S.COMPLETE, S.RUNNING, A.NOOP),
    (S.FAILED, S.RUNNING, A.NOOP),
    (S.REJECTED, S.RUNNING, A.NOOP),
    # desired READY: prepare, then hold at READY
    (S.ASSIGNED, S.READY, A.ACCEPT),
    (S.ACCEPTED, S.READY, A.BEGIN_PREPARE),
    (S.PREPARING, S.READY, A.PREPARE),
    (S.READY, S.READY, A.NOOP),
    # observed past desired: pause (except shutdown)
    (S.RUNNING, S.READY, A.NOOP),
    (S.STARTING, S.READY, A.NOOP),
    (S.READY, S.ACCEPTED, A.NOOP),
    # jobs: desired COMPLETE lets a running task finish
    (S.RUNNING, S.COMPLETE, A.WAIT),
    (S.READY, S.COMPLETE, A.BEGIN_START),
    # desired ASSIGNED/ACCEPTED (never used by managers, but the rule is total)
    (S.ASSIGNED, S.ASSIGNED, A.NOOP),
    (S.ASSIGNED, S.ACCEPTED, A.ACCEPT),
    (S.ACCEPTED, S.ACCEPTED, A.NOOP),
])
def test_next_action_table(observed: int, desired: int, expected: Action) -> None:
    assert next_action(observed, desired) is expected


@pytest.mark.parametrize("desired", [S.SHUTDOWN, S.FAILED, S.REJECTED, S.REMOVE, S.ORPHANED])
@pytest.mark.parametrize("observed", ALL)
def test_desired_shutdown_or_beyond_stops_unless_terminal(observed: int, desired: int) -> None:
    expected = A.NOOP if observed >= S.COMPLETE else A.SHUTDOWN
    assert next_action(observed, desired) is expected


def test_terminal_states_never_move() -> None:
    for observed in (S.COMPLETE, S.SHUTDOWN, S.FAILED, S.REJECTED, S.ORPHANED):
        for desired in [*ALL, S.REMOVE]:
            assert next_action(observed, desired) is A.NOOP


def test_observed_state_only_moves_forward() -> None:
    for observed in ALL:
        for desired in [*ALL, S.REMOVE]:
            action = next_action(observed, desired)
            if action is A.NOOP:
                continue
            change = apply(observed, "m", action, Exited(0) if action is A.WAIT else Done())
            assert change is not None and change.state > observed, (observed, desired, action)


@pytest.mark.parametrize("action,state,message", [
    (A.ACCEPT, S.ACCEPTED, "accepted"),
    (A.BEGIN_PREPARE, S.PREPARING, "preparing"),
    (A.PREPARE, S.READY, "prepared"),
    (A.BEGIN_START, S.STARTING, "starting"),
    (A.START, S.RUNNING, "started"),
    (A.SHUTDOWN, S.SHUTDOWN, "shutdown"),
])
def test_success_messages(action: Action, state: int, message: str) -> None:
    change = apply(S.ASSIGNED, "old", action, Done())
    assert change is not None
    assert (change.state, change.message, change.err) == (state, message, "")


def test_exit_zero_completes_nonzero_fails_with_code() -> None:
    ok = apply(S.RUNNING, "started", A.WAIT, Exited(0))
    assert ok is not None and (ok.state, ok.message, ok.err, ok.exit_code) == (S.COMPLETE, "finished", "", 0)
    bad = apply(S.RUNNING, "started", A.WAIT, Exited(3))
    assert bad is not None
    assert (bad.state, bad.message, bad.err, bad.exit_code) == (
        S.FAILED, "started", "task: non-zero exit (3)", 3)


@pytest.mark.parametrize("observed,action,expected", [
    (S.PREPARING, A.PREPARE, S.REJECTED),
    (S.ACCEPTED, A.SHUTDOWN, S.REJECTED),
    (S.READY, A.SHUTDOWN, S.REJECTED),
    (S.STARTING, A.START, S.FAILED),
    (S.RUNNING, A.WAIT, S.FAILED),
    (S.RUNNING, A.SHUTDOWN, S.FAILED),
])
def test_fatal_error_rejected_before_starting_failed_after(
        observed: int, action: Action, expected: int) -> None:
    change = apply(observed, "msg", action, Errored("manifest unknown"))
    assert change is not None
    assert (change.state, change.message, change.err) == (expected, "msg", "manifest unknown")


def test_temporary_error_is_no_change() -> None:
    assert apply(S.PREPARING, "preparing", A.PREPARE, Errored("registry down", temporary=True)) is None
