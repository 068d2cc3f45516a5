"""The control API: one async method per Control RPC, each calling its handler function by name.

Every manager serves it against its own replica: writes go through Raft (a follower's write is
forwarded to the leader by the Raft layer and applied with a version check, so validation on a
slightly stale follower can never overwrite newer state), reads come from the local replica
after checking that the cluster has a leader — without one every call fails fast with the
reference's "does not have a leader" message instead of serving stale state or hanging. On a
follower every call first passes a read barrier (``Store.barrier``: an empty entry through the
log, shared by concurrent callers), so it sees every write the cluster acknowledged before it
began, on whichever manager: what Docker gets by proxying a follower's calls to the leader. The
leader reads its own replica as it is.

The handlers live by object kind in :mod:`~swarm.controlapi.nodes`, :mod:`~.cluster`,
:mod:`~.services` (services and tasks) and :mod:`~.networks`; errors are the domain errors of
:mod:`swarm.controlapi.errors` and :mod:`swarm.store.errors`, turned into status codes by the RPC
edge (``swarm.rpc.errors``). The gRPC servicer (``swarm.daemon.servicers.ControlServicer``) has
one line per RPC calling the method of the same name here; a unit test checks that every RPC of
the Control service has both, so a new RPC cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from swarm.api import control_pb2 as c
from swarm.controlapi import cluster, configs, networks, nodes, secrets, services
from swarm.controlapi.common import Context


class ControlAPI:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _fresh(self) -> Context:
        """:meth:`_ready`, and on a follower once the read barrier has passed."""
        ctx = self._ready()
        if not ctx.store.is_leader():
            await ctx.store.barrier()
        return ctx

    def _ready(self) -> Context:
        """The context, once the cluster has a leader (``NoLeaderError`` otherwise)."""
        if self.ctx.store.leader() is None:
            from swarm.store import NoLeaderError

            raise NoLeaderError()
        return self.ctx

    # ---- nodes -------------------------------------------------------------------------------

    async def get_node(self, req: c.GetNodeRequest) -> c.GetNodeResponse:
        return nodes.get_node(await self._fresh(), req)

    async def list_nodes(self, req: c.ListNodesRequest) -> c.ListNodesResponse:
        return nodes.list_nodes(await self._fresh(), req)

    async def update_node(self, req: c.UpdateNodeRequest) -> c.UpdateNodeResponse:
        return await nodes.update_node(await self._fresh(), req)

    async def remove_node(self, req: c.RemoveNodeRequest) -> c.RemoveNodeResponse:
        return await nodes.remove_node(await self._fresh(), req)

    # ---- tasks -------------------------------------------------------------------------------

    async def get_task(self, req: c.GetTaskRequest) -> c.GetTaskResponse:
        return services.get_task(await self._fresh(), req)

    async def list_tasks(self, req: c.ListTasksRequest) -> c.ListTasksResponse:
        return services.list_tasks(await self._fresh(), req)

    # ---- services ----------------------------------------------------------------------------

    async def create_service(self, req: c.CreateServiceRequest) -> c.CreateServiceResponse:
        return await services.create_service(await self._fresh(), req)

    async def get_service(self, req: c.GetServiceRequest) -> c.GetServiceResponse:
        return services.get_service(await self._fresh(), req)

    async def update_service(self, req: c.UpdateServiceRequest) -> c.UpdateServiceResponse:
        return await services.update_service(await self._fresh(), req)

    async def remove_service(self, req: c.RemoveServiceRequest) -> c.RemoveServiceResponse:
        return await services.remove_service(await self._fresh(), req)

    async def list_services(self, req: c.ListServicesRequest) -> c.ListServicesResponse:
        return services.list_services(await self._fresh(), req)

    # ---- networks ----------------------------------------------------------------------------

    async def create_network(self, req: c.CreateNetworkRequest) -> c.CreateNetworkResponse:
        return await networks.create_network(await self._fresh(), req)

    async def get_network(self, req: c.GetNetworkRequest) -> c.GetNetworkResponse:
        return networks.get_network(await self._fresh(), req)

    async def list_networks(self, req: c.ListNetworksRequest) -> c.ListNetworksResponse:
        return networks.list_networks(await self._fresh(), req)

    async def remove_network(self, req: c.RemoveNetworkRequest) -> c.RemoveNetworkResponse:
        return await networks.remove_network(await self._fresh(), req)

    # ---- cluster -----------------------------------------------------------------------------

    async def get_cluster(self, req: c.GetClusterRequest) -> c.GetClusterResponse:
        return cluster.get_cluster(await self._fresh(), req)

    async def list_clusters(self, req: c.ListClustersRequest) -> c.ListClustersResponse:
        return cluster.list_clusters(await self._fresh(), req)

    async def update_cluster(self, req: c.UpdateClusterRequest) -> c.UpdateClusterResponse:
        return await cluster.update_cluster(await self._fresh(), req)

    async def get_unlock_key(self, req: c.GetUnlockKeyRequest) -> c.GetUnlockKeyResponse:
        return cluster.get_unlock_key(await self._fresh(), req)

    # ---- secrets and configs -----------------------------------------------------------------

    async def get_secret(self, req: c.GetSecretRequest) -> c.GetSecretResponse:
        return secrets.get_secret(await self._fresh(), req)

    async def list_secrets(self, req: c.ListSecretsRequest) -> c.ListSecretsResponse:
        return secrets.list_secrets(await self._fresh(), req)

    async def create_secret(self, req: c.CreateSecretRequest) -> c.CreateSecretResponse:
        return await secrets.create_secret(await self._fresh(), req)

    async def update_secret(self, req: c.UpdateSecretRequest) -> c.UpdateSecretResponse:
        return await secrets.update_secret(await self._fresh(), req)

    async def remove_secret(self, req: c.RemoveSecretRequest) -> c.RemoveSecretResponse:
        return await secrets.remove_secret(await self._fresh(), req)

    async def get_config(self, req: c.GetConfigRequest) -> c.GetConfigResponse:
        return configs.get_config(await self._fresh(), req)

    async def list_configs(self, req: c.ListConfigsRequest) -> c.ListConfigsResponse:
        return configs.list_configs(await self._fresh(), req)

    async def create_config(self, req: c.CreateConfigRequest) -> c.CreateConfigResponse:
        return await configs.create_config(await self._fresh(), req)

    async def update_config(self, req: c.UpdateConfigRequest) -> c.UpdateConfigResponse:
        return await configs.update_config(await self._fresh(), req)

    async def remove_config(self, req: c.RemoveConfigRequest) -> c.RemoveConfigResponse:
        return await configs.remove_config(await self._fresh(), req)

    # ---- events ------------------------------------------------------------------------------

    async def events(self, req: c.EventsRequest) -> AsyncIterator[c.EventMessage]:
        """The event stream (``swarm.controlapi.events``); checked before the first event."""
        ctx = self._ready()
        if ctx.events is None:
            from swarm.controlapi.errors import FailedPreconditionError

            raise FailedPreconditionError("this manager does not follow the cluster's events")
        return ctx.events.stream(req.since_nanos, req.until_nanos)


__all__ = ["ControlAPI"]
