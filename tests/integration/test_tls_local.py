"""The daemon's unix-socket server: local admin, Daemon service, manager gate (§1.1, §6.3)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import grpc
import pytest

from swarm.api import (
    control_pb2,
    control_pb2_grpc,
    daemon_pb2,
    daemon_pb2_grpc,
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    objects_pb2,
)
from swarm.rpc.auth import NOT_A_MANAGER_MESSAGE, PeerKind, current_peer
from swarm.rpc.deadlines import local_channel
from swarm.rpc.server import local_server

pytestmark = pytest.mark.timeout(60)


class Control(control_pb2_grpc.ControlServicer):
    async def ListNodes(self, request, context):  # noqa: N802
        return control_pb2.ListNodesResponse(nodes=[objects_pb2.Node(id=current_peer().kind.value)])


class Daemon(daemon_pb2_grpc.DaemonServicer):
    async def Version(self, request, context):  # noqa: N802
        return daemon_pb2.VersionResponse(version="test")


class Dispatcher(dispatcher_pb2_grpc.DispatcherServicer):
    async def Heartbeat(self, request, context):  # noqa: N802
        return dispatcher_pb2.HeartbeatResponse()


def test_local_socket_rules() -> None:
    is_manager = {"v": True}

    async def body(sock: str) -> None:
        server = local_server(sock, is_manager=lambda: is_manager["v"])
        control_pb2_grpc.add_ControlServicer_to_server(Control(), server)
        daemon_pb2_grpc.add_DaemonServicer_to_server(Daemon(), server)
        dispatcher_pb2_grpc.add_DispatcherServicer_to_server(Dispatcher(), server)
        await server.start()
        try:
            async with local_channel(sock, call_timeout=5) as ch:
                version = await daemon_pb2_grpc.DaemonStub(ch).Version(daemon_pb2.VersionRequest())
                assert version.version == "test"
                control = control_pb2_grpc.ControlStub(ch)
                resp = await control.ListNodes(control_pb2.ListNodesRequest())
                assert resp.nodes[0].id == PeerKind.LOCAL.value
                is_manager["v"] = False
                with pytest.raises(grpc.RpcError) as ei:
                    await control.ListNodes(control_pb2.ListNodesRequest())
                assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                assert ei.value.details() == NOT_A_MANAGER_MESSAGE
                with pytest.raises(grpc.RpcError) as ei:
                    await dispatcher_pb2_grpc.DispatcherStub(ch).Heartbeat(dispatcher_pb2.HeartbeatRequest())
                assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
        finally:
            await server.stop(None)

    # unix socket paths are limited to ~107 bytes: keep it short.
    with tempfile.TemporaryDirectory(prefix="sw-") as d:
        asyncio.run(body(str(Path(d) / "s.sock")))
