"""Time on the manager side: seconds since the epoch (a ``clock()`` float, injectable in tests)
and the API's ``Timestamp``. The one place that converts between them."""

from __future__ import annotations

import time
from collections.abc import Callable

from google.protobuf.timestamp_pb2 import Timestamp


def ts(now: float) -> Timestamp:
    """``now`` (seconds since the epoch) as a Timestamp."""
    t = Timestamp()
    t.FromNanoseconds(int(now * 1e9))
    return t


def now_ts(clock: Callable[[], float] = time.time) -> Timestamp:
    """The current time of ``clock`` as a Timestamp."""
    return ts(clock())


def ts_seconds(t: Timestamp) -> float:
    return t.seconds + t.nanos / 1e9


__all__ = ["now_ts", "ts", "ts_seconds"]
