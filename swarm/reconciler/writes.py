"""Committing reconciler decisions: large atomic batches, re-checked against the latest state.

Design notes
------------
A reconciler decides on a consistent view, but by the time it writes, the dispatcher may have
written a task status or another reconciler a desired state. So decisions are not written as
ready-made actions: each is a :class:`Change` whose ``build`` reads the *latest* state and returns
the actions still needed (or nothing, when the decision no longer applies) -- Nomad's
"re-check the plan against the latest state before committing". Updates are conditional on the
version ``build`` read.

:func:`commit` packs the actions of many changes into few store batches (at most
``MAX_ACTIONS`` actions and ``MAX_BYTES`` of encoded data each, well under the store's proposal
limit), so ``--replicas 1000`` costs two or three Raft entries, not a thousand. When a batch is
refused because something it read moved on (``ConflictError``, ``NotFoundError``), only that
batch's changes are rebuilt from the new state and proposed again, a few times; a change that
keeps losing is left for the next reconcile pass (the component that made it sees the competing
write in its change stream anyway). Temporary errors (no leader, unknown outcome) propagate: the
component backs off and reconciles from scratch, and because every ``build`` re-checks, a batch
that did commit despite an unknown outcome is not applied twice.

Log lines describing each change are emitted only after its batch committed. A change must touch
an object at most once per :func:`commit` call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from swarm.store import ConflictError, NotFoundError, ObjectStore
from swarm.store.typed import Reader

log = logging.getLogger(__name__)

MAX_ACTIONS = 500
MAX_BYTES = 768 * 1024
ATTEMPTS = 5

#: actions to propose and the log lines to emit once they commit
Built = tuple[list[Any], list[str]]


@dataclass(frozen=True, slots=True)
class Change:
    """One decision; ``build`` returns what it takes now, or None if it no longer applies."""

    build: Callable[[Reader], Built | None]
    key: str = ""  # for logs when a change is dropped


async def commit(store: ObjectStore, changes: Sequence[Change], *, logger: logging.Logger = log,
                 max_actions: int = MAX_ACTIONS, max_bytes: int = MAX_BYTES) -> int:
    """Propose ``changes`` in batches; returns how many changes were committed."""
    done = 0
    chunk: list[tuple[Change, Built]] = []
    size = count = 0
    reader = Reader(store)
    for ch in changes:
        built = ch.build(reader)
        if not built or not built[0]:
            continue
        n = len(built[0])
        b = sum(a.wire_size() for a in built[0])
        if chunk and (count + n > max_actions or size + b > max_bytes):
            done += await _commit_chunk(store, chunk, logger)
            chunk, size, count = [], 0, 0
        chunk.append((ch, built))
        size += b
        count += n
    if chunk:
        done += await _commit_chunk(store, chunk, logger)
    return done


async def _commit_chunk(store: ObjectStore, first: list[tuple[Change, Built]], logger: logging.Logger) -> int:
    chunk = [ch for ch, _ in first]
    for attempt in range(ATTEMPTS):
        if attempt == 0:
            pairs = first
        else:
            reader = Reader(store)
            pairs = [(ch, b) for ch in chunk if (b := ch.build(reader)) and b[0]]
        actions = [a for _, b in pairs for a in b[0]]
        lines = [line for _, b in pairs for line in b[1]]
        n = len(pairs)
        if not actions:
            return 0
        try:
            index = await store.apply(actions)
        except (ConflictError, NotFoundError) as e:
            logger.debug("batch of %d actions refused (%s: %s table=%s id=%s); re-checking (attempt %d)",
                         len(actions), type(e).__name__, e, e.table, e.id, attempt + 1)
            continue
        for line in lines:
            logger.info("%s [index %d]", line, index)
        return n
    logger.warning("gave up on %d changes after %d conflicts (%s...); the next pass retries",
                   len(chunk), ATTEMPTS, ", ".join(c.key for c in chunk[:3]))
    return 0


__all__ = ["ATTEMPTS", "MAX_ACTIONS", "MAX_BYTES", "Built", "Change", "commit"]
