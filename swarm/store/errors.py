"""Errors raised by the replicated store.

The retry decision lives in the type: a caller (gRPC interceptor, reconciler) looks only at the
class, never at the message.

    StoreError                       permanent unless a subclass says otherwise
    ├── InvalidArgumentError         malformed action, unknown table, batch too large
    ├── ConflictError                optimistic-concurrency failure: re-read, re-decide, re-propose
    │   ├── AlreadyExistsError       create of an id that exists
    │   └── NameConflictError        a unique key (e.g. service name) is owned by another object
    ├── NotFoundError                update/delete of a missing id
    ├── NotLeaderError               leader-only operation (membership, transfer) on a follower
    ├── MembershipError              membership change refused (would lose quorum, denied, ...)
    └── TemporaryStoreError          retry the same request after ``retry_after`` seconds
        ├── NoLeaderError            no leader / no quorum: the write was NOT applied
        ├── UnknownOutcomeError      leader changed, entry discarded, timed out: it MAY have applied
        └── QueueFullError           pysyncobj's command queue is full: NOT applied

``ConflictError`` for a version mismatch always carries "update out of sequence" (the phrase
Docker users and scripts know from swarmkit). An ``UnknownOutcomeError`` is safe to retry only for
writes that are conditional (expected versions, create) or idempotent; ``Store.apply`` already
re-submits with the same proposal id, which the state machine de-duplicates.
"""

from __future__ import annotations

from typing import Any

NO_LEADER_MESSAGE = (
    "The swarm does not have a leader. It's possible that too few managers are online. "
    "Make sure more than half of the managers are online."
)


class StoreError(Exception):
    """Base class of every store error. Permanent unless a subclass says otherwise."""

    def __init__(self, message: str, *, table: str | None = None, id: str | None = None,
                 current_version: int | None = None) -> None:
        super().__init__(message)
        self.table = table
        self.id = id
        self.current_version = current_version


class InvalidArgumentError(StoreError):
    """The request itself is wrong (bad op, unknown table, wrong types, too large)."""


class ConflictError(StoreError):
    """Optimistic concurrency failure; the message names table, id and current version."""


class AlreadyExistsError(ConflictError):
    """``create`` of an id that already exists."""


class NameConflictError(ConflictError):
    """A unique index key is already used by another object of the same table."""


class NotFoundError(StoreError):
    """``update``/``delete`` of an id that does not exist."""


class NotLeaderError(StoreError):
    """A leader-only operation was called on a follower. ``leader`` is the current leader, if known."""

    def __init__(self, message: str, *, leader: str | None = None) -> None:
        super().__init__(message)
        self.leader = leader


class MembershipError(StoreError):
    """A membership change was refused."""


class TemporaryStoreError(StoreError):
    """Retry the same request after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float = 0.5, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class NoLeaderError(TemporaryStoreError):
    """There is no leader or no quorum; the write was not applied."""

    def __init__(self, message: str = NO_LEADER_MESSAGE, *, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


class UnknownOutcomeError(TemporaryStoreError):
    """The write may or may not have been applied (leader change, discarded entry, timeout)."""


class QueueFullError(TemporaryStoreError):
    """pysyncobj's command queue is full; the write was not applied."""


def error_from_result(result: tuple[Any, ...]) -> StoreError:
    """Turn an error value returned by the state machine into an exception (see ``state.py``)."""
    try:
        _, kind, message, table, oid, current = result
    except (TypeError, ValueError):
        return StoreError(f"malformed store result: {result!r}")
    cls: type[StoreError] = {
        "conflict": ConflictError,
        "exists": AlreadyExistsError,
        "name_conflict": NameConflictError,
        "not_found": NotFoundError,
        "invalid": InvalidArgumentError,
    }.get(kind, StoreError)
    return cls(message, table=table, id=oid, current_version=current)
