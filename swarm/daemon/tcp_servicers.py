"""gRPC servicers of the manager port (2377, mutual TLS): CA/NodeCA (join), Dispatcher (agents),
RaftMembership (managers). Thin: decode, call domain code, encode. Authorization by role happens
before these run (swarm.rpc.auth); here the caller's identity is only read.

Leader-only services (the dispatcher, Raft membership changes) answer UNAVAILABLE on a follower
with the leader's address in the message (`leader=<addr>`), and clients go there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from grpc import aio

from swarm.api import (
    ca_pb2,
    ca_pb2_grpc,
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    raft_pb2,
    raft_pb2_grpc,
)
from swarm.api.objects_pb2 import ManagerStatus, Node
from swarm.api.types_pb2 import MANAGER, RaftMember
from swarm.ca.revocation import revoked_serials
from swarm.daemon.membership import check_raft_join
from swarm.daemon.servicers import status_for
from swarm.rpc.auth import current_identity
from swarm.store import typed
from swarm.store.typed import Reader

log = logging.getLogger(__name__)

NOT_LEADER = "not the leader"


def _peer_ip(context: aio.ServicerContext) -> str:
    peer = context.peer() or ""
    # "ipv4:1.2.3.4:5678"
    if peer.startswith("ipv4:"):
        return peer[5:].rsplit(":", 1)[0]
    if peer.startswith("ipv6:"):
        return peer[5:].rsplit(":", 1)[0].strip("[]")
    return ""


async def _leader_only(component: Any, manager: Any, context: aio.ServicerContext) -> Any:
    """The leader's component, or UNAVAILABLE with the leader's address on a follower."""
    if component is None:
        addr = manager.leader_api_addr() or ""
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"{NOT_LEADER}; leader={addr}")
    return component


async def _abort_for(e: Exception, context: aio.ServicerContext) -> None:
    await context.abort(status_for(e) if status_for(e) != grpc.StatusCode.UNKNOWN
                        else grpc.StatusCode.INTERNAL, str(e))


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
        try:
            return await self.m.ca_server.issue(request, _peer_ip(context), renewing)
        except Exception as e:
            await _abort_for(e, context)

    async def NodeCertificateStatus(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "certificates are issued synchronously")


class DispatcherServicer(dispatcher_pb2_grpc.DispatcherServicer):
    def __init__(self, manager: Any) -> None:
        self.m = manager

    async def _dispatcher(self, context: aio.ServicerContext) -> Any:
        return await _leader_only(self.m.dispatcher, self.m, context)

    def _node_id(self) -> str:
        ident = current_identity()
        assert ident is not None, "the auth layer guarantees an identity on Dispatcher calls"
        return ident.node_id

    async def Session(self, request, context):
        d = await self._dispatcher(context)
        node_id = self._node_id()
        addr = request.advertise_addr.rsplit(":", 1)[0] if request.advertise_addr else _peer_ip(context)
        try:
            s = await d.register(node_id, request.description, addr, request.data_path_addr)
        except Exception as e:
            await _abort_for(e, context)
        q: asyncio.Queue[Any] = asyncio.Queue()
        s.queues.append(q)
        try:
            yield self._session_message(s.session_id, node_id)
            while True:
                try:
                    item = await asyncio.wait_for(q.get(), timeout=2.0)
                except TimeoutError:
                    yield self._session_message(s.session_id, node_id)
                    continue
                if item is None:
                    return
        finally:
            d.close_session(node_id, s.session_id)

    def _session_message(self, session_id: str, node_id: str) -> dispatcher_pb2.SessionMessage:
        r = Reader(self.m.store)
        msg = dispatcher_pb2.SessionMessage(session_id=session_id)
        node = r.get(Node, node_id)
        if node is not None:
            msg.node.CopyFrom(node)
        for n in r.list(Node):
            if n.role == MANAGER and n.manager_status.addr:
                msg.managers.add(node_id=n.id, addr=n.manager_status.addr,
                                 weight=10 if n.manager_status.leader else 1)
        cl = r.cluster()
        if cl is not None:
            msg.root_ca = cl.root_ca.ca_cert
            msg.revoked_serials.extend(sorted(revoked_serials(cl)))
        return msg

    async def Heartbeat(self, request, context):
        d = await self._dispatcher(context)
        try:
            period = d.heartbeat(self._node_id(), request.session_id)
        except Exception as e:
            await _abort_for(e, context)
        resp = dispatcher_pb2.HeartbeatResponse()
        resp.period.FromNanoseconds(int(period * 1e9))
        return resp

    async def UpdateTaskStatus(self, request, context):
        d = await self._dispatcher(context)
        try:
            d.update_task_status(self._node_id(), request.session_id, list(request.updates))
        except Exception as e:
            await _abort_for(e, context)
        return dispatcher_pb2.UpdateTaskStatusResponse()

    async def Assignments(self, request, context):
        d = await self._dispatcher(context)
        try:
            async for msg in d.assignments(self._node_id(), request.session_id):
                yield msg
        except grpc.RpcError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as e:
            await _abort_for(e, context)


class RaftMembershipServicer(raft_pb2_grpc.RaftMembershipServicer):
    def __init__(self, manager: Any) -> None:
        self.m = manager

    async def Join(self, request, context):
        ident = current_identity()
        assert ident is not None
        store = self.m.store
        if not store.is_leader():
            addr = self.m.leader_api_addr() or ""
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{NOT_LEADER}; leader={addr}")
        # One membership change at a time (raft-notes F9.0). The add cannot commit before the
        # new member runs (1 -> 2 members needs both), and it starts only with our answer: so
        # answer at once with the full list, and finish the change in the background while
        # still holding the lock.
        check_raft_join(Reader(store).list(Node), ident.node_id, request.raft_addr, request.api_addr,
                        _peer_ip(context))
        await self.m.membership_lock.acquire()
        members = list(store.members())
        if request.raft_addr in members:
            self.m.membership_lock.release()
            await self._record_manager(ident.node_id, request, len(members))
        else:
            log.info("adding manager %s (%s) to raft", ident.node_id, request.raft_addr)
            members.append(request.raft_addr)
            if self.m.security is not None:
                await self.m.security.admit(request.raft_addr.rsplit(":", 1)[0].strip("[]"))

            async def finish() -> None:
                try:
                    await store.add_member(request.raft_addr, timeout=60.0)
                    await self._record_manager(ident.node_id, request, len(members))
                except Exception as e:
                    log.warning("adding raft member %s: %s", request.raft_addr, e)
                finally:
                    self.m.membership_lock.release()

            self.m.background(finish())
        cl = Reader(store).cluster()
        resp = raft_pb2.RaftJoinResponse(raft_secret=cl.raft_secret if cl else b"")
        for i, addr in enumerate(members, 1):
            resp.members.append(RaftMember(raft_id=i, addr=addr))
        return resp

    async def _record_manager(self, node_id: str, request: Any, raft_id: int) -> None:
        from swarm.store import ConflictError

        store = self.m.store
        for _ in range(8):
            node = Reader(store).get(Node, node_id)
            if node is None:
                return
            node.role = MANAGER
            node.manager_status.CopyFrom(ManagerStatus(
                addr=request.api_addr, raft_addr=request.raft_addr,
                reachability=ManagerStatus.REACHABLE, raft_id=raft_id))
            try:
                await store.apply([typed.update(node)])
                return
            except ConflictError:
                continue

    async def Leave(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "use node demote")

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

    async def _broker(self, context: aio.ServicerContext) -> Any:
        return await _leader_only(self.m.logbroker, self.m, context)

    async def ListenSubscriptions(self, request, context):  # noqa: N802
        b = await self._broker(context)
        ident = current_identity()
        assert ident is not None
        async for msg in b.listen(ident.node_id):
            yield msg

    async def PublishLogs(self, request_iterator, context):  # noqa: N802
        b = await self._broker(context)
        ident = current_identity()
        assert ident is not None
        async for msg in request_iterator:
            b.publish(ident.node_id, msg)
        return dispatcher_pb2.PublishLogsResponse()


class LogsServicer(dispatcher_pb2_grpc.LogsServicer):
    """`service logs` for clients: served by the leader's broker; a follower relays to it."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    async def SubscribeLogs(self, request, context):  # noqa: N802
        from swarm.daemon.errors import NotAManagerError
        from swarm.rpc.tls import manager_channel

        m = self.d.manager
        if m is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(NotAManagerError()))
        if m.logbroker is not None:
            async for msg in m.logbroker.subscribe(request):
                yield msg
            return
        leader = m.leader_api_addr()
        if not leader:
            from swarm.store import NoLeaderError

            await context.abort(grpc.StatusCode.UNAVAILABLE, str(NoLeaderError()))
        async with manager_channel(leader, self.d.tls, stream_timeout=None) as ch:
            stream = dispatcher_pb2_grpc.LogsStub(ch).SubscribeLogs(request)
            async for msg in stream:
                yield msg
