"""The joining side against a real manager port: CA pinning (§6.2) and certificate requests."""

from __future__ import annotations

import grpc
import pytest

from swarm.api import control_pb2, control_pb2_grpc, dispatcher_pb2, dispatcher_pb2_grpc, types_pb2
from swarm.ca import (
    CAMismatchError,
    NodeTLS,
    Role,
    RootCA,
    generate_join_token,
    parse_join_token,
)
from swarm.rpc.join import fetch_root_ca, handshake_chain, renew_node_certificate, request_node_certificate
from swarm.rpc.tls import manager_channel, node_client_credentials
from tests.integration.test_tls import Cluster, list_nodes, run, serving

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return Cluster()


@pytest.fixture(scope="module")
def other_cluster() -> Cluster:
    return Cluster()


def test_manager_sends_node_cert_and_root_in_its_chain(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            chain = handshake_chain(s.addr, 5)
            assert [c.subject.rfc4514_string() for c in chain][1] == "CN=swarm-ca"
            assert chain[1] == cluster.root.certificate

    run(body())


def test_fetch_root_ca_with_the_right_digest(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            digest = parse_join_token(cluster.worker_token).ca_digest
            assert await fetch_root_ca(s.addr, digest, 5) == cluster.root.cert_pem
            # The 50-character base-36 form from a token works too.
            assert await fetch_root_ca(s.addr, cluster.root.digest, 5) == cluster.root.cert_pem

    run(body())


def test_fetch_root_ca_with_a_token_of_another_cluster(cluster: Cluster, other_cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            expected = parse_join_token(other_cluster.worker_token).ca_digest
            with pytest.raises(CAMismatchError) as ei:
                await fetch_root_ca(s.addr, expected, 5)
            assert str(ei.value) == f"remote CA does not match fingerprint. Expected: {expected}"

    run(body())


def test_fetch_root_ca_pins_a_bundle_through_the_ca_api(cluster: Cluster, other_cluster: Cluster) -> None:
    """During a root rotation the token pins a bundle of roots, not the single root in the chain."""
    bundle = cluster.root.cert_pem + other_cluster.root.cert_pem
    m = cluster.manager
    tls = NodeTLS(bundle, m.cert_pem, m.key_pem)

    async def body() -> None:
        async with serving(cluster, tls=tls) as s:
            pinned = parse_join_token(generate_join_token(bundle)).ca_digest
            assert await fetch_root_ca(s.addr, pinned, 5) == bundle
            # A token pinning one root of the chain alone gets exactly that root.
            assert await fetch_root_ca(s.addr, cluster.root.digest_hex, 5) == cluster.root.cert_pem
            with pytest.raises(CAMismatchError):
                await fetch_root_ca(s.addr, RootCA.create().digest_hex, 5)

    run(body())


def test_join_as_worker_then_use_the_certificate(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            tls, resp = await request_node_certificate(s.addr, cluster.worker_token, hostname="w", timeout=10)
            ident = tls.identity
            assert (ident.role, ident.cluster_id) == (Role.WORKER, cluster.cluster_id)
            assert ident.node_id == resp.node_id
            assert resp.role == types_pb2.WORKER
            async with manager_channel(s.addr, tls) as ch:
                await dispatcher_pb2_grpc.DispatcherStub(ch).Heartbeat(dispatcher_pb2.HeartbeatRequest())
            with pytest.raises(grpc.RpcError) as ei:
                await list_nodes(s.addr, node_client_credentials(tls))
            assert "not a swarm manager" in ei.value.details()

    run(body())


def test_join_as_manager_with_pending_certificate(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster, pending=True) as s:
            tls, _ = await request_node_certificate(
                s.addr, cluster.manager_token, timeout=10, poll_interval=0.05
            )
            assert tls.identity.role is Role.MANAGER
            assert s.node_ca.polls == 2
            async with manager_channel(s.addr, tls) as ch:
                await control_pb2_grpc.ControlStub(ch).ListNodes(
                    control_pb2.ListNodesRequest()
                )

    run(body())


def test_join_with_a_wrong_secret(cluster: Cluster) -> None:
    forged = cluster.worker_token.rsplit("-", 1)[0] + "-" + "0" * 25

    async def body() -> None:
        async with serving(cluster) as s:
            with pytest.raises(grpc.RpcError) as ei:
                await request_node_certificate(s.addr, forged, timeout=10)
            assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert ei.value.details() == "A valid join token is necessary to join this cluster"

    run(body())


def test_join_with_a_token_of_another_cluster_sends_nothing(cluster: Cluster, other_cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            with pytest.raises(CAMismatchError):
                await request_node_certificate(s.addr, other_cluster.worker_token, timeout=10)
            assert s.node_ca.calls == 0 and s.node_ca.polls == 0

    run(body())


def test_renewal_keeps_node_id_and_needs_no_token(cluster: Cluster) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            renewed = await renew_node_certificate(s.addr, cluster.worker, timeout=10)
            assert renewed.identity.node_id == cluster.worker.identity.node_id
            assert renewed.cert_pem != cluster.worker.cert_pem
            assert renewed.key_pem != cluster.worker.key_pem

    run(body())


def test_impostor_replaying_the_real_root_never_gets_the_token(
    cluster: Cluster, other_cluster: Cluster
) -> None:
    """An impostor (certificates of another CA) that appends the real, public root to its chain
    passes the pin, but not the verified gRPC call that would carry the token."""
    mitm = other_cluster.manager
    tls = NodeTLS(other_cluster.root.cert_pem + cluster.root.cert_pem, mitm.cert_pem, mitm.key_pem)

    async def body() -> None:
        async with serving(other_cluster, tls=tls) as s:
            assert await fetch_root_ca(s.addr, cluster.root.digest_hex, 5) == cluster.root.cert_pem
            with pytest.raises(grpc.RpcError) as ei:
                await request_node_certificate(s.addr, cluster.worker_token, timeout=5)
            assert ei.value.code() == grpc.StatusCode.UNAVAILABLE
            assert s.node_ca.calls == 0

    run(body())
