"""gRPC servicers of the manager port (2377, mutual TLS): CA/NodeCA (join), Dispatcher (agents),
RaftMembership (managers), LogBroker (agents' side of `service logs`) and Logs (clients' side).
Thin: decode, call domain code, encode (a stream from domain code is relayed under ``aclosing``,
so its cleanup runs as soon as the call ends). Authorization by role happens before these run
(swarm.rpc.auth); here the caller's identity is only read. Errors are never mapped here: what the
domain code raises becomes a status in the one interceptor (swarm.rpc.errors).

Leader-only services (the dispatcher, the log broker, Raft membership changes) raise
``NotTheLeaderError`` on a follower, answered UNAVAILABLE with the leader's address in the
message (`leader=<addr>`), and clients go there (swarm.daemon.refusals).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from grpc import aio

from swarm.api import (
    ca_pb2,
    ca_pb2_grpc,
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    raft_pb2,
    raft_pb2_grpc,
)
from swarm.api.types_pb2 import RaftMember
from swarm.daemon.errors import NotAManagerError
from swarm.daemon.membership import join_raft
from swarm.daemon.refusals import UnimplementedError, leader_only
from swarm.dispatcher.logbroker import subscribe_logs
from swarm.rpc.auth import current_identity

log = logging.getLogger(__name__)


def _peer_ip(context: aio.ServicerContext) -> str:
    peer = context.peer() or ""
    # "ipv4:1.2.3.4:5678"
    if peer.startswith("ipv4:"):
        return peer[5:].rsplit(":", 1)[0]
    if peer.startswith("ipv6:"):
        return peer[5:].rsplit(":", 1)[0].strip("[]")
    return ""


def _caller_id() -> str:
    ident = current_identity()
    assert ident is not None, "the auth layer guarantees an identity on these calls"
    return ident.node_id


class CAServicer(ca_pb2_grpc.CAServicer):
    def __init__(self, manager: Any) -> None:
        self.m = manager

    async def GetRootCACertificate(self, request, context):
        return ca_pb2.GetRootCACertificateResponse(certificate=self.m.ca_server.root_ca_pem())


class NodeCAServicer(ca_pb2_grpc.NodeCAServicer):
    def __init__(self, manager: Any) -> None:
        self.m = manager

    async def IssueNodeCertificate(self, request, context):
        ident = current_identity()
        renewing = ident if (ident is not None and not request.token) else None
        return await self.m.ca_server.issue(request, _peer_ip(context), renewing)

    async def NodeCertificateStatus(self, request, context):
        raise UnimplementedError("certificates are issued synchronously")


class DispatcherServicer(dispatcher_pb2_grpc.DispatcherServicer):
    def __init__(self, manager: Any) -> None:
        self.m = manager

    def _dispatcher(self) -> Any:
        return leader_only(self.m.dispatcher, self.m)

    async def Session(self, request, context):
        d = self._dispatcher()
        addr = request.advertise_addr.rsplit(":", 1)[0] if request.advertise_addr else _peer_ip(context)
        async with aclosing(d.session(_caller_id(), request.description, addr,
                                      request.data_path_addr)) as session:
            async for msg in session:
                yield msg

    async def Heartbeat(self, request, context):
        period = self._dispatcher().heartbeat(_caller_id(), request.session_id)
        resp = dispatcher_pb2.HeartbeatResponse()
        resp.period.FromNanoseconds(int(period * 1e9))
        return resp

    async def UpdateTaskStatus(self, request, context):
        self._dispatcher().update_task_status(_caller_id(), request.session_id, list(request.updates))
        return dispatcher_pb2.UpdateTaskStatusResponse()

    async def Assignments(self, request, context):
        async with aclosing(self._dispatcher().assignments(_caller_id(), request.session_id)) as stream:
            async for msg in stream:
                yield msg


class RaftMembershipServicer(raft_pb2_grpc.RaftMembershipServicer):
    def __init__(self, manager: Any) -> None:
        self.m = manager

    async def Join(self, request, context):
        joined = await join_raft(self.m, _caller_id(), request.raft_addr, request.api_addr,
                                 _peer_ip(context))
        resp = raft_pb2.RaftJoinResponse(raft_secret=joined.raft_secret, secrets_key=joined.secrets_key)
        for i, addr in enumerate(joined.members, 1):
            resp.members.append(RaftMember(raft_id=i, addr=addr))
        return resp

    async def Leave(self, request, context):
        raise UnimplementedError("use node demote")

    async def Status(self, request, context):
        st = self.m.store.status()
        leader = self.m.leader_node()
        return raft_pb2.RaftStatusResponse(
            leader_node_id=leader.id if leader else "",
            leader_api_addr=leader.manager_status.addr if leader else "",
            term=int(st.get("term", 0) or 0), commit_index=int(st.get("commit_index", 0) or 0))


class LogBrokerServicer(dispatcher_pb2_grpc.LogBrokerServicer):
    """Agents listen for log subscriptions and publish matching lines (leader only)."""

    def __init__(self, manager: Any) -> None:
        self.m = manager

    def _broker(self) -> Any:
        return leader_only(self.m.logbroker, self.m)

    async def ListenSubscriptions(self, request, context):
        async with aclosing(self._broker().listen(_caller_id())) as stream:
            async for msg in stream:
                yield msg

    async def PublishLogs(self, request_iterator, context):
        b = self._broker()
        node_id = _caller_id()
        async for msg in request_iterator:
            b.publish(node_id, msg)
        return dispatcher_pb2.PublishLogsResponse()


class LogsServicer(dispatcher_pb2_grpc.LogsServicer):
    """`service logs` for clients: served by the leader's broker; a follower relays to it
    (swarm.dispatcher.logbroker.subscribe_logs)."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    async def SubscribeLogs(self, request, context):
        m = self.d.manager
        if m is None:
            raise NotAManagerError()
        async with aclosing(subscribe_logs(m.logbroker, m.leader_api_addr, request,
                                           self._relay)) as stream:
            async for msg in stream:
                yield msg

    async def _relay(self, leader: str, request: dispatcher_pb2.SubscribeLogsRequest,
                     ) -> AsyncGenerator[dispatcher_pb2.SubscribeLogsMessage, None]:
        """The same subscription on the leader's Logs service, over mTLS, without a deadline."""
        from swarm.rpc.tls import manager_channel

        async with manager_channel(leader, self.d.tls, stream_timeout=None) as ch:
            async for msg in dispatcher_pb2_grpc.LogsStub(ch).SubscribeLogs(request):
                yield msg
