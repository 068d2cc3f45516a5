"""The edge's one way to the daemon: a grpc.aio client of the daemon's own local unix socket.

The Engine API is a thin translation, so it calls exactly the RPCs the `swarm` CLI calls, through
the same socket and the same authorization (a worker's control calls are refused with Docker's
"not a swarm manager" message by the daemon, not here). Every unary call carries a deadline;
a failed call becomes an :class:`~swarm.engineapi.errors.ApiError` here and nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import grpc
from grpc import aio

from swarm.api import control_pb2_grpc, daemon_pb2_grpc, dispatcher_pb2_grpc
from swarm.engineapi.errors import from_rpc

DEADLINE = 30.0


class Backend:
    def __init__(self, socket_path: str) -> None:
        self.target = f"unix://{socket_path}"
        self._channel: aio.Channel | None = None

    @property
    def channel(self) -> aio.Channel:
        if self._channel is None:
            self._channel = aio.insecure_channel(
                self.target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
            )
        return self._channel

    @property
    def daemon(self) -> daemon_pb2_grpc.DaemonStub:
        return daemon_pb2_grpc.DaemonStub(self.channel)

    @property
    def control(self) -> control_pb2_grpc.ControlStub:
        return control_pb2_grpc.ControlStub(self.channel)

    @property
    def logs(self) -> dispatcher_pb2_grpc.LogsStub:
        return dispatcher_pb2_grpc.LogsStub(self.channel)

    async def call(self, method: Any, request: Any, timeout: float = DEADLINE) -> Any:
        """``await method(request)`` with a deadline; an RPC error becomes an ApiError."""
        try:
            return await method(request, timeout=timeout)
        except grpc.RpcError as e:
            raise from_rpc(e) from None

    async def stream(self, method: Any, request: Any,
                     timeout: float | None = None) -> AsyncGenerator[Any, None]:
        """The messages of a server-streaming call; an RPC error becomes an ApiError."""
        call = method(request, timeout=timeout)
        try:
            async for msg in call:
                yield msg
        except grpc.RpcError as e:
            raise from_rpc(e) from None
        finally:
            call.cancel()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
