"""Dispatcher.session: the whole session stream of a node (the servicer only relays it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from swarm.api.objects_pb2 import Cluster, ManagerStatus, NodeDescription, NodeStatus
from swarm.api.types_pb2 import MANAGER
from swarm.dispatcher.dispatcher import Dispatcher
from swarm.store import typed
from swarm.store.typed import Reader
from tests.unit.orchestrator.factories import node
from tests.unit.orchestrator.memstore import MemStore


def run(body: Callable[[MemStore, Dispatcher], Awaitable[None]]) -> None:
    async def main() -> None:
        st = MemStore()
        cl = Cluster(id="c1")
        cl.root_ca.ca_cert = b"ROOT"
        cl.revoked_certificates.add(serial="bb")
        cl.revoked_certificates.add(serial="aa")
        leader, follower, worker = node("m1"), node("m2"), node("w1", state=NodeStatus.DOWN)
        for n, addr, is_leader in ((leader, "10.0.0.1:2377", True), (follower, "10.0.0.2:2377", False)):
            n.role = MANAGER
            n.manager_status.CopyFrom(ManagerStatus(addr=addr, leader=is_leader))
        await st.apply([typed.create(cl), typed.create(leader), typed.create(follower),
                        typed.create(worker)])
        await asyncio.wait_for(body(st, Dispatcher(st)), 10)

    asyncio.run(main())


def test_first_message_registers_the_node_and_carries_managers_ca_and_revocations() -> None:
    async def body(st: MemStore, disp: Dispatcher) -> None:
        stream = disp.session("w1", NodeDescription(hostname="worker-1"), "10.0.0.9")
        first = await anext(stream)
        assert first.session_id == disp.sessions["w1"].session_id
        assert first.node.id == "w1" and first.node.status.state == NodeStatus.READY
        assert first.node.status.addr == "10.0.0.9"
        assert Reader(st).get(type(first.node), "w1").description.hostname == "worker-1"
        assert sorted((m.addr, m.weight) for m in first.managers) == [
            ("10.0.0.1:2377", 10), ("10.0.0.2:2377", 1)]
        assert (first.root_ca, list(first.revoked_serials)) == (b"ROOT", ["aa", "bb"])
        await stream.aclose()
        assert "w1" not in disp.sessions and "w1" in disp.closed_at

    run(body)


def test_a_newer_session_ends_the_old_stream_without_closing_the_new_one() -> None:
    async def body(st: MemStore, disp: Dispatcher) -> None:
        old = disp.session("w1", NodeDescription(), "10.0.0.9")
        await anext(old)
        new = disp.session("w1", NodeDescription(), "10.0.0.9")
        first = await anext(new)
        assert [m async for m in old] == []                 # the old stream just ends
        assert disp.sessions["w1"].session_id == first.session_id
        await new.aclose()

    run(body)
