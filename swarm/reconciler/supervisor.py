"""Runs the leader's components for one leadership term, under one ``asyncio.TaskGroup``.

Design notes
------------
Policy: **a component that crashes is restarted, with backoff; it never takes leadership down.**
Every leader component rebuilds what it needs from the store when it starts (that is the
Reconciler contract), so a fresh instance after a crash is correct, and one buggy reconciler must
not stop the others (or the dispatcher) from working. A crash is logged with its traceback; the
restart waits ``INITIAL_BACKOFF`` doubling up to ``MAX_BACKOFF``, and the wait goes back to the
start once an instance has run for ``HEALTHY_AFTER`` seconds. A component whose ``run()`` returns
normally has finished and is not restarted.

Stopping is cancelling the task running :meth:`Supervisor.run` (the end of the term): the
TaskGroup cancels every component; each component's ``stop()`` (when it has one) is called as its
``run()`` unwinds. An error raised while stopping is logged, never swallowed silently, and does not
keep the others from stopping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

INITIAL_BACKOFF = 0.1
MAX_BACKOFF = 5.0
HEALTHY_AFTER = 10.0


@dataclass(frozen=True)
class Component:
    """A named leader component: ``make()`` builds a fresh instance with ``run()`` (and
    optionally ``stop()``); it is called again for each restart."""

    name: str
    make: Callable[[], Any]


class Supervisor:
    def __init__(self, components: list[Component], *,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 monotonic: Callable[[], float] | None = None) -> None:
        self.components = components
        self._sleep = sleep
        self._monotonic = monotonic
        self.restarts: dict[str, int] = {c.name: 0 for c in components}

    async def run(self) -> None:
        """Run every component until cancelled (the end of the leadership term)."""
        async with asyncio.TaskGroup() as tg:
            for c in self.components:
                tg.create_task(self._keep(c), name=f"leader:{c.name}")

    def _now(self) -> float:
        return self._monotonic() if self._monotonic is not None else asyncio.get_running_loop().time()

    async def _keep(self, c: Component) -> None:
        backoff = INITIAL_BACKOFF
        while True:
            comp = c.make()
            started = self._now()
            try:
                await comp.run()
            except Exception:
                me = asyncio.current_task()
                if me is not None and me.cancelling():
                    log.exception("leader component %s: error while stopping", c.name)
                    raise asyncio.CancelledError from None
                if self._now() - started >= HEALTHY_AFTER:
                    backoff = INITIAL_BACKOFF
                log.exception("leader component %s crashed; restarting in %.1fs", c.name, backoff)
            else:
                log.info("leader component %s finished", c.name)
                return
            finally:
                _stop(c.name, comp)
            self.restarts[c.name] += 1
            await self._sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)


def _stop(name: str, comp: Any) -> None:
    stop = getattr(comp, "stop", None)
    if stop is None:
        return
    try:
        stop()
    except Exception:
        log.exception("leader component %s: error while stopping", name)


__all__ = ["Component", "Supervisor"]
