"""Authorization decisions without a server: fake contexts carrying an auth context."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from swarm.ca import NodeTLS, RootCA, anonymous_client_cert, make_key_and_csr, new_id
from swarm.rpc.auth import (
    LOCAL_ADMIN,
    NOT_A_MANAGER_MESSAGE,
    Denied,
    LocalAuthorizer,
    PeerKind,
    TCPAuthorizer,
)

CONTROL = "/swarm.api.Control/ListNodes"
DISPATCH = "/swarm.api.Dispatcher/Heartbeat"
JOIN = "/swarm.api.NodeCA/IssueNodeCertificate"
DAEMON = "/swarm.api.Daemon/Version"


class Ctx:
    def __init__(self, cert_pem: bytes | None) -> None:
        self._auth: dict[str, Any] = {"transport_security_type": [b"ssl"]}
        if cert_pem is not None:
            self._auth["x509_pem_cert"] = [cert_pem]

    def auth_context(self) -> dict[str, Any]:
        return self._auth


@pytest.fixture(scope="module")
def root() -> RootCA:
    return RootCA.create()


@pytest.fixture(scope="module")
def cluster_id() -> str:
    return new_id()


def node(root: RootCA, cluster_id: str, role: str, expiry: dt.timedelta = dt.timedelta(hours=2)) -> NodeTLS:
    key, csr = make_key_and_csr()
    return NodeTLS(root.cert_pem, root.issue(csr, new_id(), role, cluster_id, expiry), key)


@pytest.fixture(scope="module")
def manager(root: RootCA, cluster_id: str) -> NodeTLS:
    return node(root, cluster_id, "swarm-manager")


@pytest.fixture(scope="module")
def worker(root: RootCA, cluster_id: str) -> NodeTLS:
    return node(root, cluster_id, "swarm-worker")


def deny(auth: Any, method: str, ctx: Ctx) -> Denied:
    with pytest.raises(Denied) as ei:
        auth.authorize(method, ctx)
    return ei.value


def test_manager_allowed_everywhere_on_tcp(manager: NodeTLS) -> None:
    auth = TCPAuthorizer(manager)
    for method in (CONTROL, DISPATCH, JOIN):
        peer = auth.authorize(method, Ctx(manager.cert_pem))
        assert peer.kind is PeerKind.NODE and peer.node_id == manager.identity.node_id


def test_worker_gets_the_manager_message(manager: NodeTLS, worker: NodeTLS) -> None:
    auth = TCPAuthorizer(manager)
    assert auth.authorize(DISPATCH, Ctx(worker.cert_pem)).role == "swarm-worker"
    d = deny(auth, CONTROL, Ctx(worker.cert_pem))
    assert d.code == grpc.StatusCode.PERMISSION_DENIED and d.message == NOT_A_MANAGER_MESSAGE


def test_anonymous_and_certless_callers(manager: NodeTLS) -> None:
    auth = TCPAuthorizer(manager)
    anon_cert = anonymous_client_cert()[1]
    for ctx in (Ctx(None), Ctx(anon_cert)):
        assert auth.authorize(JOIN, ctx).kind is PeerKind.ANONYMOUS
        d = deny(auth, DISPATCH, ctx)
        assert d.code == grpc.StatusCode.UNAUTHENTICATED


def test_forged_manager_subject_under_anonymous_ca_is_anonymous(manager: NodeTLS, cluster_id: str) -> None:
    """Anyone can mint certificates under the public anonymous CA, with any subject: they
    must never become a node identity."""
    from swarm.ca import anonymous as anon_mod

    ca_key = anon_mod._ca_key()
    key, _ = make_key_and_csr()
    leaf_key = serialization.load_pem_private_key(key, None)
    now = dt.datetime.now(dt.UTC)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, manager.identity.node_id),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-manager"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
        ]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, anon_mod.ANONYMOUS_CA_CN)]))
        .public_key(leaf_key.public_key())  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(ca_key, hashes.SHA256())
    )
    pem = forged.public_bytes(serialization.Encoding.PEM)
    auth = TCPAuthorizer(manager)
    assert deny(auth, CONTROL, Ctx(pem)).code == grpc.StatusCode.UNAUTHENTICATED
    assert auth.authorize(JOIN, Ctx(pem)).identity is None


def test_cert_of_other_root_is_not_an_identity(manager: NodeTLS, cluster_id: str) -> None:
    stranger = node(RootCA.create(), cluster_id, "swarm-manager")
    d = deny(TCPAuthorizer(manager), CONTROL, Ctx(stranger.cert_pem))
    assert d.code == grpc.StatusCode.UNAUTHENTICATED and "not signed by the swarm root CA" in d.message


def test_other_organization(root: RootCA, manager: NodeTLS) -> None:
    other = node(root, new_id(), "swarm-manager")
    d = deny(TCPAuthorizer(manager), CONTROL, Ctx(other.cert_pem))
    assert d.code == grpc.StatusCode.PERMISSION_DENIED and "organization" in d.message


def test_explicit_cluster_id_callable(manager: NodeTLS) -> None:
    auth = TCPAuthorizer(manager, cluster_id=lambda: "somethingelse")
    assert deny(auth, CONTROL, Ctx(manager.cert_pem)).code == grpc.StatusCode.PERMISSION_DENIED


def test_removed_node(manager: NodeTLS, worker: NodeTLS) -> None:
    removed = {worker.identity.node_id}
    auth = TCPAuthorizer(manager, is_removed=removed.__contains__)
    d = deny(auth, DISPATCH, Ctx(worker.cert_pem))
    assert d.code == grpc.StatusCode.PERMISSION_DENIED and worker.identity.node_id in d.message
    removed.clear()
    auth.authorize(DISPATCH, Ctx(worker.cert_pem))


def test_expired_certificate_is_refused_even_when_cached(
    monkeypatch: pytest.MonkeyPatch, manager: NodeTLS, worker: NodeTLS
) -> None:
    import swarm.rpc.auth as auth_mod

    auth = TCPAuthorizer(manager)
    auth.authorize(DISPATCH, Ctx(worker.cert_pem))  # cached as valid
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    monkeypatch.setattr(auth_mod, "utcnow", lambda: later)
    d = deny(auth, DISPATCH, Ctx(worker.cert_pem))
    assert d.code == grpc.StatusCode.UNAUTHENTICATED and "expired" in d.message


def test_unknown_method_and_daemon_on_tcp(manager: NodeTLS) -> None:
    auth = TCPAuthorizer(manager)
    unknown = deny(auth, "/swarm.api.Nope/Nothing", Ctx(manager.cert_pem))
    assert unknown.code == grpc.StatusCode.PERMISSION_DENIED
    assert deny(auth, DAEMON, Ctx(manager.cert_pem)).code == grpc.StatusCode.PERMISSION_DENIED


def test_root_follows_the_tls_source(root: RootCA, cluster_id: str, manager: NodeTLS) -> None:
    """After a root change the authorizer checks against the new root."""
    new_root = RootCA.create()
    current = {"tls": manager}
    auth = TCPAuthorizer(lambda: current["tls"])
    new_manager = node(new_root, cluster_id, "swarm-manager")
    assert deny(auth, CONTROL, Ctx(new_manager.cert_pem)).code == grpc.StatusCode.UNAUTHENTICATED
    current["tls"] = new_manager
    assert auth.authorize(CONTROL, Ctx(new_manager.cert_pem)).kind is PeerKind.NODE
    assert deny(auth, CONTROL, Ctx(manager.cert_pem)).code == grpc.StatusCode.UNAUTHENTICATED


def test_local_authorizer() -> None:
    is_manager = {"v": True}
    auth = LocalAuthorizer(is_manager=lambda: is_manager["v"])
    assert auth.authorize(DAEMON, Ctx(None)) is LOCAL_ADMIN
    assert auth.authorize(CONTROL, Ctx(None)) is LOCAL_ADMIN
    is_manager["v"] = False
    d = deny(auth, CONTROL, Ctx(None))
    assert d.code == grpc.StatusCode.FAILED_PRECONDITION and "not a swarm manager" in d.message
    assert auth.authorize(DAEMON, Ctx(None)) is LOCAL_ADMIN
    assert deny(auth, DISPATCH, Ctx(None)).code == grpc.StatusCode.PERMISSION_DENIED
    assert deny(auth, JOIN, Ctx(None)).code == grpc.StatusCode.PERMISSION_DENIED
    assert LocalAuthorizer().authorize(CONTROL, Ctx(None)) is LOCAL_ADMIN


def test_local_authorizer_on_a_locked_manager() -> None:
    locked = {"v": True}
    auth = LocalAuthorizer(is_manager=lambda: False, is_locked=lambda: locked["v"])
    d = deny(auth, CONTROL, Ctx(None))
    assert d.code == grpc.StatusCode.UNAVAILABLE and d.message.startswith("Swarm is encrypted and needs")
    assert auth.authorize(DAEMON, Ctx(None)) is LOCAL_ADMIN       # info, unlock, leave still answer
    locked["v"] = False
    assert deny(auth, CONTROL, Ctx(None)).code == grpc.StatusCode.FAILED_PRECONDITION
