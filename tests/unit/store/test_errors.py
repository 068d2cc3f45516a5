"""Error tree: retry decision in the type, messages users and scripts rely on."""

from __future__ import annotations

import pytest
from pysyncobj import FAIL_REASON

from swarm.store import errors as E
from swarm.store import raft


def test_state_results_map_to_types() -> None:
    cases = {"conflict": E.ConflictError, "exists": E.AlreadyExistsError,
             "name_conflict": E.NameConflictError, "not_found": E.NotFoundError,
             "invalid": E.InvalidArgumentError, "internal": E.StoreError}
    for kind, cls in cases.items():
        err = E.error_from_result(("error", kind, "msg", "tasks", "t1", 3))
        assert type(err) is cls
        assert (err.table, err.id, err.current_version) == ("tasks", "t1", 3)
    assert type(E.error_from_result(("garbage",))) is E.StoreError


def test_hierarchy_carries_the_retry_decision() -> None:
    assert issubclass(E.AlreadyExistsError, E.ConflictError)
    assert issubclass(E.NameConflictError, E.ConflictError)
    assert not issubclass(E.ConflictError, E.TemporaryStoreError)
    assert not issubclass(E.NotFoundError, E.TemporaryStoreError)
    for cls in (E.NoLeaderError, E.UnknownOutcomeError, E.QueueFullError):
        assert issubclass(cls, E.TemporaryStoreError)
    assert E.NoLeaderError().retry_after > 0


def test_no_leader_message_is_swarms() -> None:
    assert str(E.NoLeaderError()) == (
        "The swarm does not have a leader. It's possible that too few managers are online. "
        "Make sure more than half of the managers are online.")


@pytest.mark.parametrize("reason,cls,retry", [
    (FAIL_REASON.QUEUE_FULL, E.QueueFullError, False),
    (FAIL_REASON.MISSING_LEADER, E.NoLeaderError, True),
    (FAIL_REASON.NOT_LEADER, E.NoLeaderError, True),
    (FAIL_REASON.LEADER_CHANGED, E.UnknownOutcomeError, True),
    (FAIL_REASON.DISCARDED, E.UnknownOutcomeError, True),
    (FAIL_REASON.UNKNOWN_OUTCOME, E.UnknownOutcomeError, True),
])
def test_pysyncobj_failures(reason: int, cls: type, retry: bool) -> None:
    assert type(raft.failure(reason)) is cls
    assert raft.retryable(reason) is retry
