"""The role manager over the in-memory store with a fake manager and fake Raft: a demotion is acted on
at the node change (Raft removal first, then role WORKER), reachability and the leader flag follow the
fake's Raft view. Each check waits a bounded number of loop yields; the reachability timer is set
to an hour, so it never fires."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from swarm.api.objects_pb2 import ManagerStatus, Node
from swarm.api.types_pb2 import MANAGER, WORKER
from swarm.daemon import rolemanager
from swarm.daemon.rolemanager import RoleManager
from swarm.store import typed
from swarm.store.typed import Reader
from tests.unit.orchestrator.memstore import MemStore


class RaftStore(MemStore):
    """MemStore plus the Raft surface the role manager reads."""

    def __init__(self, self_addr: str) -> None:
        super().__init__()
        self.self_addr = self_addr
        self.up: dict[str, bool] = {}
        self.calls: list[tuple[str, str]] = []

    def is_leader(self) -> bool:
        return True

    def status(self) -> dict[str, Any]:
        return {"members": dict(self.up)}

    def members(self) -> list[str]:
        return [self.self_addr, *self.up]

    async def remove_member(self, addr: str) -> None:
        self.calls.append(("remove_member", addr))
        self.up.pop(addr, None)

    async def transfer_leadership(self) -> None:
        self.calls.append(("transfer_leadership", self.self_addr))


class FakeManager:
    def __init__(self, store: RaftStore) -> None:
        self.store = store
        self.membership_lock = asyncio.Lock()
        self.background_calls: list[str] = []

    def background(self, coro: Any) -> None:
        self.background_calls.append(getattr(coro, "__name__", repr(coro)))
        coro.close()


def manager_node(nid: str, addr: str) -> Node:
    n = Node(id=nid, role=MANAGER)
    n.description.hostname = f"host-{nid}"
    n.spec.desired_role = MANAGER  # type: ignore[assignment]
    n.manager_status.raft_addr = addr
    return n


async def until(ok: Callable[[], bool], what: str, rounds: int = 500) -> None:
    for _ in range(rounds):
        if ok():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"timed out waiting for {what}")


def get(st: RaftStore, nid: str) -> Node:
    n = Reader(st).get(Node, nid)
    assert n is not None
    return n


async def touch(st: RaftStore, nid: str) -> None:
    """A node change unrelated to roles (a label), to wake the role manager without its timer."""
    n = get(st, nid)
    n.spec.annotations.labels["touched"] = str(len(n.spec.annotations.labels) + 1)
    await st.apply([typed.update(n)])


@pytest.fixture(autouse=True)
def no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reachability timer never fires within a test: what happens is the node change's doing."""
    monkeypatch.setattr(rolemanager, "PERIOD", 3600.0)


def test_demotion_reachability_and_leader_flag() -> None:
    async def main() -> None:
        st = RaftStore("10.0.0.1:4242")
        st.up = {"10.0.0.2:4242": True, "10.0.0.3:4242": False}
        await st.apply([typed.create(manager_node("m1", "10.0.0.1:4242")),
                        typed.create(manager_node("m2", "10.0.0.2:4242")),
                        typed.create(manager_node("m3", "10.0.0.3:4242"))])
        m = FakeManager(st)
        rm = RoleManager(m)
        run = asyncio.create_task(rm.run())

        # reachability and leader written from the fake's Raft status at the first reconcile
        def written() -> bool:
            return (get(st, "m1").manager_status.leader
                    and get(st, "m1").manager_status.reachability == ManagerStatus.REACHABLE
                    and get(st, "m2").manager_status.reachability == ManagerStatus.REACHABLE
                    and get(st, "m3").manager_status.reachability == ManagerStatus.UNREACHABLE)
        await until(written, "manager status from Raft")
        assert not get(st, "m2").manager_status.leader
        assert not get(st, "m3").manager_status.leader

        # demotion of m2: acted on at the node change
        n = get(st, "m2")
        n.spec.desired_role = WORKER  # type: ignore[assignment]
        await st.apply([typed.update(n)])
        await until(lambda: get(st, "m2").role == WORKER, "m2 demoted")
        assert st.calls == [("remove_member", "10.0.0.2:4242")]
        assert not get(st, "m2").HasField("manager_status")
        assert m.background_calls == ["rotate"]

        # the leader moves to m3 (and m3 becomes reachable); a node change makes it visible
        st.self_addr = "10.0.0.3:4242"
        st.up = {"10.0.0.1:4242": True}
        await touch(st, "m1")
        await until(lambda: get(st, "m3").manager_status.leader and not get(st, "m1").manager_status.leader,
                    "leader flag moved to m3")
        assert get(st, "m3").manager_status.reachability == ManagerStatus.REACHABLE
        assert get(st, "m1").manager_status.reachability == ManagerStatus.REACHABLE

        rm.stop()
        run.cancel()
        await asyncio.wait([run])

    asyncio.run(main())


def test_demoting_the_leader_hands_leadership_over_first() -> None:
    async def main() -> None:
        st = RaftStore("10.0.0.1:4242")
        st.up = {"10.0.0.2:4242": True}
        me = manager_node("m1", "10.0.0.1:4242")
        me.spec.desired_role = WORKER  # type: ignore[assignment]
        await st.apply([typed.create(me), typed.create(manager_node("m2", "10.0.0.2:4242"))])
        rm = RoleManager(FakeManager(st))
        run = asyncio.create_task(rm.run())
        await until(lambda: ("transfer_leadership", "10.0.0.1:4242") in st.calls, "leadership handed over")
        assert get(st, "m1").role == MANAGER   # still a Raft member: not marked worker yet
        assert ("remove_member", "10.0.0.1:4242") not in st.calls
        rm.stop()
        run.cancel()
        await asyncio.wait([run])

    asyncio.run(main())
