"""Every RPC of every service the daemon serves has a servicer method of its own (not the
generated UNIMPLEMENTED default), and every Control RPC has a ControlAPI method the servicer
calls: a new RPC in ``proto/`` cannot be forgotten on either side."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from swarm.api import ca_pb2, control_pb2, daemon_pb2, dispatcher_pb2, raft_pb2
from swarm.controlapi.api import ControlAPI
from swarm.daemon import servicers, tcp_servicers
from swarm.daemon.errors import NotAManagerError, NotInSwarmError

CONTROL = control_pb2.DESCRIPTOR.services_by_name["Control"]

SERVED = [
    (control_pb2, "Control", servicers.ControlServicer),
    (daemon_pb2, "Daemon", servicers.DaemonServicer),
    (ca_pb2, "CA", tcp_servicers.CAServicer),
    (ca_pb2, "NodeCA", tcp_servicers.NodeCAServicer),
    (dispatcher_pb2, "Dispatcher", tcp_servicers.DispatcherServicer),
    (dispatcher_pb2, "LogBroker", tcp_servicers.LogBrokerServicer),
    (dispatcher_pb2, "Logs", tcp_servicers.LogsServicer),
    (raft_pb2, "RaftMembership", tcp_servicers.RaftMembershipServicer),
]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize(("module", "service", "cls"), SERVED, ids=[s for _m, s, _c in SERVED])
def test_every_rpc_has_its_own_servicer_method(module: Any, service: str, cls: type) -> None:
    for rpc in module.DESCRIPTOR.services_by_name[service].methods:
        assert rpc.name in vars(cls), f"{cls.__name__} does not implement {service}.{rpc.name}"


def test_every_control_rpc_has_a_control_api_method() -> None:
    for rpc in CONTROL.methods:
        assert callable(getattr(ControlAPI, snake(rpc.name), None)), f"ControlAPI.{snake(rpc.name)}"


class Answer(str):
    """A unary answer that a streaming servicer can also iterate (one message: itself)."""

    async def __aiter__(self) -> Any:
        yield self


async def answer_of(call: Any) -> Any:
    if hasattr(call, "__anext__"):
        return [m async for m in call]
    return await call


class RecordingAPI:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        async def method(request: Any) -> str:
            self.calls.append((name, request))
            return Answer(name)

        return method


class FakeDaemon:
    def __init__(self, in_swarm: bool = True, manager: Any = None, locked: bool = False) -> None:
        self.in_swarm = in_swarm
        self.manager = manager
        self.locked = locked

    def require_swarm(self) -> None:
        if not self.in_swarm:
            raise NotInSwarmError()

    def require_unlocked(self) -> None:
        from swarm.ca.unlockkey import SwarmLockedError

        self.require_swarm()
        if self.locked:
            raise SwarmLockedError()


def test_each_control_rpc_calls_the_control_api_method_of_its_name() -> None:
    api = RecordingAPI()

    class Manager:
        control_api = api

    servicer = servicers.ControlServicer(FakeDaemon(manager=Manager()))
    for rpc in CONTROL.methods:
        request = object()
        answer = asyncio.run(answer_of(getattr(servicer, rpc.name)(request, None)))
        assert answer == ([snake(rpc.name)] if rpc.server_streaming else snake(rpc.name))
        assert api.calls[-1] == (snake(rpc.name), request)


def test_control_is_refused_outside_a_swarm_and_on_workers() -> None:
    with pytest.raises(NotInSwarmError):
        asyncio.run(servicers.ControlServicer(FakeDaemon(in_swarm=False)).ListNodes(None, None))
    with pytest.raises(NotAManagerError):
        asyncio.run(servicers.ControlServicer(FakeDaemon()).ListNodes(None, None))
    from swarm.ca.unlockkey import SwarmLockedError

    with pytest.raises(SwarmLockedError, match="docker swarm unlock"):
        asyncio.run(servicers.ControlServicer(FakeDaemon(locked=True)).ListNodes(None, None))


def test_every_control_api_method_fails_fast_without_a_leader() -> None:
    from swarm.controlapi.common import Context
    from swarm.store import NoLeaderError

    class Leaderless:
        def leader(self) -> None:
            return None

    api = ControlAPI(Context(Leaderless()))
    for rpc in CONTROL.methods:
        with pytest.raises(NoLeaderError):
            asyncio.run(getattr(api, snake(rpc.name))(None))
