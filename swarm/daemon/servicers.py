"""gRPC servicers of the local unix socket: thin — decode, call the daemon, encode.

They never map errors: what they raise (the daemon's, the image store's, the control API's domain
errors) becomes a status in the RPC edge's one interceptor (``swarm.rpc.errors``), by the ``code``
the error classes carry; anything else is a bug, answered INTERNAL with its traceback logged.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from node.images.pullstream import PullProgress
from swarm.api import control_pb2_grpc, daemon_pb2, daemon_pb2_grpc
from swarm.controlapi.api import ControlAPI
from swarm.daemon import containers, containerstats, execs, images, volumes
from swarm.daemon.errors import NotAManagerError


class DaemonServicer(daemon_pb2_grpc.DaemonServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    async def Version(self, request, context):
        return self.d.version()

    async def Info(self, request, context):
        return self.d.info()

    async def Init(self, request, context):
        return await self.d.init(request)

    async def Join(self, request, context):
        return await self.d.join(request)

    async def Leave(self, request, context):
        await self.d.leave(request.force)
        return daemon_pb2.LeaveResponse()

    async def Unlock(self, request, context):
        await self.d.unlock(request.unlock_key)
        return daemon_pb2.UnlockResponse()

    async def ImagePull(self, request, context):
        async for ev in self.d.images.pull_progress(request.reference):
            if isinstance(ev, PullProgress):
                yield daemon_pb2.ImagePullProgress(id=ev.what[:12], status="Downloading",
                                                   current=ev.current, total=ev.total)
                continue
            img = ev.image
            digest = img.repo_digests[0].split("@", 1)[-1] if img.repo_digests else ""
            yield daemon_pb2.ImagePullProgress(
                status=f"Status: Downloaded image for {request.reference}", digest=digest,
                id=img.short_id)

    async def ImageList(self, request, context):
        out = daemon_pb2.ImageListResponse()
        for img in await images.list_images(self.d.images):
            s = out.images.add(id=img.id, repo_tags=list(img.repo_tags),
                               repo_digests=list(img.repo_digests), size=img.size)
            created = _timestamp(img.created)
            if created is not None:
                s.created.CopyFrom(created)
        return out

    async def ImageRemove(self, request, context):
        removed = await images.remove_image(self.d.images, request.reference, request.force)
        return daemon_pb2.ImageRemoveResponse(untagged=removed.untagged, deleted=removed.deleted)

    async def ImageImport(self, request, context):
        refs = await images.import_images(self.d.images, request.path, request.reference or None)
        return daemon_pb2.ImageImportResponse(references=refs)

    async def DistributionInspect(self, request, context):
        return await images.inspect_distribution(self.d.images, request)

    async def VolumeCreate(self, request, context):
        return await volumes.create(self.d.volumes, request)

    async def VolumeList(self, request, context):
        return await volumes.list_volumes(self.d.volumes, request)

    async def VolumeInspect(self, request, context):
        return await volumes.inspect(self.d.volumes, request)

    async def VolumeRemove(self, request, context):
        return await volumes.remove(self.d.volumes, request)

    async def VolumePrune(self, request, context):
        return await volumes.prune(self.d.volumes, request)

    async def ContainerList(self, request, context):
        return await containers.list_containers(self.d, request)

    async def ContainerInspect(self, request, context):
        return await containers.inspect(self.d, request)

    async def ContainerLogs(self, request, context):
        async for line in containers.logs(self.d, request):
            yield line

    async def ContainerTop(self, request, context):
        return await containerstats.top(self.d, request)

    async def ContainerStats(self, request, context):
        async for sample in containerstats.stats(self.d, request):
            yield sample

    async def ExecCreate(self, request, context):
        return await execs.create(self.d, self.d.execs, request)

    async def ExecStart(self, request, context):
        async for chunk in execs.start(self.d, self.d.execs, request):
            yield chunk

    async def ExecInspect(self, request, context):
        return await execs.inspect(self.d.execs, request)


def _timestamp(rfc3339: str) -> Timestamp | None:
    """An image's ``created`` (RFC 3339, as in its config) as a Timestamp; None if absent or
    unreadable."""
    if not rfc3339:
        return None
    ts = Timestamp()
    try:
        ts.FromJsonString(rfc3339 if rfc3339.endswith("Z") else rfc3339 + "Z")
    except ValueError:
        return None
    return ts


class ControlServicer(control_pb2_grpc.ControlServicer):
    """Local entry to the Control API: one line per RPC, served by the manager role (refused
    with ``NotInSwarmError`` / ``NotAManagerError`` elsewhere)."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    def _api(self) -> ControlAPI:
        self.d.require_unlocked()
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

    async def GetUnlockKey(self, request, context):
        return await self._api().get_unlock_key(request)

    async def GetSecret(self, request, context):
        return await self._api().get_secret(request)

    async def ListSecrets(self, request, context):
        return await self._api().list_secrets(request)

    async def CreateSecret(self, request, context):
        return await self._api().create_secret(request)

    async def UpdateSecret(self, request, context):
        return await self._api().update_secret(request)

    async def RemoveSecret(self, request, context):
        return await self._api().remove_secret(request)

    async def GetConfig(self, request, context):
        return await self._api().get_config(request)

    async def ListConfigs(self, request, context):
        return await self._api().list_configs(request)

    async def CreateConfig(self, request, context):
        return await self._api().create_config(request)

    async def UpdateConfig(self, request, context):
        return await self._api().update_config(request)

    async def RemoveConfig(self, request, context):
        return await self._api().remove_config(request)

    async def Events(self, request, context):
        async for event in await self._api().events(request):
            yield event
