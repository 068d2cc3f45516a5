"""The allocator: gives a NEW task what it needs before it can be placed, then moves it to PENDING.

Design notes
------------
In swarmkit the allocator attaches networks, assigns task IP addresses and service VIPs, and
allocates ingress ports; only when all of that is done does a task go NEW -> PENDING and become
visible to the scheduler. :meth:`Allocator.allocate` decides per task (network attachments and
addresses, through ``swarm.allocator.network``; service VIPs and nodes' ingress endpoints are
written by :meth:`Allocator._endpoints`) and returns ``False`` to leave a task NEW (e.g. its
network does not exist yet, or a pool is exhausted). Published ports and a new network's
subnet/VNI are decided in this package too (``ports.py``, ``networks.py``), but asked for by the
control API before it writes the service or network, not by this loop. The
loop, the task vocabulary and the re-checked batched writes come from the shared floor,
``swarm.reconciler``.

Per commit batch, the NEW tasks seen in the batch are re-read from the latest state inside the
write (so a task that moved on meanwhile is skipped) and written PENDING with the message
``pending task scheduling`` in as few batches as the store allows. Tasks that are NEW but no
longer wanted (desired state SHUTDOWN or beyond) are moved too: the scheduler ends never-placed
tasks (PENDING -> SHUTDOWN) and the reaper deletes removed ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from swarm.allocator.ipam import IPAMError
from swarm.allocator.network import Pools, allocate_node_ingress, allocate_task, allocate_vips
from swarm.api.objects_pb2 import Node, Service, Task
from swarm.api.types_pb2 import NEW, PENDING
from swarm.reconciler.base import Reconciler, decode_event
from swarm.reconciler.tasks import describe, set_status, state_name
from swarm.reconciler.writes import Built, Change, commit
from swarm.store import Event, typed
from swarm.store.typed import Reader

PENDING_MESSAGE = "pending task scheduling"


class Allocator(Reconciler):
    name = "allocator"
    _pools: Pools | None = None

    def allocate(self, task: Task, reader: Reader) -> bool:
        """Allocate ``task``'s resources in place; False leaves it NEW for a later pass:
        its network attachments and addresses (swarm.allocator.network)."""
        from swarm.api.objects_pb2 import Network, Service

        svc = reader.get(Service, task.service_id) if task.service_id else None
        if self._pools is None:
            self._pools = Pools(lambda: Reader(self.store))
        return allocate_task(task, svc, reader.list(Network), self._pools)

    async def reconcile_all(self) -> None:
        r = Reader(self.store)
        await self._endpoints([s.id for s in r.list(Service)], [n.id for n in r.list(Node)])
        await self._allocate(t.id for t in r.list(Task) if t.status.state == NEW)

    async def handle(self, events: Sequence[Event]) -> None:
        ids: list[str] = []
        services: list[str] = []
        nodes: list[str] = []
        for ev in events:
            if ev.kind == "delete":
                continue
            if ev.table == "services":
                services.append(ev.id)
            elif ev.table == "nodes" and ev.old_data is None:
                nodes.append(ev.id)
            elif ev.table == "networks":
                # a network appeared: tasks waiting for it may go on
                ids += [t.id for t in Reader(self.store).list(Task) if t.status.state == NEW]
            if ev.table != "tasks":
                continue
            t, _ = decode_event(ev)
            if t.status.state == NEW:
                ids.append(t.id)
        if services or nodes:
            await self._endpoints(services, nodes)
        if ids:
            await self._allocate(ids)

    async def _endpoints(self, services: Sequence[str], nodes: Sequence[str]) -> None:
        """Service VIPs and nodes' ingress endpoints."""
        from swarm.api.objects_pb2 import Network, Service

        pools = self._pools = Pools(lambda: Reader(self.store))

        def vips(sid: str) -> Callable[[Reader], Built | None]:
            def build(r: Reader) -> Built | None:
                svc = r.get(Service, sid)
                if svc is None or not allocate_vips(svc, r.list(Network), pools):
                    return None
                return [typed.update(svc)], [f"service {sid}: virtual IPs "
                                             + ", ".join(v.addr for v in svc.endpoint.virtual_ips)]
            return build

        def ingress_ip(nid: str) -> Callable[[Reader], Built | None]:
            def build(r: Reader) -> Built | None:
                node = r.get(Node, nid)
                ingress = next((n for n in r.list(Network) if n.spec.ingress), None)
                if node is None or not allocate_node_ingress(node, ingress, pools):
                    return None
                return [typed.update(node)], [f"node {nid}: ingress endpoint "
                                              f"{node.attachments[-1].addresses[0]}"]
            return build

        changes = [Change(vips(s), key=s) for s in dict.fromkeys(services)]
        changes += [Change(ingress_ip(n), key=n) for n in dict.fromkeys(nodes)]
        if changes:
            await commit(self.store, changes, logger=self.log)

    async def _allocate(self, ids: Iterable[str]) -> None:
        now = self.clock()
        self._pools = Pools(lambda: Reader(self.store))
        changes = [Change(self._build(tid, now), key=tid) for tid in dict.fromkeys(ids)]
        if changes:
            n = await commit(self.store, changes, logger=self.log)
            self.log.debug("allocator: %d of %d tasks moved to PENDING", n, len(changes))

    def _build(self, task_id: str, now: float) -> Callable[[Reader], Built | None]:
        def build(r: Reader) -> Built | None:
            t = r.get(Task, task_id)
            if t is None or t.status.state != NEW:
                return None
            try:
                if not self.allocate(t, r):
                    return None
            except IPAMError as e:   # e.g. the subnet is full: say so on the task, stay NEW
                if t.status.err == str(e):
                    return None
                t.status.err = str(e)
                return [typed.update(t)], [f"{describe(t)}: cannot allocate: {e}"]
            old, new = set_status(t, PENDING, PENDING_MESSAGE, now)
            line = f"{describe(t)}: state {state_name(old)} -> {state_name(new)} (allocated)"
            return [typed.update(t)], [line]
        return build


__all__ = ["PENDING_MESSAGE", "Allocator"]
