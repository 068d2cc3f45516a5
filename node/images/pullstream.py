"""A pull as an async stream of progress events, for callers on an asyncio loop.

:meth:`ImageStore.pull` is synchronous and reports progress through a callback on its own
thread. :func:`pull_progress` runs it in a worker thread, hands each callback to the loop
(``call_soon_threadsafe``) and yields, in order, :class:`PullProgress` events and finally one
:class:`PullDone` with the image. A failed pull raises its error (an ``ImageError``) after the
progress it made. If the consumer stops early, the pull still finishes in its thread (the
layers it fetched stay in the store) and its result is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from node.images.model import Image

if TYPE_CHECKING:
    from node.images.store import ImageStore


@dataclass(frozen=True)
class PullProgress:
    """``what`` is ``manifest``, ``config`` or a layer's short digest; bytes done of ``total``."""

    what: str
    current: int
    total: int


@dataclass(frozen=True)
class PullDone:
    image: Image


PullEvent = PullProgress | PullDone


async def pull_progress(store: ImageStore, ref: str) -> AsyncIterator[PullEvent]:
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[PullProgress | None] = asyncio.Queue()

    def progress(what: str, current: int, total: int) -> None:
        loop.call_soon_threadsafe(q.put_nowait, PullProgress(what, current, total))

    fut = asyncio.ensure_future(asyncio.to_thread(store.pull, ref, progress))
    fut.add_done_callback(lambda _f: q.put_nowait(None))
    while (item := await q.get()) is not None:
        yield item
    yield PullDone(fut.result())


__all__ = ["PullDone", "PullEvent", "PullProgress", "pull_progress"]
