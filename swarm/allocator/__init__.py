"""swarm/allocator: resources a task needs before placement (NEW -> PENDING); networks, task
addresses, VIPs and ingress ports will live here."""

from .allocator import PENDING_MESSAGE, Allocator

__all__ = ["PENDING_MESSAGE", "Allocator"]
