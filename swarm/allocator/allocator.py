"""The allocator: gives a NEW task what it needs before it can be placed, then moves it to PENDING.

Design notes
------------
In swarmkit the allocator attaches networks, assigns task IP addresses and service VIPs, and
allocates ingress ports; only when all of that is done does a task go NEW -> PENDING and become
visible to the scheduler. Networking is not built yet, so today every task is trivially
allocated -- but the seam is here: :meth:`Allocator.allocate` decides per task and may return
``False`` to leave a task NEW (e.g. its network does not exist yet); a later issue fills it in
(network attachments, addresses, and service endpoint ports) without touching the loop.

Per commit batch, the NEW tasks seen in the batch are re-read from the latest state inside the
write (so a task that moved on meanwhile is skipped) and written PENDING with the message
``pending task scheduling`` in as few batches as the store allows. Tasks that are NEW but no
longer wanted (desired state SHUTDOWN or beyond) are moved too: the scheduler ends never-placed
tasks (PENDING -> SHUTDOWN) and the reaper deletes removed ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import NEW, PENDING
from swarm.orchestrator.base import Reconciler, decode_event
from swarm.orchestrator.tasks import describe, set_status, state_name
from swarm.orchestrator.writes import Built, Change, commit
from swarm.store import Event, typed
from swarm.store.typed import Reader

PENDING_MESSAGE = "pending task scheduling"


class Allocator(Reconciler):
    name = "allocator"

    def allocate(self, task: Task, reader: Reader) -> bool:
        """Allocate ``task``'s resources in place; False leaves it NEW for a later pass.

        Nothing to allocate yet (networks, addresses and ports come with the network issue)."""
        return True

    async def reconcile_all(self) -> None:
        tasks = Reader(self.store).list(Task)
        await self._allocate(t.id for t in tasks if t.status.state == NEW)

    async def handle(self, events: Sequence[Event]) -> None:
        ids: list[str] = []
        for ev in events:
            if ev.table != "tasks" or ev.kind == "delete":
                continue
            t, _ = decode_event(ev)
            if t.status.state == NEW:
                ids.append(t.id)
        if ids:
            await self._allocate(ids)

    async def _allocate(self, ids: Iterable[str]) -> None:
        now = self.clock()
        changes = [Change(self._build(tid, now), key=tid) for tid in dict.fromkeys(ids)]
        if changes:
            n = await commit(self.store, changes, logger=self.log)
            self.log.debug("allocator: %d of %d tasks moved to PENDING", n, len(changes))

    def _build(self, task_id: str, now: float) -> Callable[[Reader], Built | None]:
        def build(r: Reader) -> Built | None:
            t = r.get(Task, task_id)
            if t is None or t.status.state != NEW or not self.allocate(t, r):
                return None
            old, new = set_status(t, PENDING, PENDING_MESSAGE, now)
            line = f"{describe(t)}: state {state_name(old)} -> {state_name(new)} (allocated)"
            return [typed.update(t)], [line]
        return build


__all__ = ["PENDING_MESSAGE", "Allocator"]
