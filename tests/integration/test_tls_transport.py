"""Transport facts on a real manager port: TLS versions and ciphers (§6.1), and what grpcio
itself does with client certificates (the reason for swarm.ca.anonymous)."""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import warnings
from pathlib import Path

import grpc
import pytest
from grpc import aio

from swarm.api import ca_pb2, ca_pb2_grpc
from swarm.ca import anonymous_client_cert
from swarm.rpc.tls import node_client_credentials
from tests.integration.test_tls import Cluster, root_ca, run, serving

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return Cluster()


# ---- TLS versions and ciphers (§6.1) ------------------------------------------------------------------


def _tls_probe(addr: str, version: ssl.TLSVersion, ciphers: str, tmp: Path) -> tuple[str | None, str]:
    key_pem, cert_pem = anonymous_client_cert()
    (tmp / "c.pem").write_bytes(cert_pem)
    (tmp / "k.pem").write_bytes(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers(ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = version
    ctx.set_alpn_protocols(["h2"])
    ctx.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        cipher = tls.cipher()
        return tls.version(), cipher[0] if cipher else ""


def test_tls_1_2_minimum_with_aead_ciphers(cluster: Cluster, tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(cluster) as s:
            probe = functools.partial(_tls_probe, s.addr, tmp=tmp_path)
            version, cipher = await asyncio.to_thread(probe, ssl.TLSVersion.TLSv1_2, "ALL:@SECLEVEL=0")
            assert version == "TLSv1.2" and cipher.startswith("ECDHE-")
            assert "GCM" in cipher or "CHACHA" in cipher
            with pytest.raises((ssl.SSLError, OSError)):
                await asyncio.to_thread(probe, ssl.TLSVersion.TLSv1_1, "ALL:@SECLEVEL=0")
            with pytest.raises((ssl.SSLError, OSError)):  # CBC without AEAD is refused
                await asyncio.to_thread(probe, ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0")
            version, _ = await asyncio.to_thread(probe, ssl.TLSVersion.TLSv1_3, "ALL")
            assert version == "TLSv1.3"

    run(body())


# ---- what grpcio does, pinned so a change in grpcio shows up here ----------------------------------------


def test_grpc_without_required_client_auth_never_sees_client_certificates(cluster: Cluster) -> None:
    """Why swarm.ca.anonymous exists: with require_client_auth=False grpcio does not even request
    a client certificate, so a server could authorize nobody. If this starts failing, grpcio has
    learned "request but don't require" and the anonymous certificate could go."""
    seen: list[dict] = []

    class Probe(ca_pb2_grpc.CAServicer):
        async def GetRootCACertificate(self, request, context):  # noqa: N802
            seen.append(context.auth_context())
            return ca_pb2.GetRootCACertificateResponse()

    async def body() -> None:
        server = aio.server()
        ca_pb2_grpc.add_CAServicer_to_server(Probe(), server)
        m = cluster.manager
        creds = grpc.ssl_server_credentials(
            [(m.key_pem, m.cert_pem)], root_certificates=cluster.root.cert_pem, require_client_auth=False
        )
        port = server.add_secure_port("127.0.0.1:0", creds)
        await server.start()
        try:
            await root_ca(f"127.0.0.1:{port}", node_client_credentials(cluster.worker))
        finally:
            await server.stop(None)

    run(body())
    assert seen and "x509_pem_cert" not in seen[0]
