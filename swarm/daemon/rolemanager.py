"""Leader component: keeps the managers' status true and carries out demotions.

It compares each manager's `ManagerStatus` (leader flag, reachability from the Raft transport's
view) with the truth and writes only what changed. It follows the store's change stream: a change
to a node (a demotion: `desired_role` set to worker) is acted on at once. Raft reachability
(`store.status()` members) has no change event, so the check also runs every `PERIOD` seconds —
that timer is for reachability only. A node whose spec asks for
the worker role while it still is a manager is first removed from Raft (the leader hands its
leadership away first when it is the one demoted), and only then marked `role = worker`, so a
worker certificate is never issued to a live Raft member (reference §7.4). Promotions run the
other way round: the node itself asks for a manager certificate and joins Raft
(RaftMembership.Join), which marks it a manager.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from swarm.api.objects_pb2 import ManagerStatus, Node
from swarm.api.types_pb2 import MANAGER, WORKER
from swarm.store import Reset, typed
from swarm.store.typed import Reader

log = logging.getLogger(__name__)
PERIOD = 1.0


class RoleManager:
    def __init__(self, manager: Any) -> None:
        self.m = manager
        self.store = manager.store
        self._stop = asyncio.Event()
        self._sub: Any = None

    def stop(self) -> None:
        self._stop.set()
        if self._sub is not None:
            self._sub.close()

    async def run(self) -> None:
        self._sub = sub = self.store.subscribe()
        try:
            while not self._stop.is_set():
                try:
                    await self.reconcile()
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.info("role manager: %s (retrying)", e)
                await self._next_change(sub)
        finally:
            sub.close()

    async def _next_change(self, sub: Any) -> None:
        """Return on a node change (or a stream reset), or after `PERIOD` for reachability."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PERIOD
        while not self._stop.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                item = await asyncio.wait_for(sub.__anext__(), remaining)
            except TimeoutError:
                return
            except StopAsyncIteration:
                return
            while item is not None:
                if isinstance(item, Reset) or any(e.table == "nodes" for e in item.events):
                    while sub.poll() is not None:
                        pass
                    return
                item = sub.poll()

    async def reconcile(self) -> None:
        if not self.store.is_leader():
            return
        me = self.store.self_addr
        up = self.store.status().get("members", {})
        actions = []
        for n in Reader(self.store).list(Node):
            if n.role != MANAGER:
                continue
            if n.spec.desired_role == WORKER:
                await self._demote(n)
                continue
            addr = n.manager_status.raft_addr
            leader = addr == me
            reach = ManagerStatus.REACHABLE if leader or up.get(addr) else ManagerStatus.UNREACHABLE
            if n.manager_status.leader != leader or n.manager_status.reachability != reach:
                n.manager_status.leader = leader
                n.manager_status.reachability = reach
                actions.append(typed.update(n))
        if actions:
            await self.store.apply(actions)

    async def _demote(self, n: Node) -> None:
        addr = n.manager_status.raft_addr
        if addr == self.store.self_addr:
            log.info("node %s: demoting the leader; handing leadership over first", n.id)
            await self.store.transfer_leadership()
            return
        async with self.m.membership_lock:
            if addr in self.store.members():
                log.info("node %s: removing %s from raft for demotion", n.id, addr)
                await self.store.remove_member(addr)
        fresh = Reader(self.store).get(Node, n.id)
        if fresh is None:
            return
        fresh.role = WORKER
        fresh.ClearField("manager_status")
        await self.store.apply([typed.update(fresh)])
        log.info("node %s: demoted to worker", n.id)
        from swarm.daemon.raftsecret import rotate

        self.m.background(rotate(self.store))
