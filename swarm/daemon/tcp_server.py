"""The manager port (2377 by default): mTLS gRPC server with CA, NodeCA, Dispatcher,
RaftMembership, LogBroker and Logs (swarm.daemon.tcp_servicers), authorized by certificate role
(swarm.rpc.auth), errors mapped to status codes by the one interceptor (swarm.rpc.errors)."""

from __future__ import annotations

from typing import Any

from grpc import aio

from swarm.api import ca_pb2_grpc, dispatcher_pb2_grpc, raft_pb2_grpc
from swarm.daemon.tcp_servicers import (
    CAServicer,
    DispatcherServicer,
    LogBrokerServicer,
    LogsServicer,
    NodeCAServicer,
    RaftMembershipServicer,
)
from swarm.rpc.server import tcp_server
from swarm.store.typed import Reader


async def start_manager_server(daemon: Any, listen_addr: str) -> aio.Server:
    manager = daemon.manager

    def removed(node_id: str) -> bool:
        cl = Reader(manager.store).cluster()
        return cl is not None and node_id in cl.removed_nodes

    server, _port = tcp_server(lambda: daemon.tls, listen_addr, is_removed=removed,
                               trust=manager.trust, cluster_id=daemon.state.cluster_id)
    ca_pb2_grpc.add_CAServicer_to_server(CAServicer(manager), server)
    ca_pb2_grpc.add_NodeCAServicer_to_server(NodeCAServicer(manager), server)
    dispatcher_pb2_grpc.add_DispatcherServicer_to_server(DispatcherServicer(manager), server)
    raft_pb2_grpc.add_RaftMembershipServicer_to_server(RaftMembershipServicer(manager), server)
    dispatcher_pb2_grpc.add_LogBrokerServicer_to_server(LogBrokerServicer(manager), server)
    dispatcher_pb2_grpc.add_LogsServicer_to_server(LogsServicer(daemon), server)
    await server.start()
    return server


__all__ = ["start_manager_server"]
