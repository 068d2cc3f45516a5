"""end_term: the end of a leadership term stops every component, even one that lost its cancel."""

from __future__ import annotations

import asyncio

from swarm.daemon.manager import end_term
from swarm.reconciler.supervisor import Component, Supervisor


class Stubborn:
    """Swallows the first cancellation (what asyncio.wait_for of 3.11 can do) and goes on."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def run(self) -> None:
        swallowed = False
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    self.log.append("stopped")
                    raise
                swallowed = True
                self.log.append("swallowed")


class Polite:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def run(self) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            self.log.append("polite stopped")


def test_a_component_that_swallowed_the_cancel_is_cancelled_again(caplog):
    log: list[str] = []

    async def main() -> None:
        term = asyncio.create_task(Supervisor([Component("stubborn", lambda: Stubborn(log)),
                                               Component("polite", lambda: Polite(log))]).run())
        await asyncio.sleep(0.01)
        await asyncio.wait_for(end_term(term, grace=0.05), 10)
        assert term.done()

    asyncio.run(main())
    assert log.count("swallowed") == 1 and "stopped" in log and "polite stopped" in log
    assert "leader:stubborn" in caplog.text


def test_without_the_second_cancel_the_term_never_ends():
    """The bug: one cancel, then waiting, as _stop_leader_components did."""
    log: list[str] = []

    async def main() -> bool:
        term = asyncio.create_task(Supervisor([Component("stubborn", lambda: Stubborn(log))]).run())
        await asyncio.sleep(0.01)
        term.cancel()
        done, _ = await asyncio.wait([term], timeout=0.2)
        still_running = not done
        await end_term(term, grace=0.05)                # clean up
        return still_running

    assert asyncio.run(main())
