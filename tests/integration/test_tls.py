"""Real grpc.aio servers on 127.0.0.1 with mTLS: who may call what (§6.3), error mapping,
deadlines, certificate reloading, and what grpcio itself does with client certificates."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import pytest

from swarm.api import (
    ca_pb2,
    ca_pb2_grpc,
    control_pb2,
    control_pb2_grpc,
    daemon_pb2,
    daemon_pb2_grpc,
    dispatcher_pb2,
    dispatcher_pb2_grpc,
    objects_pb2,
    raft_pb2,
    raft_pb2_grpc,
    types_pb2,
)
from swarm.ca import (
    InvalidTokenError,
    NodeTLS,
    Role,
    RootCA,
    generate_join_token,
    make_key_and_csr,
    new_id,
    parse_identity,
    parse_join_token,
    tokens_match,
)
from swarm.rpc.auth import NOT_A_MANAGER_MESSAGE, current_identity, current_peer
from swarm.rpc.join import handshake_chain
from swarm.rpc.server import tcp_server
from swarm.rpc.tls import client_credentials, manager_channel, node_client_credentials, secure_channel

pytestmark = pytest.mark.timeout(120)


# ---- a small cluster's worth of certificates --------------------------------------------------


def make_node(root: RootCA, cluster_id: str, role: str, node_id: str | None = None) -> NodeTLS:
    key_pem, csr = make_key_and_csr()
    return NodeTLS(root.cert_pem, root.issue(csr, node_id or new_id(), role, cluster_id), key_pem)


@dataclass
class Cluster:
    root: RootCA = field(default_factory=RootCA.create)
    cluster_id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        self.manager = make_node(self.root, self.cluster_id, "swarm-manager")
        self.worker = make_node(self.root, self.cluster_id, "swarm-worker")
        self.worker_token = generate_join_token(self.root.cert_pem)
        self.manager_token = generate_join_token(self.root.cert_pem)


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return Cluster()


@pytest.fixture(scope="module")
def other_cluster() -> Cluster:
    return Cluster()


# ---- stub servicers ------------------------------------------------------------------------------


class NodeNotFound(Exception):
    code = "NOT_FOUND"


class Control(control_pb2_grpc.ControlServicer):
    async def ListNodes(self, request, context):  # noqa: N802
        peer = current_peer()
        return control_pb2.ListNodesResponse(nodes=[objects_pb2.Node(id=peer.node_id or peer.kind.value)])

    async def GetNode(self, request, context):  # noqa: N802
        raise NodeNotFound(f"node {request.node_id} not found")

    async def RemoveNode(self, request, context):  # noqa: N802
        raise RuntimeError("a bug, not a domain error")


class Dispatcher(dispatcher_pb2_grpc.DispatcherServicer):
    async def Heartbeat(self, request, context):  # noqa: N802
        return dispatcher_pb2.HeartbeatResponse()

    async def Session(self, request, context):  # noqa: N802
        ident = current_identity()
        for i in range(3):
            yield dispatcher_pb2.SessionMessage(session_id=f"{ident.node_id if ident else '-'}/{i}")

    async def UpdateTaskStatus(self, request, context):  # noqa: N802
        await asyncio.sleep(float(request.session_id or 60))  # the test says how long to take
        return dispatcher_pb2.UpdateTaskStatusResponse()


class CA(ca_pb2_grpc.CAServicer):
    def __init__(self, bundle: Callable[[], bytes]) -> None:
        self.bundle = bundle

    async def GetRootCACertificate(self, request, context):  # noqa: N802
        return ca_pb2.GetRootCACertificateResponse(certificate=self.bundle())


class NodeCA(ca_pb2_grpc.NodeCAServicer):
    """Just enough of a CA server: token check, signing, renewal, an optional pending state."""

    def __init__(self, cluster: Cluster, pending: bool = False) -> None:
        self.c = cluster
        self.pending = pending
        self.issued: dict[str, bytes] = {}
        self.polls = 0
        self.calls = 0

    async def IssueNodeCertificate(self, request, context):  # noqa: N802
        self.calls += 1
        if request.token:
            parse_join_token(request.token)
            if tokens_match(request.token, self.c.manager_token):
                role = Role.MANAGER
            elif tokens_match(request.token, self.c.worker_token):
                role = Role.WORKER
            else:
                raise InvalidTokenError("secret does not match")
            node_id = new_id()
        else:
            ident = current_identity()
            if ident is None:
                raise InvalidTokenError("renewal needs a node certificate")
            node_id, role = ident.node_id, ident.role
        cert = self.c.root.issue(request.csr, node_id, role, self.c.cluster_id)
        pb_role = types_pb2.MANAGER if role is Role.MANAGER else types_pb2.WORKER
        if self.pending:
            self.issued[node_id] = cert
            return ca_pb2.IssueNodeCertificateResponse(node_id=node_id, role=pb_role)
        return ca_pb2.IssueNodeCertificateResponse(node_id=node_id, role=pb_role, certificate=cert)

    async def NodeCertificateStatus(self, request, context):  # noqa: N802
        self.polls += 1
        if self.polls < 2:
            return ca_pb2.NodeCertificateStatusResponse(state="pending")
        return ca_pb2.NodeCertificateStatusResponse(
            state="issued", certificate=self.issued[request.node_id], root_ca=self.c.root.cert_pem
        )


class Raft(raft_pb2_grpc.RaftMembershipServicer):
    async def Status(self, request, context):  # noqa: N802
        return raft_pb2.RaftStatusResponse()


class Daemon(daemon_pb2_grpc.DaemonServicer):
    async def Version(self, request, context):  # noqa: N802
        return daemon_pb2.VersionResponse(version="test")


@dataclass
class Served:
    addr: str
    node_ca: NodeCA


@contextlib.asynccontextmanager
async def serving(
    cluster: Cluster,
    tls: NodeTLS | Callable[[], NodeTLS] | None = None,
    removed: frozenset[str] = frozenset(),
    pending: bool = False,
) -> AsyncIterator[Served]:
    source = tls or cluster.manager
    server, port = tcp_server(source, "127.0.0.1:0", is_removed=removed.__contains__)
    node_ca = NodeCA(cluster, pending)
    current = (lambda: source) if isinstance(source, NodeTLS) else source
    control_pb2_grpc.add_ControlServicer_to_server(Control(), server)
    dispatcher_pb2_grpc.add_DispatcherServicer_to_server(Dispatcher(), server)
    ca_pb2_grpc.add_CAServicer_to_server(CA(lambda: current().root_ca_pem), server)
    ca_pb2_grpc.add_NodeCAServicer_to_server(node_ca, server)
    raft_pb2_grpc.add_RaftMembershipServicer_to_server(Raft(), server)
    daemon_pb2_grpc.add_DaemonServicer_to_server(Daemon(), server)  # must stay unreachable on TCP
    await server.start()
    try:
        yield Served(f"127.0.0.1:{port}", node_ca)
    finally:
        await server.stop(None)


async def list_nodes(addr: str, creds: grpc.ChannelCredentials) -> str:
    async with secure_channel(addr, creds, call_timeout=5) as ch:
        resp = await control_pb2_grpc.ControlStub(ch).ListNodes(control_pb2.ListNodesRequest())
        return resp.nodes[0].id


async def root_ca(addr: str, creds: grpc.ChannelCredentials) -> bytes:
    async with secure_channel(addr, creds, server_name="swarm-ca", call_timeout=5) as ch:
        resp = await ca_pb2_grpc.CAStub(ch).GetRootCACertificate(ca_pb2.GetRootCACertificateRequest())
        return resp.certificate


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


# ---- who may call what ----------------------------------------------------------------------------


def test_manager_may_call_control_and_handler_sees_its_identity(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            assert await list_nodes(s.addr, node_client_credentials(cluster.manager)) == (
                cluster.manager.identity.node_id
            )

    run(body())


def test_worker_gets_permission_denied_on_control(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            with pytest.raises(grpc.RpcError) as ei:
                await list_nodes(s.addr, node_client_credentials(cluster.worker))
            assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "not a swarm manager" in ei.value.details()
            assert ei.value.details() == NOT_A_MANAGER_MESSAGE

    run(body())


def test_worker_may_use_dispatcher_including_streams(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s, manager_channel(s.addr, cluster.worker) as ch:
            stub = dispatcher_pb2_grpc.DispatcherStub(ch)
            await stub.Heartbeat(dispatcher_pb2.HeartbeatRequest(session_id="x"))
            got = [m.session_id async for m in stub.Session(dispatcher_pb2.SessionRequest())]
            node_id = cluster.worker.identity.node_id
            assert got == [f"{node_id}/0", f"{node_id}/1", f"{node_id}/2"]

    run(body())


def test_worker_may_not_call_raft_membership(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            for tls, ok in ((cluster.manager, True), (cluster.worker, False)):
                async with manager_channel(s.addr, tls) as ch:
                    call = raft_pb2_grpc.RaftMembershipStub(ch).Status(raft_pb2.RaftStatusRequest())
                    if ok:
                        await call
                    else:
                        with pytest.raises(grpc.RpcError) as ei:
                            await call
                        assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED

    run(body())


def test_anonymous_client_may_get_root_ca_but_not_control(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            anon = client_credentials(cluster.root.cert_pem)
            assert await root_ca(s.addr, anon) == cluster.root.cert_pem
            with pytest.raises(grpc.RpcError) as ei:
                await list_nodes(s.addr, anon)
            assert ei.value.code() == grpc.StatusCode.UNAUTHENTICATED
            async with secure_channel(s.addr, anon) as ch:
                with pytest.raises(grpc.RpcError) as ei:
                    await dispatcher_pb2_grpc.DispatcherStub(ch).Heartbeat(dispatcher_pb2.HeartbeatRequest())
                assert ei.value.code() == grpc.StatusCode.UNAUTHENTICATED

    run(body())


def test_client_without_any_certificate_fails_the_handshake(cluster: Cluster) -> None:
    """grpcio cannot make client certificates optional (test_tls_transport.py pins that), so a client
    that presents none is refused by TLS; joining nodes present the anonymous certificate."""

    async def body() -> None:
        async with serving(cluster) as s:
            with pytest.raises(grpc.RpcError) as ei:
                await root_ca(s.addr, grpc.ssl_channel_credentials(cluster.root.cert_pem))
            assert ei.value.code() == grpc.StatusCode.UNAVAILABLE

    run(body())


def test_certificate_from_another_ca_fails(cluster: Cluster, other_cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            # Foreign client cert, even trusting our root for the server: handshake refused.
            foreign = other_cluster.manager
            creds = client_credentials(cluster.root.cert_pem, foreign.cert_pem, foreign.key_pem)
            with pytest.raises(grpc.RpcError) as ei:
                await list_nodes(s.addr, creds)
            assert ei.value.code() == grpc.StatusCode.UNAVAILABLE
            # A client of the other cluster does not trust our server either.
            with pytest.raises(grpc.RpcError) as ei:
                await list_nodes(s.addr, node_client_credentials(other_cluster.manager))
            assert ei.value.code() == grpc.StatusCode.UNAVAILABLE

    run(body())


def test_certificate_of_another_organization_is_refused(cluster: Cluster) -> None:
    stranger = make_node(cluster.root, new_id(), "swarm-manager")

    async def body() -> None:
        async with serving(cluster) as s:
            with pytest.raises(grpc.RpcError) as ei:
                await list_nodes(s.addr, node_client_credentials(stranger))
            assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "not part of organization" in ei.value.details()

    run(body())


def test_removed_node_is_refused(cluster: Cluster) -> None:
    async def body() -> None:
        removed = frozenset({cluster.worker.identity.node_id})
        async with serving(cluster, removed=removed) as s, manager_channel(s.addr, cluster.worker) as ch:
            with pytest.raises(grpc.RpcError) as ei:
                await dispatcher_pb2_grpc.DispatcherStub(ch).Heartbeat(dispatcher_pb2.HeartbeatRequest())
            assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "removed" in ei.value.details()
            # The manager is not on the list.
            assert await list_nodes(s.addr, node_client_credentials(cluster.manager))

    run(body())


def test_daemon_service_is_never_served_on_tcp(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s, manager_channel(s.addr, cluster.manager) as ch:
            with pytest.raises(grpc.RpcError) as ei:
                await daemon_pb2_grpc.DaemonStub(ch).Version(daemon_pb2.VersionRequest())
            assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED

    run(body())


def test_worker_cannot_pose_as_manager_server(cluster: Cluster) -> None:
    """A worker certificate has no swarm-manager SAN: clients refuse it as a server."""

    async def body() -> None:
        async with serving(cluster, tls=cluster.worker) as s:
            with pytest.raises(grpc.RpcError) as ei:
                await list_nodes(s.addr, node_client_credentials(cluster.manager))
            assert ei.value.code() == grpc.StatusCode.UNAVAILABLE

    run(body())


# ---- errors and deadlines -------------------------------------------------------------------------


def test_domain_errors_become_status_codes(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s, manager_channel(s.addr, cluster.manager) as ch:
            stub = control_pb2_grpc.ControlStub(ch)
            with pytest.raises(grpc.RpcError) as ei:
                await stub.GetNode(control_pb2.GetNodeRequest(node_id="abc"))
            assert (ei.value.code(), ei.value.details()) == (grpc.StatusCode.NOT_FOUND, "node abc not found")
            with pytest.raises(grpc.RpcError) as ei:
                await stub.RemoveNode(control_pb2.RemoveNodeRequest(node_id="abc"))
            assert ei.value.code() == grpc.StatusCode.INTERNAL  # a bug: INTERNAL, traceback logged (issue 19)
            async with secure_channel(s.addr, client_credentials(cluster.root.cert_pem)) as anon:
                with pytest.raises(grpc.RpcError) as ei:
                    await ca_pb2_grpc.NodeCAStub(anon).IssueNodeCertificate(
                        ca_pb2.IssueNodeCertificateRequest(csr=make_key_and_csr()[1], token="SWMTKN-1-bad")
                    )
            assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert ei.value.details() == "A valid join token is necessary to join this cluster"

    run(body())


def test_default_deadline_applies_and_explicit_timeout_wins(cluster: Cluster) -> None:
    slow = dispatcher_pb2.UpdateTaskStatusRequest(session_id="60")
    one_second = dispatcher_pb2.UpdateTaskStatusRequest(session_id="1")

    async def body() -> None:
        async with serving(cluster) as s, manager_channel(s.addr, cluster.worker, call_timeout=0.3) as ch:
            stub = dispatcher_pb2_grpc.DispatcherStub(ch)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(grpc.RpcError) as ei:
                await stub.UpdateTaskStatus(slow)  # no timeout given: the channel default applies
            assert ei.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert loop.time() - t0 < 30
            await stub.UpdateTaskStatus(one_second, timeout=20)  # longer than the default: wins

    run(body())


# ---- certificate reload -----------------------------------------------------------------------------


def test_server_serves_a_renewed_certificate_without_restart(cluster: Cluster) -> None:
    current = {"tls": cluster.manager}
    renewed = make_node(cluster.root, cluster.cluster_id, "swarm-manager")

    async def body() -> None:
        async with serving(cluster, tls=lambda: current["tls"]) as s:
            first = await asyncio.to_thread(handshake_chain, s.addr, 5)
            assert parse_identity(first[0]).node_id == cluster.manager.identity.node_id
            current["tls"] = renewed
            second = await asyncio.to_thread(handshake_chain, s.addr, 5)
            assert parse_identity(second[0]).node_id == renewed.identity.node_id
            # The renewed server still authorizes against the same cluster.
            assert await list_nodes(s.addr, node_client_credentials(cluster.manager))
            with pytest.raises(grpc.RpcError) as ei:
                await list_nodes(s.addr, node_client_credentials(cluster.worker))
            assert ei.value.code() == grpc.StatusCode.PERMISSION_DENIED

    run(body())
