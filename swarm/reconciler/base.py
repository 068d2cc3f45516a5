"""The shape every leader-side reconciler shares: built on the store, ``run()``, ``stop()``.

Design notes
------------
swarmkit's reconcilers are ~100 lines because the loop around them is always the same; here it
is written once. A :class:`Reconciler`

1. subscribes to the store's change stream *first*, then reconciles everything from the current
   state (``reconcile_all``) -- the state read is at least as new as the subscription start, so
   nothing is missed, and the few commits seen twice are harmless because every decision is
   re-derived from state, never from the event alone;
2. then follows the stream, handing each *batch* of commits (everything available when it wakes,
   drained with ``poll``) to ``handle`` at once: act once per commit batch, not once per event;
3. runs ``tick(now)`` when a deadline it asked for with :meth:`wake_at` passes (restart delays,
   the reaper's 250 ms batching, the scheduler's debounce);
4. on a ``Reset`` (fell off the event ring, snapshot installed) or on any error while acting,
   logs it, backs off briefly and reconciles everything again from scratch.

Leader-only: the manager creates a fresh instance per leadership term and calls ``stop()`` when the
term ends; nothing here survives a term except what is in the store (which is why every decision
can be rebuilt from the store).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.message import Message

from swarm.store import (
    Commit,
    Event,
    ObjectStore,
    Reset,
    StoreError,
    Subscription,
    TemporaryStoreError,
    wait_for,
)
from swarm.store.typed import TYPE_OF

RETRY_DELAY = 0.5


def decode_event(ev: Event) -> tuple[Any, Any]:
    """(new object or None for a delete, old object or None for a create)."""
    cls = TYPE_OF.get(ev.table)
    if cls is None:
        return None, None
    new: Message | None = None
    if ev.kind != "delete":
        new = cls.FromString(ev.data)
        new.meta.version.index = ev.version  # type: ignore[attr-defined]
    old = cls.FromString(ev.old_data) if ev.old_data else None
    return new, old


class Reconciler:
    """Base class: subclasses implement ``reconcile_all``, ``handle`` and optionally ``tick``."""

    name = "reconciler"

    def __init__(self, store: ObjectStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.log = logging.getLogger(type(self).__module__)
        self._stopped = False
        self._sub: Subscription | None = None
        self._deadline: float | None = None

    # ---- to implement -------------------------------------------------------------------------

    async def reconcile_all(self) -> None:
        raise NotImplementedError

    async def handle(self, events: Sequence[Event]) -> None:
        raise NotImplementedError

    async def tick(self, now: float) -> None:
        return None

    # ---- helpers ------------------------------------------------------------------------------

    def wake_at(self, when: float) -> None:
        """Ask for ``tick`` to run at ``when`` (clock time) or soon after."""
        if self._deadline is None or when < self._deadline:
            self._deadline = when

    # ---- loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        sub = self._sub = self.store.subscribe()
        self.log.info("%s: started", self.name)
        need_full = True
        try:
            while not self._stopped:
                if need_full:
                    need_full = not await self._safely(self.reconcile_all(), "reconcile")
                    if need_full:
                        await asyncio.sleep(RETRY_DELAY)
                    continue
                item = await self._next(sub)
                if self._stopped:
                    break
                commits: list[Commit] = []
                while item is not None:
                    if isinstance(item, Reset):
                        self.log.info("%s: change stream reset at index %d; reconciling everything",
                                      self.name, item.view.index)
                        need_full = True
                    else:
                        commits.append(item)
                    item = sub.poll()
                if need_full:
                    continue
                events = [e for c in commits for e in c.events]
                if events and not await self._safely(self.handle(events), "handle"):
                    need_full = True
                    await asyncio.sleep(RETRY_DELAY)
                    continue
                now = self.clock()
                if self._deadline is not None and now >= self._deadline:
                    self._deadline = None
                    if not await self._safely(self.tick(now), "tick"):
                        need_full = True
                        await asyncio.sleep(RETRY_DELAY)
        finally:
            sub.close()
            self.log.info("%s: stopped", self.name)

    def stop(self) -> None:
        self._stopped = True
        if self._sub is not None:
            self._sub.close()

    async def _next(self, sub: Subscription) -> Commit | Reset | None:
        if self._deadline is None:
            timeout = None
        else:
            timeout = self._deadline - self.clock()
            if timeout <= 0:
                return sub.poll()
        try:
            return await wait_for(sub.__anext__(), timeout)   # not asyncio's: see swarm.store.wait_for
        except TimeoutError:
            return None
        except StopAsyncIteration:
            self._stopped = True
            return None

    async def _safely(self, coro: Any, what: str) -> bool:
        try:
            await coro
            return True
        except TemporaryStoreError as e:
            self.log.info("%s: %s: store temporarily unavailable (%s); retrying", self.name, what, e)
        except StoreError as e:
            self.log.warning("%s: %s: store refused a write (%s); reconciling again", self.name, what, e)
        except Exception:  # a bug must not end the leader's reconciler for the whole term
            self.log.exception("%s: %s failed; reconciling again", self.name, what)
        return False


__all__ = ["RETRY_DELAY", "Reconciler", "decode_event"]
