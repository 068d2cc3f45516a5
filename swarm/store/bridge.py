"""Hand results from pysyncobj's tick thread to asyncio loops.

The tick thread must never run consumer code or block. Everything it produces for async callers
(apply results, leadership changes) goes through ``LoopBridge.post``, which appends to a deque and
schedules one ``call_soon_threadsafe`` drain per burst - with a thousand writes in flight that is one
self-pipe write per tick, not one per write.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class LoopBridge:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._q: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon. Safe from any thread; drops work if the loop is gone."""
        with self._lock:
            self._q.append((fn, args))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # loop closed
            with self._lock:
                self._q.clear()
                self._scheduled = False

    def _drain(self) -> None:
        with self._lock:
            items = list(self._q)
            self._q.clear()
            self._scheduled = False
        for fn, args in items:
            try:
                fn(*args)
            except Exception:
                log.exception("store callback %r failed", fn)


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """``asyncio.wait_for`` without its Python 3.11 cancellation leak: there, a cancel that
    arrives in the same loop iteration as the result is swallowed (``wait_for`` returns the
    result, gh-86296), so a leader component stopped at the end of its term while a write or an
    event was landing kept running for ever, with the others stopped (found by tests/chaos).
    ``asyncio.timeout`` awaits in the caller's own task, where a cancel always raises."""
    async with asyncio.timeout(timeout):
        return await aw


def resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


class Bridges:
    """One LoopBridge per event loop that has used the store."""

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, LoopBridge] = {}
        self._lock = threading.Lock()

    def get(self, loop: asyncio.AbstractEventLoop) -> LoopBridge:
        with self._lock:
            b = self._by_loop.get(loop)
            if b is None:
                for dead in [lp for lp in self._by_loop if lp.is_closed()]:
                    del self._by_loop[dead]
                b = self._by_loop[loop] = LoopBridge(loop)
            return b
