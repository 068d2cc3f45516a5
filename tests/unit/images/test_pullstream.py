"""node.images.pullstream: a synchronous pull with a progress callback as an async stream."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from node.images import Image, ImageConfig, RegistryUnavailableError
from node.images.pullstream import PullDone, PullProgress, pull_progress

IMAGE = Image(id="sha256:" + "ab" * 32, repo_tags=("demo:1",), repo_digests=(), config=ImageConfig(),
              layers=(), diff_ids=(), size=0)


class FakeStore:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.threads: list[threading.Thread] = []

    def pull(self, ref: str, progress: Callable[[str, int, int], None]) -> Image:
        self.threads.append(threading.current_thread())
        progress("manifest", 10, 10)
        progress("0123456789abcdef", 5, 20)
        progress("0123456789abcdef", 20, 20)
        if self.fail is not None:
            raise self.fail
        return IMAGE


async def collect(store: Any) -> list[Any]:
    return [ev async for ev in pull_progress(store, "demo:1")]


def test_progress_in_order_then_the_image_and_the_pull_runs_off_the_loop_thread() -> None:
    store = FakeStore()
    events = asyncio.run(collect(store))
    assert events == [PullProgress("manifest", 10, 10), PullProgress("0123456789abcdef", 5, 20),
                      PullProgress("0123456789abcdef", 20, 20), PullDone(IMAGE)]
    assert store.threads and store.threads[0] is not threading.main_thread()


def test_a_failed_pull_raises_its_error_after_the_progress_it_made() -> None:
    seen: list[Any] = []

    async def body() -> None:
        async for ev in pull_progress(FakeStore(RegistryUnavailableError("registry down")), "demo:1"):
            seen.append(ev)

    with pytest.raises(RegistryUnavailableError, match="registry down"):
        asyncio.run(body())
    assert len(seen) == 3 and all(isinstance(ev, PullProgress) for ev in seen)
