"""membership.join_raft: the leader's side of a manager joining Raft (behind RaftMembership.Join)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from swarm.api.objects_pb2 import Cluster, ManagerStatus, Node
from swarm.api.types_pb2 import MANAGER, WORKER
from swarm.daemon.membership import RaftJoinRefusedError, join_raft
from swarm.daemon.refusals import NotTheLeaderError
from swarm.rpc.errors import code_name_for
from swarm.store import typed
from swarm.store.typed import Reader
from tests.unit.orchestrator.factories import node
from tests.unit.orchestrator.memstore import MemStore


class RaftStore(MemStore):
    def __init__(self, leader: bool = True) -> None:
        super().__init__()
        self.leader = leader
        self.raft_members = ["10.0.0.1:2378"]
        self.added = asyncio.Event()

    def is_leader(self) -> bool:
        return self.leader

    def members(self) -> list[str]:
        return list(self.raft_members)

    async def add_member(self, addr: str, timeout: float) -> None:
        self.raft_members.append(addr)
        self.added.set()


class Admit:
    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def admit(self, host: str) -> None:
        self.hosts.append(host)


class Manager:
    def __init__(self, store: RaftStore) -> None:
        self.store = store
        self.membership_lock = asyncio.Lock()
        self.security = Admit()
        self.tasks: list[asyncio.Task[Any]] = []

    def leader_api_addr(self) -> str:
        return "10.0.0.1:2377"

    def background(self, coro: Awaitable[Any]) -> None:
        self.tasks.append(asyncio.ensure_future(coro))


async def setup(store: RaftStore) -> Manager:
    joiner = node("n2")
    joiner.role = WORKER
    joiner.status.addr = "10.0.0.2"
    await store.apply([typed.create(Cluster(id="c1", raft_secret=b"s3cret")), typed.create(joiner)])
    return Manager(store)


def test_a_follower_names_the_leader() -> None:
    async def body() -> None:
        m = await setup(RaftStore(leader=False))
        with pytest.raises(NotTheLeaderError) as ei:
            await join_raft(m, "n2", "10.0.0.2:2378", "10.0.0.2:2377", "10.0.0.2")
        assert str(ei.value) == "not the leader; leader=10.0.0.1:2377"
        assert code_name_for(ei.value) == "UNAVAILABLE"

    asyncio.run(body())


def test_join_answers_at_once_then_adds_the_member_and_records_the_manager() -> None:
    async def body() -> None:
        st = RaftStore()
        m = await setup(st)
        joined = await join_raft(m, "n2", "10.0.0.2:2378", "10.0.0.2:2377", "10.0.0.2")
        assert (joined.members, joined.raft_secret) == (["10.0.0.1:2378", "10.0.0.2:2378"], b"s3cret")
        assert m.security.hosts == ["10.0.0.2"]
        await asyncio.gather(*m.tasks)
        assert st.added.is_set() and not m.membership_lock.locked()
        n = Reader(st).get(Node, "n2")
        assert n.role == MANAGER
        assert (n.manager_status.addr, n.manager_status.raft_addr, n.manager_status.raft_id) == (
            "10.0.0.2:2377", "10.0.0.2:2378", 2)
        assert n.manager_status.reachability == ManagerStatus.REACHABLE

    asyncio.run(body())


def test_a_raft_address_on_another_host_is_refused() -> None:
    async def body() -> None:
        m = await setup(RaftStore())
        with pytest.raises(RaftJoinRefusedError):
            await join_raft(m, "n2", "10.0.0.66:2378", "10.0.0.2:2377", "10.0.0.2")
        assert not m.membership_lock.locked()

    asyncio.run(body())
