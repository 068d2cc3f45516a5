"""Who may call which RPC: the one table, and the interceptor that enforces it.

Design notes
------------
:data:`SERVICE_RULES` is the §6.3 table, per service (``METHOD_RULES`` refines single methods).
:data:`RPC_ACCESS` expands it to full method names read from the generated modules' service
descriptors, so it follows ``proto/`` without being edited by hand; a method with no rule is
refused, and a unit test fails when a service in ``swarm.api`` has no rule.

=================================  ==================  ===========  ============
service                            callers             TCP (2377)   unix socket
=================================  ==================  ===========  ============
CA, NodeCA                         anyone (token)      yes          no
Dispatcher, LogBroker              worker, manager     yes          no
Logs                               manager             yes [2]      yes [1]
Control                            manager             no [3]       yes [1]
RaftMembership                     manager             yes          no
Daemon                             local admin         no           yes
=================================  ==================  ===========  ============

[1] On the unix socket the caller is the local administrator (the socket's file mode is the
access control); a manager-only call is then refused when *this node* is not a manager, with the
§1.1 message, if the server was given an ``is_manager`` callable.
[2] A follower relays ``service logs`` to the leader's broker over the manager port.
[3] Allowed by the table, but no Control servicer is registered on the manager port: every
manager serves the control API from its own replica on its local socket.

A certificate alone is not enough (it says what its holder *was* when it was signed, for 90
days): with a :class:`PeerTrust` (the daemon's, reading the store) a manager-only call is also
refused when the certificate's serial is revoked (a demoted manager's manager certificates; a
removed node is refused by its node id everywhere) or when the caller's node is not a manager
*now* in the store (``RaftMembership.Join`` only needs the desired role to be manager: the node
becomes one by joining). A revoked certificate keeps what any node may do, so a demoted manager
can still learn from the dispatcher that it is a worker now.

Where the check runs: a grpc.aio server interceptor sees only the method name, not the TLS peer,
so :class:`AuthInterceptor` wraps the method handler (``swarm.rpc.handlers``) and checks inside
the call with ``context.auth_context()`` (verified in ``tests/integration/test_tls.py`` on grpcio
1.85). On TCP it takes the peer's leaf certificate (``x509_pem_cert``), verifies it against the
swarm root with ``swarm.ca.verify_chain`` (gRPC's own verification also accepted the public
anonymous CA, see ``swarm.ca.anonymous``), then checks the validity window, O = cluster ID, the
removed-node list, and OU against the rule. Outcomes:

- no swarm certificate (anonymous, or not from this root) on a non-anonymous RPC →
  ``UNAUTHENTICATED``;
- certificate of another cluster, removed node, or a role not allowed → ``PERMISSION_DENIED``;
  a worker calling a manager-only RPC gets the §1.1 "not a swarm manager" message.

Signature checks are cached per (certificate, roots) pair; time, cluster and removal are checked
on every call. The caller is published to the servicer through a ``ContextVar``:
:func:`current_peer` / :func:`current_identity` (each RPC runs in its own task, so the value is
private to the call).
"""

from __future__ import annotations

import enum
import functools
import importlib
import logging
import pkgutil
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

import grpc
from grpc import aio

from swarm.ca import (
    Identity,
    InvalidCertificateError,
    NodeTLS,
    Role,
    is_anonymous,
    load_certificate,
    parse_identity,
    verify_chain,
)
from swarm.ca.certs import utcnow
from swarm.rpc.handlers import wrap_handler

log = logging.getLogger(__name__)

NOT_A_MANAGER_MESSAGE = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a manager."
)
EXPIRED_MESSAGE = "Swarm certificates have expired. To replace them, leave the swarm and join again."
CERT_REQUIRED_MESSAGE = "a certificate issued by this swarm's root CA is required"


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may call: ``roles`` (empty = anyone, the token being the credential) and where."""

    roles: frozenset[Role]
    tcp: bool = True
    local: bool = False

    @property
    def anonymous(self) -> bool:
        return not self.roles

    @property
    def manager_only(self) -> bool:
        return self.roles == frozenset({Role.MANAGER})


ANYONE = Rule(frozenset())
NODES = Rule(frozenset({Role.WORKER, Role.MANAGER}))
MANAGERS = Rule(frozenset({Role.MANAGER}))
MANAGERS_AND_LOCAL = Rule(frozenset({Role.MANAGER}), tcp=True, local=True)
LOCAL_ONLY = Rule(frozenset(), tcp=False, local=True)

SERVICE_RULES: dict[str, Rule] = {
    "swarm.api.CA": ANYONE,
    "swarm.api.NodeCA": ANYONE,
    "swarm.api.Dispatcher": NODES,
    "swarm.api.LogBroker": NODES,
    "swarm.api.Control": MANAGERS_AND_LOCAL,
    "swarm.api.Logs": MANAGERS_AND_LOCAL,
    "swarm.api.RaftMembership": MANAGERS,
    "swarm.api.Daemon": LOCAL_ONLY,
}
#: Per-method exceptions to the service rule, by full method name.
METHOD_RULES: dict[str, Rule] = {}


def api_services() -> dict[str, list[str]]:
    """``{service full name: [full method names]}`` for every service in ``swarm.api``."""
    import swarm.api

    out: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(swarm.api.__path__):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"swarm.api.{info.name}")
        for svc in module.DESCRIPTOR.services_by_name.values():
            out[svc.full_name] = [f"/{svc.full_name}/{m.name}" for m in svc.methods]
    return out


def build_access_table() -> dict[str, Rule]:
    table: dict[str, Rule] = {}
    for service, methods in api_services().items():
        rule = SERVICE_RULES.get(service)
        for method in methods:
            r = METHOD_RULES.get(method, rule)
            if r is not None:
                table[method] = r
    return table


RPC_ACCESS: Mapping[str, Rule] = build_access_table()


class PeerKind(enum.StrEnum):
    NODE = "node"
    ANONYMOUS = "anonymous"
    LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Peer:
    """The caller of the current RPC."""

    kind: PeerKind
    identity: Identity | None = None

    @property
    def node_id(self) -> str | None:
        return self.identity.node_id if self.identity else None

    @property
    def role(self) -> Role | None:
        return self.identity.role if self.identity else None


ANONYMOUS_PEER = Peer(PeerKind.ANONYMOUS)
LOCAL_ADMIN = Peer(PeerKind.LOCAL)

_current_peer: ContextVar[Peer | None] = ContextVar("swarm_rpc_peer", default=None)


def current_peer() -> Peer:
    """The caller of the RPC being served; only inside a call that went through the interceptor."""
    peer = _current_peer.get()
    if peer is None:
        raise LookupError("no authorized RPC caller in this context")
    return peer


def current_identity() -> Identity | None:
    """The calling node's certificate identity, or None (anonymous or local caller)."""
    peer = _current_peer.get()
    return peer.identity if peer else None


def peer_certificate(context: aio.ServicerContext) -> bytes | None:
    """The peer's leaf certificate (PEM) from the call's TLS auth context, if any."""
    values = (context.auth_context() or {}).get("x509_pem_cert") or []
    return values[0] if values else None


class Denied(Exception):
    """An authorization refusal: the interceptor turns it into ``code`` with ``message``."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@functools.lru_cache(maxsize=2048)
def _classify(cert_pem: bytes, roots_pem: bytes) -> tuple[Identity | None, str]:
    """Signature-only classification of a peer certificate (cached; time is checked per call)."""
    try:
        verify_chain(cert_pem, roots_pem, check_time=False)
        return parse_identity(cert_pem), ""
    except InvalidCertificateError as exc:
        try:
            anon = is_anonymous(load_certificate(cert_pem))
        except InvalidCertificateError:
            anon = False
        return None, "" if anon else str(exc)


@functools.lru_cache(maxsize=16)
def _own_cluster_id(cert_pem: bytes) -> str:
    return parse_identity(cert_pem).cluster_id


class PeerTrust(Protocol):
    """What the store says about a certificate beyond its signature (see swarm.daemon.trust)."""

    def is_revoked(self, identity: Identity) -> bool: ...

    def is_current_manager(self, identity: Identity, method: str) -> bool: ...


REVOKED_MESSAGE = "Permission denied: this node certificate has been revoked"


class Authorizer:
    """Decides, for one call, whether it may proceed and who the caller is."""

    def authorize(self, method: str, context: aio.ServicerContext) -> Peer:  # pragma: no cover
        raise NotImplementedError


def _lookup(table: Mapping[str, Rule], method: str) -> Rule:
    rule = table.get(method)
    if rule is None:
        raise Denied(grpc.StatusCode.PERMISSION_DENIED, f"no access rule for {method}")
    return rule


class TCPAuthorizer(Authorizer):
    """Certificate-based authorization for the manager port.

    ``tls`` is this manager's :class:`NodeTLS` (or a callable returning the current one): its
    root is what peers must chain to, and its O is the cluster ID unless ``cluster_id`` is given.
    ``is_removed(node_id)`` is the blacklist of removed nodes (``node rm``).
    """

    def __init__(
        self,
        tls: NodeTLS | Callable[[], NodeTLS],
        *,
        cluster_id: str | Callable[[], str] | None = None,
        is_removed: Callable[[str], bool] | None = None,
        trust: PeerTrust | None = None,
        table: Mapping[str, Rule] | None = None,
    ) -> None:
        self._tls = tls
        self._cluster_id = cluster_id
        self._is_removed = is_removed
        self._trust = trust
        self._table = RPC_ACCESS if table is None else table

    def _current_tls(self) -> NodeTLS:
        return self._tls if isinstance(self._tls, NodeTLS) else self._tls()

    def cluster_id(self) -> str:
        if self._cluster_id is None:
            return _own_cluster_id(self._current_tls().cert_pem)
        return self._cluster_id if isinstance(self._cluster_id, str) else self._cluster_id()

    def peer_for(self, cert_pem: bytes | None) -> tuple[Peer, str]:
        """Classify a peer certificate: a NODE peer (signature checked), or ANONYMOUS with the
        reason it is not a node ("" when it simply is anonymous)."""
        if cert_pem is None:
            return ANONYMOUS_PEER, ""
        identity, reason = _classify(cert_pem, self._current_tls().root_ca_pem)
        if identity is None:
            return ANONYMOUS_PEER, reason
        return Peer(PeerKind.NODE, identity), ""

    def authorize(self, method: str, context: aio.ServicerContext) -> Peer:
        rule = _lookup(self._table, method)
        if not rule.tcp:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED, f"{method} is only served on the local socket")
        peer, reason = self.peer_for(peer_certificate(context))
        if rule.anonymous:
            return peer
        identity = peer.identity
        if identity is None:
            msg = f"{CERT_REQUIRED_MESSAGE}: {reason}" if reason else CERT_REQUIRED_MESSAGE
            raise Denied(grpc.StatusCode.UNAUTHENTICATED, msg)
        now = utcnow()
        if (identity.not_before and now < identity.not_before) or now > identity.not_after:
            raise Denied(grpc.StatusCode.UNAUTHENTICATED, EXPIRED_MESSAGE)
        cluster_id = self.cluster_id()
        if identity.cluster_id != cluster_id:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED,
                         f"Permission denied: remote certificate not part of organization: {cluster_id}")
        if self._is_removed is not None and self._is_removed(identity.node_id):
            raise Denied(grpc.StatusCode.PERMISSION_DENIED,
                         f"Permission denied: node {identity.node_id} was removed from the swarm")
        if identity.role not in rule.roles:
            if rule.manager_only:
                raise Denied(grpc.StatusCode.PERMISSION_DENIED, NOT_A_MANAGER_MESSAGE)
            raise Denied(grpc.StatusCode.PERMISSION_DENIED,
                         f"Permission denied: unauthorized peer role: {identity.role}")
        if Role.WORKER not in rule.roles and self._trust is not None:
            # a revoked certificate loses its manager rights; its node keeps what any node may
            # do (a demoted manager must still reach the dispatcher to learn it is a worker
            # now and fetch its worker certificate; a removed node is refused above)
            if self._trust.is_revoked(identity):
                raise Denied(grpc.StatusCode.PERMISSION_DENIED, REVOKED_MESSAGE)
            if not self._trust.is_current_manager(identity, method):
                raise Denied(grpc.StatusCode.PERMISSION_DENIED, NOT_A_MANAGER_MESSAGE)
        return peer


class LocalAuthorizer(Authorizer):
    """The unix socket: the caller is the local administrator.

    ``is_manager()`` (optional) says whether this node is currently a manager; manager-only
    calls are refused with the §1.1 message (``FAILED_PRECONDITION``) when it returns False,
    and with dockerd's locked message (``UNAVAILABLE``) when ``is_locked()`` returns True.
    """

    def __init__(self, *, is_manager: Callable[[], bool] | None = None,
                 is_locked: Callable[[], bool] | None = None,
                 table: Mapping[str, Rule] | None = None) -> None:
        self._is_manager = is_manager
        self._is_locked = is_locked
        self._table = RPC_ACCESS if table is None else table

    def authorize(self, method: str, context: aio.ServicerContext) -> Peer:
        rule = _lookup(self._table, method)
        if not rule.local:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED, f"{method} is not served on the local socket")
        if rule.manager_only and self._is_locked is not None and self._is_locked():
            from swarm.ca.unlockkey import LOCKED_MESSAGE  # a manager restarted under autolock

            raise Denied(grpc.StatusCode.UNAVAILABLE, LOCKED_MESSAGE)
        if rule.manager_only and self._is_manager is not None and not self._is_manager():
            raise Denied(grpc.StatusCode.FAILED_PRECONDITION, NOT_A_MANAGER_MESSAGE)
        return LOCAL_ADMIN


class AuthInterceptor(aio.ServerInterceptor):
    """Enforces an :class:`Authorizer` on every call and publishes the caller (``current_peer``)."""

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method

        async def before(_request: object, context: aio.ServicerContext) -> None:
            try:
                peer = self.authorizer.authorize(method, context)
            except Denied as denied:
                log.info("refused %s from %s: %s %s", method, context.peer(), denied.code.name,
                         denied.message)
                await context.abort(denied.code, denied.message)
            _current_peer.set(peer)

        return wrap_handler(handler, before=before)
