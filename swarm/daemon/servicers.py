"""gRPC servicers of the local unix socket: thin — decode, call the daemon, encode.

Domain errors are mapped to status codes in one place (`_abort`), by the `code` attribute the
error classes carry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc import aio

from swarm.api import control_pb2_grpc, daemon_pb2, daemon_pb2_grpc
from swarm.daemon.errors import DaemonError, NotAManagerError

log = logging.getLogger(__name__)
T = TypeVar("T")


def status_for(exc: BaseException) -> grpc.StatusCode:
    from swarm.rpc.errors import code_name_for

    name = code_name_for(exc)
    return getattr(grpc.StatusCode, name) if name else grpc.StatusCode.UNKNOWN


async def call(context: aio.ServicerContext, fn: Callable[[], Awaitable[T]]) -> T:
    """Run domain code; turn a domain error into a gRPC status with its message."""
    try:
        return await fn()
    except Exception as e:  # the edge: every domain error becomes a status, others re-raise
        if status_for(e) != grpc.StatusCode.UNKNOWN or isinstance(e, DaemonError):
            await context.abort(status_for(e), str(e))
        raise
    raise AssertionError("unreachable")


class DaemonServicer(daemon_pb2_grpc.DaemonServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    async def Version(self, request, context):
        return self.d.version()

    async def Info(self, request, context):
        return self.d.info()

    async def Init(self, request, context):
        return await call(context, lambda: self.d.init(request))

    async def Join(self, request, context):
        return await call(context, lambda: self.d.join(request))

    async def Leave(self, request, context):
        async def leave() -> daemon_pb2.LeaveResponse:
            await self.d.leave(request.force)
            return daemon_pb2.LeaveResponse()

        return await call(context, leave)


class ControlServicer(control_pb2_grpc.ControlServicer):
    """Local entry to the Control API: served by the manager role, refused on workers."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    def __getattribute__(self, name: str) -> Any:
        if name[:1].isupper() and name not in ("__class__",):
            return _control_method(object.__getattribute__(self, "d"), name)
        return object.__getattribute__(self, name)


def _control_method(daemon: Any, name: str) -> Callable[..., Awaitable[Any]]:
    async def handler(request: Any, context: aio.ServicerContext) -> Any:
        async def run() -> Any:
            daemon.require_swarm()
            manager = daemon.manager
            if manager is None:
                raise NotAManagerError()
            return await manager.control(name, request)

        return await call(context, run)

    return handler
