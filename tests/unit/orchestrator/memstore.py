"""An in-memory stand-in for ``swarm.store.Store``: the real state machine and change stream
without Raft, so reconcilers can be unit-tested with a fake clock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from swarm.store import Action, Commit, Event, Reset
from swarm.store.errors import error_from_result
from swarm.store.events import EventLog, Subscription
from swarm.store.state import StoreState, StoreView


class MemStore:
    def __init__(self) -> None:
        self.state = StoreState()
        self.events = EventLog(self.state)
        self.applied: list[int] = []   # actions per committed batch

    async def apply(self, actions: Sequence[Action], timeout: float = 5.0) -> int:
        res = self.state.apply_batch(uuid.uuid4().hex, [a.to_wire() for a in actions])
        if res[0] != "ok":
            raise error_from_result(res)
        self.applied.append(len(actions))
        return int(res[1])

    def get(self, table: str, oid: str) -> Any:
        return self.state.get(table, oid)

    def list(self, table: str) -> list[Any]:
        return self.state.list(table)

    def find(self, table: str, index: str, key: str) -> list[Any]:
        return self.state.find(table, index, key)

    def find_unique(self, table: str, index: str, key: str) -> Any:
        return self.state.find_unique(table, index, key)

    def view(self) -> StoreView:
        return self.state.view()

    @property
    def index(self) -> int:
        return self.state.index

    def subscribe(self) -> Subscription:
        return self.events.subscribe(asyncio.get_running_loop())[1]


def drain(sub: Subscription) -> list[Event]:
    """Every event committed since the last call."""
    out: list[Event] = []
    while (item := sub.poll()) is not None:
        assert not isinstance(item, Reset)
        assert isinstance(item, Commit)
        out.extend(item.events)
    return out


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
