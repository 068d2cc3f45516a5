"""The control API as one object the servicer calls by RPC name.

Every manager serves it against its own replica: writes go through Raft (a follower's write is
forwarded to the leader by the Raft layer and applied with a version check, so validation on a
slightly stale follower can never overwrite newer state), reads come from the local replica
after checking that the cluster has a leader — without one every call fails fast with the
reference's "does not have a leader" message instead of serving stale state or hanging.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from swarm.controlapi import cluster, networks, nodes, services
from swarm.controlapi.common import Context
from swarm.controlapi.errors import ControlError

Handler = Callable[[Context, Any], Any]


class ControlAPI:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.handlers: dict[str, Handler] = {
            "GetNode": nodes.get_node,
            "ListNodes": nodes.list_nodes,
            "UpdateNode": nodes.update_node,
            "RemoveNode": nodes.remove_node,
            "GetCluster": cluster.get_cluster,
            "ListClusters": cluster.list_clusters,
            "UpdateCluster": cluster.update_cluster,
            **services.HANDLERS,
            **networks.HANDLERS,
        }

    def register(self, handlers: dict[str, Handler]) -> None:
        self.handlers.update(handlers)

    async def call(self, name: str, request: Any) -> Any:
        fn = self.handlers.get(name)
        if fn is None:
            raise NotImplementedControlError(f"{name} is not implemented yet")
        if self.ctx.store.leader() is None:
            from swarm.store import NoLeaderError

            raise NoLeaderError()
        result = fn(self.ctx, request)
        if inspect.isawaitable(result):
            result = await result
        return result


class NotImplementedControlError(ControlError):
    code = "UNIMPLEMENTED"


__all__ = ["Awaitable", "ControlAPI"]
