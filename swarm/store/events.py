"""Change stream: a bounded ring of commits and asyncio subscriptions that follow it.

The state machine calls ``EventLog.record(index, events)`` under the store lock from the Raft tick
thread, once per applied batch; store indexes are contiguous (every successful non-empty batch bumps
the index by exactly one), so a subscriber's position is just "the last index I saw" and the ring
is addressed by ``index - first_index``.

A subscriber gets, in order, every ``Commit`` after its start index - no gaps, no duplicates - or
a ``Reset(view)`` when it cannot: it fell off the ring (more than ``capacity`` events behind), or
the state was replaced by a snapshot (restart, InstallSnapshot from the leader; the state machine
calls ``EventLog.reset()``). After a Reset the subscriber rebuilds from ``view`` and continues
with commits after ``view.index``.

Hand-off to asyncio: the tick thread never runs consumer code. It marks each subscription
"has news" and, once per subscription until that subscriber runs again, schedules
``asyncio.Event.set`` on the subscriber's loop with ``call_soon_threadsafe``. The subscriber reads
the ring itself (under the lock), so a burst of commits costs one wake-up.

Memory: events reference the written ``data`` and the replaced ``old_data`` bytes, so the ring
keeps up to ``capacity`` superseded object versions alive (100 000 x object size at worst).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from .state import StoreState, StoreView
from .types import META_TABLE, Commit, Event, Reset

DEFAULT_CAPACITY = 100_000  # events, not commits


class EventLog:
    """Ring of recent commits. All methods except ``subscribe`` expect ``state.lock`` held."""

    def __init__(self, state: StoreState, capacity: int = DEFAULT_CAPACITY) -> None:
        self.state = state
        self.capacity = max(1, capacity)
        self.ring: deque[Commit] = deque()
        self.n_events = 0
        self.generation = 0
        self.subs: set[Subscription] = set()
        state.on_commit = self.record
        state.on_reset = self.reset

    # -- called by the state machine, lock held, tick thread
    def record(self, index: int, events: tuple[Event, ...]) -> None:
        public = tuple(e for e in events if e.table != META_TABLE)
        if len(public) != len(events):
            events = public
        self.ring.append(Commit(index, events))
        self.n_events += max(1, len(events))
        while self.n_events > self.capacity and len(self.ring) > 1:
            old = self.ring.popleft()
            self.n_events -= max(1, len(old.events))
        self._notify()

    def reset(self) -> None:
        self.ring.clear()
        self.n_events = 0
        self.generation += 1
        self._notify()

    def _notify(self) -> None:
        for sub in list(self.subs):
            sub._poke()

    # -- called by subscribers, lock held
    def next_for(self, sub: Subscription) -> Commit | Reset | None:
        while True:
            if sub._generation != self.generation:
                return self._reset_for(sub)
            if sub._cursor >= self.state.index:
                return None
            first = self.ring[0].index if self.ring else self.state.index + 1
            if sub._cursor + 1 < first:
                return self._reset_for(sub)
            commit = self.ring[sub._cursor + 1 - first]
            sub._cursor = commit.index
            if commit.events:
                return commit

    def _reset_for(self, sub: Subscription) -> Reset:
        view = self.state._view_locked()
        sub._generation = self.generation
        sub._cursor = view.index
        return Reset(view)

    def subscribe(self, loop: asyncio.AbstractEventLoop, from_index: int | None = None,
                  with_view: bool = False) -> tuple[StoreView | None, Subscription]:
        with self.state.lock:
            start = self.state.index if from_index is None else from_index
            sub = Subscription(self, loop, start, self.generation)
            self.subs.add(sub)
            view = self.state._view_locked() if with_view else None
        return view, sub


class Subscription:
    """``async for item in sub`` yields ``Commit`` or ``Reset``; ends after ``close()``."""

    def __init__(self, log: EventLog, loop: asyncio.AbstractEventLoop, cursor: int,
                 generation: int) -> None:
        self._log = log
        self._loop = loop
        self._cursor = cursor
        self._generation = generation
        self._wake = asyncio.Event()
        self._poked = False
        self._closed = False
        self.on_poke: Callable[[], None] | None = None  # test hook

    @property
    def index(self) -> int:
        """Index of the last commit delivered (or the start index)."""
        return self._cursor

    def _poke(self) -> None:  # lock held, any thread
        if self._poked or self._closed:
            return
        self._poked = True
        with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening any more
            self._loop.call_soon_threadsafe(self._wake.set)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Commit | Reset:
        while True:
            if self._closed:
                raise StopAsyncIteration
            self._wake.clear()
            with self._log.state.lock:
                self._poked = False
                item = self._log.next_for(self)
            if item is not None:
                return item
            await self._wake.wait()

    def poll(self) -> Commit | Reset | None:
        """Non-blocking: the next item if one is ready."""
        if self._closed:
            return None
        with self._log.state.lock:
            return self._log.next_for(self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._log.state.lock:
            self._log.subs.discard(self)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wake.set)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
