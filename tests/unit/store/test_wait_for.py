"""swarm.store.wait_for: a cancel never gets lost, even when the result lands at the same moment."""

from __future__ import annotations

import asyncio
import sys

import pytest

from swarm.store import wait_for


async def _race(waiter):  # type: ignore[no-untyped-def]
    """The result and the cancel arrive in the same loop iteration; what does the waiter do?"""
    fut = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(waiter(fut))
    await asyncio.sleep(0)                  # the task is now awaiting fut
    fut.set_result("result")
    task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        return "cancelled"


def test_cancel_wins_over_a_result_that_lands_at_the_same_time():
    assert asyncio.run(_race(lambda fut: wait_for(fut, 10))) == "cancelled"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="fixed in Python 3.12 (gh-86296)")
def test_asyncio_wait_for_of_311_swallows_that_cancel():
    """Why the helper exists: the stdlib's returns the result and the task goes on running."""
    assert asyncio.run(_race(lambda fut: asyncio.wait_for(fut, 10))) == "result"


def test_timeout_and_result():
    async def main() -> None:
        fut = asyncio.get_running_loop().create_future()
        with pytest.raises(TimeoutError):
            await wait_for(fut, 0.01)
        fut2 = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut2.set_result, 7)
        assert await wait_for(fut2, 5) == 7
        assert await wait_for(asyncio.sleep(0, "x"), None) == "x"

    asyncio.run(main())
