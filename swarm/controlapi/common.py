"""What every control API module shares: the store seam, the clock, and small helpers."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from swarm.ca.sealing import SecretsKey
from swarm.controlapi.events import EventHistory
from swarm.reconciler.clock import now_ts
from swarm.store import ReplicatedStore
from swarm.store.typed import Reader

Clock = Callable[[], float]


class RaftView(Protocol):
    """What the control API needs to know about Raft membership (quorum checks)."""

    def manager_reachable(self, node_id: str) -> bool: ...


class _AllReachable:
    def manager_reachable(self, node_id: str) -> bool:
        return True


@dataclass
class Context:
    store: ReplicatedStore
    clock: Clock = time.time
    raft: RaftView = field(default_factory=_AllReachable)
    secrets_key: SecretsKey | None = None      # seals secret values (swarm.ca.sealing)
    events: EventHistory | None = None         # this replica's recent events (docker events)

    @property
    def read(self) -> Reader:
        return Reader(self.store.view())

    def now(self) -> Timestamp:
        return now_ts(self.clock)

    async def apply(self, actions: Sequence[Any]) -> int:
        return int(await self.store.apply(list(actions)))

    async def apply_fresh(self, build: Callable[[], Sequence[Any]], attempts: int = 8) -> int:
        """Build conditional writes from a fresh read and apply them; rebuild on a conflict
        (e.g. an agent's status update landed in between). Never writes over a newer version."""
        from swarm.store import ConflictError

        for attempt in range(attempts):
            try:
                return int(await self.store.apply(list(build())))
            except ConflictError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
