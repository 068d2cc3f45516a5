"""Building the two kinds of grpc.aio server a daemon runs.

Design notes
------------
Every server gets the same interceptor stack, in this order: authorization
(``swarm.rpc.auth``) first, so nothing runs for a refused caller, then error mapping
(``swarm.rpc.errors``), then whatever the caller adds. The TCP server is the manager port with
mTLS; the local server is the daemon's unix socket, where the caller is the local admin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from grpc import aio

from swarm.ca import NodeTLS
from swarm.rpc.auth import AuthInterceptor, LocalAuthorizer, PeerTrust, TCPAuthorizer
from swarm.rpc.errors import ErrorInterceptor
from swarm.rpc.tls import SERVER_OPTIONS, server_credentials


def tcp_server(
    tls: NodeTLS | Callable[[], NodeTLS],
    listen_addr: str,
    *,
    is_removed: Callable[[str], bool] | None = None,
    trust: PeerTrust | None = None,
    cluster_id: str | Callable[[], str] | None = None,
    interceptors: Sequence[aio.ServerInterceptor] = (),
    options: Sequence[tuple[str, object]] = (),
) -> tuple[aio.Server, int]:
    """A manager-port server bound to ``listen_addr`` (``host:port``; port 0 picks one).

    Returns ``(server, port)``; register servicers, then ``await server.start()``.
    """
    authorizer = TCPAuthorizer(tls, cluster_id=cluster_id, is_removed=is_removed, trust=trust)
    server = aio.server(
        interceptors=[AuthInterceptor(authorizer), ErrorInterceptor(), *interceptors],
        options=[*SERVER_OPTIONS, *options],
    )
    port = server.add_secure_port(listen_addr, server_credentials(tls))
    if port == 0:
        raise OSError(f"cannot listen on {listen_addr}")
    return server, port


def local_server(
    socket_path: str,
    *,
    is_manager: Callable[[], bool] | None = None,
    is_locked: Callable[[], bool] | None = None,
    interceptors: Sequence[aio.ServerInterceptor] = (),
    options: Sequence[tuple[str, object]] = (),
) -> aio.Server:
    """The daemon's unix-socket server (no TLS; protect the socket with its file mode)."""
    server = aio.server(
        interceptors=[AuthInterceptor(LocalAuthorizer(is_manager=is_manager, is_locked=is_locked)),
                      ErrorInterceptor(), *interceptors],
        options=[("grpc.so_reuseport", 0), *options],
    )
    target = socket_path if socket_path.startswith("unix:") else f"unix://{socket_path}"
    server.add_insecure_port(target)
    return server
