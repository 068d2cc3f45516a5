"""The leader supervisor's policy: a crashing component is restarted with backoff (fresh
instance), leadership is not given up; stopping is cancelling; errors while stopping are logged."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from swarm.reconciler.supervisor import INITIAL_BACKOFF, MAX_BACKOFF, Component, Supervisor


class Crashes:
    """Crashes ``times`` times, then runs until cancelled."""

    instances: list[Crashes] = []

    def __init__(self, times: int, running: asyncio.Event) -> None:
        self.left = times - len(Crashes.instances)
        self.running = running
        self.stopped = False
        Crashes.instances.append(self)

    async def run(self) -> None:
        if self.left > 0:
            raise RuntimeError("boom")
        self.running.set()
        await asyncio.Event().wait()

    def stop(self) -> None:
        self.stopped = True


class Steady:
    def __init__(self, running: asyncio.Event, stop_error: bool = False) -> None:
        self.running = running
        self.stop_error = stop_error
        self.stopped = False

    async def run(self) -> None:
        self.running.set()
        await asyncio.Event().wait()

    def stop(self) -> None:
        self.stopped = True
        if self.stop_error:
            raise RuntimeError("stop failed")


def test_a_crashing_component_is_restarted_with_backoff_and_the_others_keep_running(
        caplog: pytest.LogCaptureFixture) -> None:
    Crashes.instances = []
    delays: list[float] = []

    async def sleep(d: float) -> None:
        delays.append(d)

    async def main() -> tuple[Steady, Supervisor]:
        crash_ok, steady_ok = asyncio.Event(), asyncio.Event()
        steady = Steady(steady_ok)
        sup = Supervisor([Component("crashy", lambda: Crashes(4, crash_ok)),
                          Component("steady", lambda: steady)], sleep=sleep)
        term = asyncio.create_task(sup.run())
        await asyncio.wait_for(asyncio.gather(crash_ok.wait(), steady_ok.wait()), 10)
        assert not term.done()          # leadership is not given up
        term.cancel()
        await asyncio.wait([term])
        return steady, sup

    with caplog.at_level(logging.ERROR, logger="swarm.reconciler.supervisor"):
        steady, sup = asyncio.run(main())
    assert len(Crashes.instances) == 5                   # a fresh instance per start
    assert all(c.stopped for c in Crashes.instances)     # stop() after each crash and at the end
    assert sup.restarts == {"crashy": 4, "steady": 0}
    assert delays == [INITIAL_BACKOFF, 2 * INITIAL_BACKOFF, 4 * INITIAL_BACKOFF, 8 * INITIAL_BACKOFF]
    assert all(d <= MAX_BACKOFF for d in delays)
    crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashes) == 4 and all(r.exc_info is not None for r in crashes)  # with the traceback
    assert steady.stopped


def test_stopping_cancels_every_component_and_logs_errors_while_stopping(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[Steady, Steady, asyncio.Task[Any]]:
        a_ok, b_ok = asyncio.Event(), asyncio.Event()
        a, b = Steady(a_ok, stop_error=True), Steady(b_ok)
        term = asyncio.create_task(Supervisor([Component("a", lambda: a), Component("b", lambda: b)]).run())
        await asyncio.wait_for(asyncio.gather(a_ok.wait(), b_ok.wait()), 10)
        term.cancel()
        await asyncio.wait([term])
        return a, b, term

    with caplog.at_level(logging.ERROR, logger="swarm.reconciler.supervisor"):
        a, b, term = asyncio.run(main())
    assert term.cancelled()
    assert a.stopped and b.stopped
    assert any("error while stopping" in r.getMessage() for r in caplog.records)


def test_a_component_that_finishes_is_not_restarted() -> None:
    made: list[int] = []

    class Done:
        async def run(self) -> None:
            return None

    async def main() -> None:
        await asyncio.wait_for(Supervisor([Component("done", lambda: made.append(1) or Done())]).run(), 10)

    asyncio.run(main())
    assert made == [1]
