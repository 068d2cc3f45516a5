"""Without a leader every control call fails at once with the reference's message (§1.1,
§7.2 lostQuorumTimeout) and writes nothing; with one, calls reach their handlers."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import pytest

from swarm.api import control_pb2 as c
from swarm.controlapi.api import ControlAPI
from swarm.controlapi.common import Context
from swarm.rpc.errors import code_name_for
from tests.unit.orchestrator.memstore import MemStore

from .conftest import Swarm
from .helpers import snapshot

NO_LEADER = ("The swarm does not have a leader. It's possible that too few managers are online. "
             "Make sure more than half of the managers are online.")
RPCS = [(m.name, m.input_type.name) for m in c.DESCRIPTOR.services_by_name["Control"].methods]


class LeaderStore(MemStore):
    """The in-memory store with the leader queries ControlAPI asks (None: no leader); a follower
    (``is_self=False``) counts the read barriers it was asked for."""

    def __init__(self, leader: str | None, is_self: bool = True) -> None:
        super().__init__()
        self._leader = leader
        self._is_self = is_self
        self.barriers = 0

    def leader(self) -> str | None:
        return self._leader

    def is_leader(self) -> bool:
        return self._leader is not None and self._is_self

    async def barrier(self, timeout: float = 5.0) -> int:
        self.barriers += 1
        return self.index


def method(api: ControlAPI, rpc: str) -> Any:
    return getattr(api, re.sub(r"(?<!^)(?=[A-Z])", "_", rpc).lower())


@pytest.mark.parametrize(("rpc", "request_type"), RPCS, ids=[r for r, _ in RPCS])
def test_every_call_fails_without_a_leader(swarm: Swarm, rpc: str, request_type: str) -> None:
    store = LeaderStore(None)
    store.state = swarm.store.state                  # the same replica, now without a leader
    api = ControlAPI(Context(store=store, clock=swarm.clock, raft=swarm.raft))
    before = snapshot(store)
    with pytest.raises(Exception) as info:
        asyncio.run(method(api, rpc)(getattr(c, request_type)()))
    assert code_name_for(info.value) == "UNAVAILABLE" and str(info.value) == NO_LEADER
    assert snapshot(store) == before


def test_calls_reach_the_handlers_with_a_leader(swarm: Swarm) -> None:
    store = LeaderStore("mgr1")
    store.state = swarm.store.state
    api = ControlAPI(Context(store=store, clock=swarm.clock, raft=swarm.raft))
    resp = asyncio.run(method(api, "ListNetworks")(c.ListNetworksRequest()))
    assert [n.spec.annotations.name for n in resp.networks] == ["ingress"]


@pytest.mark.parametrize(("rpc", "request_type"), [r for r in RPCS if r[0] != "Events"],
                         ids=[r for r, _ in RPCS if r != "Events"])
def test_a_follower_passes_a_read_barrier_before_every_call_the_leader_none(
        swarm: Swarm, rpc: str, request_type: str) -> None:
    """Docker's followers proxy to the leader; ours read their replica once the barrier has
    passed (``Store.barrier``), so a call sees every write acknowledged before it began."""
    for is_self, wanted in ((False, 1), (True, 0)):
        store = LeaderStore("mgr1", is_self=is_self)
        store.state = swarm.store.state
        api = ControlAPI(Context(store=store, clock=swarm.clock, raft=swarm.raft))
        with contextlib.suppress(Exception):            # empty requests are mostly refused: fine
            asyncio.run(method(api, rpc)(getattr(c, request_type)()))
        assert store.barriers == wanted, (rpc, is_self)
