"""TLS credentials and channels for the manager port (2377) and the local socket.

Design notes
------------
**Servers** (managers) present ``node cert + root CA cert`` as their chain. Sending the root lets
a joining node find the self-signed CA in the handshake and pin it against the join token before
it trusts anything (``swarm.rpc.join``). Client certificates are *required* and verified against
the swarm root **plus the public anonymous CA** (``swarm.ca.anonymous``): grpcio cannot "request
but not require" a client certificate, so nodes without a swarm certificate (joining) present an
anonymous one. TLS verification only gets a peer through the door; who it is, and what it may
call, is decided per call by ``swarm.rpc.auth`` against the swarm root alone.

:func:`server_credentials` takes either a fixed :class:`~swarm.ca.NodeTLS` or a callable that
returns the current one. With a callable, grpc asks again on every new connection
(``dynamic_ssl_server_credentials``), so a renewed certificate or a rotated root is served
without restarting the server; existing connections keep their old session.

TLS versions and ciphers are grpc core's (BoringSSL): TLS 1.2 minimum, ECDHE with AES-GCM or
ChaCha20-Poly1305, which is the §6.1 policy; grpc exposes no knob to weaken it.

**Clients** dial managers with the server name ``swarm-manager`` (CA calls: ``swarm-ca``) through
``grpc.ssl_target_name_override``: addresses are never in certificates; the chain to the swarm
root plus the role SAN is what is checked. A worker certificate has no ``swarm-manager`` SAN, so
a worker cannot pose as a manager server either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from grpc import aio

from swarm.ca import NodeTLS, anonymous_ca_pem, anonymous_client_cert
from swarm.rpc.deadlines import CALL_TIMEOUT, DeadlineInterceptor

MANAGER_SERVER_NAME = "swarm-manager"
CA_SERVER_NAME = "swarm-ca"
#: HTTP/2 keepalive so a dead peer is noticed on long-lived streams.
KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
)
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.so_reuseport", 0),
)

TLSSource = NodeTLS | Callable[[], NodeTLS]


def _chain(tls: NodeTLS) -> bytes:
    cert = tls.cert_pem if tls.cert_pem.endswith(b"\n") else tls.cert_pem + b"\n"
    return cert + tls.root_ca_pem


def _client_roots(tls: NodeTLS) -> bytes:
    root = tls.root_ca_pem if tls.root_ca_pem.endswith(b"\n") else tls.root_ca_pem + b"\n"
    return root + anonymous_ca_pem()


def _cert_config(tls: NodeTLS) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration([(tls.key_pem, _chain(tls))], _client_roots(tls))


def server_credentials(source: TLSSource) -> grpc.ServerCredentials:
    """Credentials for a manager's TCP port: chain = node cert + root; client certs required."""
    if isinstance(source, NodeTLS):
        return grpc.ssl_server_credentials(
            [(source.key_pem, _chain(source))],
            root_certificates=_client_roots(source),
            require_client_auth=True,
        )
    get = source
    first = get()
    state = {"current": first}

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        latest = get()
        if latest == state["current"]:
            return None
        state["current"] = latest
        return _cert_config(latest)

    return grpc.dynamic_ssl_server_credentials(_cert_config(first), fetch, require_client_authentication=True)


def client_credentials(
    root_ca_pem: bytes, cert_pem: bytes | None = None, key_pem: bytes | None = None
) -> grpc.ChannelCredentials:
    """Channel credentials trusting ``root_ca_pem``; presents the node's certificate, or the
    anonymous one when none is given (joining)."""
    if (cert_pem is None) != (key_pem is None):
        raise ValueError("give both cert_pem and key_pem, or neither")
    if cert_pem is None or key_pem is None:
        key_pem, cert_pem = anonymous_client_cert()
    return grpc.ssl_channel_credentials(root_ca_pem, key_pem, cert_pem)


def node_client_credentials(tls: NodeTLS) -> grpc.ChannelCredentials:
    return client_credentials(tls.root_ca_pem, tls.cert_pem, tls.key_pem)


def channel_options(server_name: str = MANAGER_SERVER_NAME) -> list[tuple[str, str | int]]:
    return [("grpc.ssl_target_name_override", server_name), *KEEPALIVE_OPTIONS]


def secure_channel(
    addr: str,
    credentials: grpc.ChannelCredentials,
    *,
    server_name: str = MANAGER_SERVER_NAME,
    call_timeout: float = CALL_TIMEOUT,
    stream_timeout: float | None = None,
    interceptors: Sequence[aio.ClientInterceptor] = (),
) -> aio.Channel:
    """A grpc.aio channel to a manager with the server-name override and default deadlines."""
    return aio.secure_channel(
        addr,
        credentials,
        options=channel_options(server_name),
        interceptors=[DeadlineInterceptor(call_timeout, stream_timeout), *interceptors],
    )


def manager_channel(addr: str, tls: NodeTLS, **kw: object) -> aio.Channel:
    """mTLS channel from this node (its certificate) to the manager at ``addr``."""
    return secure_channel(addr, node_client_credentials(tls), **kw)  # type: ignore[arg-type]


def ca_channel(addr: str, root_ca_pem: bytes, **kw: object) -> aio.Channel:
    """Anonymous channel for the join calls, verifying the server against ``root_ca_pem``."""
    kw.setdefault("server_name", CA_SERVER_NAME)
    return secure_channel(addr, client_credentials(root_ca_pem), **kw)  # type: ignore[arg-type]
