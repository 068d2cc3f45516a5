"""A worker refuses a manager whose certificate the swarm no longer stands behind (issue 12:
workers kept trusting an ex-manager's certificate as swarm-manager for its whole life)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import tempfile

import pytest

from swarm.ca import RootCA, make_key_and_csr, parse_identity
from swarm.ca.storage import NodeTLS
from swarm.daemon.agent_role import UntrustedManagerError, vet_manager


def tls(root: RootCA, node_id: str, role: str, cluster: str = "c1") -> NodeTLS:
    key, csr = make_key_and_csr()
    return NodeTLS(root_ca_pem=root.cert_pem, key_pem=key,
                   cert_pem=root.issue(csr, node_id, role, cluster, dt.timedelta(hours=2)))


async def serve(server_tls: NodeTLS) -> tuple[asyncio.AbstractServer, str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile() as c, tempfile.NamedTemporaryFile() as k:
        c.write(server_tls.cert_pem)
        k.write(server_tls.key_pem)
        c.flush()
        k.flush()
        ctx.load_cert_chain(c.name, k.name)
    ctx.load_verify_locations(cadata=server_tls.root_ca_pem.decode())
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["h2"])

    async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = srv.sockets[0].getsockname()[1]
    return srv, f"127.0.0.1:{port}"


def check(server_tls: NodeTLS, worker: NodeTLS, revoked: frozenset[str] = frozenset(),
          managers: frozenset[str] = frozenset()) -> None:
    async def main() -> None:
        srv, addr = await serve(server_tls)
        try:
            await vet_manager(addr, worker, "c1", revoked, managers)
        finally:
            srv.close()

    asyncio.run(main())


def test_a_current_manager_is_accepted() -> None:
    root = RootCA.create()
    check(tls(root, "m1", "swarm-manager"), tls(root, "w1", "swarm-worker"), managers=frozenset({"m1"}))


def test_a_revoked_manager_certificate_is_refused() -> None:
    root = RootCA.create()
    ex = tls(root, "m1", "swarm-manager")
    with pytest.raises(UntrustedManagerError, match="revoked"):
        check(ex, tls(root, "w1", "swarm-worker"), revoked=frozenset({parse_identity(ex.cert_pem).serial}))


def test_a_node_that_is_no_longer_a_manager_is_refused() -> None:
    root = RootCA.create()
    with pytest.raises(UntrustedManagerError, match="not a manager any more"):
        check(tls(root, "m1", "swarm-manager"), tls(root, "w1", "swarm-worker"),
              managers=frozenset({"m2", "m3"}))


def test_a_worker_certificate_or_another_cluster_is_refused() -> None:
    root = RootCA.create()
    w = tls(root, "w1", "swarm-worker")
    with pytest.raises(UntrustedManagerError, match="not a manager of this swarm"):
        check(tls(root, "w2", "swarm-worker"), w)
    with pytest.raises(UntrustedManagerError, match="not a manager of this swarm"):
        check(tls(root, "m1", "swarm-manager", cluster="other"), w)


def test_another_root_fails_the_handshake() -> None:
    with pytest.raises(ssl.SSLError):
        check(tls(RootCA.create(), "m1", "swarm-manager"), tls(RootCA.create(), "w1", "swarm-worker"))
