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
from swarm.controlapi.api import ControlAPI
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


    async def ImagePull(self, request, context):  # noqa: N802
        import asyncio

        loop = asyncio.get_running_loop()
        q: asyncio.Queue[daemon_pb2.ImagePullProgress | None] = asyncio.Queue()

        def progress(what: str, current: int, total: int) -> None:
            loop.call_soon_threadsafe(q.put_nowait, daemon_pb2.ImagePullProgress(
                id=what[:12], status="Downloading", current=current, total=total))

        fut = asyncio.ensure_future(asyncio.to_thread(self.d.images.pull, request.reference, progress))
        fut.add_done_callback(lambda _f: q.put_nowait(None))
        while True:
            item = await q.get()
            if item is None:
                break
            yield item
        try:
            img = fut.result()
        except Exception as e:
            await context.abort(_image_status(e), str(e))
        digest = img.repo_digests[0].split("@", 1)[-1] if img.repo_digests else ""
        yield daemon_pb2.ImagePullProgress(status=f"Status: Downloaded image for {request.reference}",
                                           digest=digest, id=img.short_id)

    async def ImageList(self, request, context):  # noqa: N802
        import asyncio

        from google.protobuf.timestamp_pb2 import Timestamp

        out = daemon_pb2.ImageListResponse()
        for img in await asyncio.to_thread(self.d.images.list):
            s = out.images.add(id=img.id, repo_tags=list(img.repo_tags),
                               repo_digests=list(img.repo_digests), size=img.size)
            if img.created:
                ts = Timestamp()
                try:
                    ts.FromJsonString(img.created if img.created.endswith("Z") else img.created + "Z")
                    s.created.CopyFrom(ts)
                except ValueError:
                    pass
        return out

    async def ImageRemove(self, request, context):  # noqa: N802
        import asyncio

        try:
            lines = await asyncio.to_thread(self.d.images.remove, request.reference, request.force)
        except Exception as e:
            await context.abort(_image_status(e), str(e))
        return daemon_pb2.ImageRemoveResponse(
            untagged=[x.split(": ", 1)[1] for x in lines if x.startswith("Untagged")],
            deleted=[x.split(": ", 1)[1] for x in lines if x.startswith("Deleted")])

    async def ImageImport(self, request, context):  # noqa: N802
        import asyncio
        from pathlib import Path

        try:
            imgs = await asyncio.to_thread(self.d.images.import_archive, Path(request.path),
                                           request.reference or None)
        except Exception as e:
            await context.abort(_image_status(e), str(e))
        return daemon_pb2.ImageImportResponse(
            references=[t for img in imgs for t in (img.repo_tags or (img.id,))])


def _image_status(e: Exception) -> grpc.StatusCode:
    """Image errors map through swarm.rpc.errors like every domain error; a bad local path for
    `image import` is the caller's mistake."""
    if isinstance(e, OSError) and status_for(e) == grpc.StatusCode.UNKNOWN:
        return grpc.StatusCode.INVALID_ARGUMENT
    return status_for(e)


class ControlServicer(control_pb2_grpc.ControlServicer):
    """Local entry to the Control API: one line per RPC, served by the manager role (refused
    with ``NotInSwarmError`` / ``NotAManagerError`` elsewhere)."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    def _api(self) -> ControlAPI:
        self.d.require_swarm()
        manager = self.d.manager
        if manager is None:
            raise NotAManagerError()
        api: ControlAPI = manager.control_api
        return api

    async def GetNode(self, request, context):
        return await self._api().get_node(request)

    async def ListNodes(self, request, context):
        return await self._api().list_nodes(request)

    async def UpdateNode(self, request, context):
        return await self._api().update_node(request)

    async def RemoveNode(self, request, context):
        return await self._api().remove_node(request)

    async def GetTask(self, request, context):
        return await self._api().get_task(request)

    async def ListTasks(self, request, context):
        return await self._api().list_tasks(request)

    async def CreateService(self, request, context):
        return await self._api().create_service(request)

    async def GetService(self, request, context):
        return await self._api().get_service(request)

    async def UpdateService(self, request, context):
        return await self._api().update_service(request)

    async def RemoveService(self, request, context):
        return await self._api().remove_service(request)

    async def ListServices(self, request, context):
        return await self._api().list_services(request)

    async def CreateNetwork(self, request, context):
        return await self._api().create_network(request)

    async def GetNetwork(self, request, context):
        return await self._api().get_network(request)

    async def ListNetworks(self, request, context):
        return await self._api().list_networks(request)

    async def RemoveNetwork(self, request, context):
        return await self._api().remove_network(request)

    async def GetCluster(self, request, context):
        return await self._api().get_cluster(request)

    async def ListClusters(self, request, context):
        return await self._api().list_clusters(request)

    async def UpdateCluster(self, request, context):
        return await self._api().update_cluster(request)
