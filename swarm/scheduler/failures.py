"""Recent task failures per (service, node), the input to "faulty node goes last" (§4.2).

Design notes
------------
swarmkit counts failures per (service, node) and treats a node with 5 failures within 5 minutes
as likely faulty for that service; the scheduler then ranks it last. The count is leader memory
(lost on failover). This class holds only timestamps; the caller passes ``now`` (seconds, any
monotonic clock), so it stays pure and testable with a fake clock. :meth:`counts` produces the
mapping :func:`~swarm.scheduler.placement.schedule` takes as ``failures``.
"""

from __future__ import annotations

from collections import deque

__all__ = ["FAILURE_WINDOW", "FailureTracker"]

FAILURE_WINDOW = 300.0  # seconds


class FailureTracker:
    """Failure timestamps per (service ID, node ID), pruned to the window on every read."""

    def __init__(self, window: float = FAILURE_WINDOW) -> None:
        self.window = window
        self._events: dict[tuple[str, str], deque[float]] = {}

    def record(self, service_id: str, node_id: str, now: float) -> None:
        """A task of ``service_id`` failed on ``node_id`` at ``now``."""
        self._events.setdefault((service_id, node_id), deque()).append(now)

    def counts(self, now: float) -> dict[tuple[str, str], int]:
        """(service ID, node ID) -> failures within the window ending at ``now``."""
        horizon = now - self.window
        out: dict[tuple[str, str], int] = {}
        for key in list(self._events):
            q = self._events[key]
            while q and q[0] <= horizon:
                q.popleft()
            if q:
                out[key] = len(q)
            else:
                del self._events[key]
        return out

    def forget_service(self, service_id: str) -> None:
        """Drop the history of a removed service."""
        for key in [k for k in self._events if k[0] == service_id]:
            del self._events[key]
