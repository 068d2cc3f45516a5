"""Every client call carries a deadline.

Design notes
------------
:class:`DeadlineInterceptor` is a grpc.aio client interceptor for all four call shapes. A call
made without ``timeout=`` gets the channel's default: ``call_timeout`` (``CALL_TIMEOUT`` = 10 s)
for calls with a single response. Calls with a *streaming response* (dispatcher ``Session``,
``Assignments``, log subscriptions) are meant to live as long as the node does; they get
``stream_timeout``, None by default, and rely on the dispatcher heartbeat to notice a dead peer.
A caller may always pass its own ``timeout=``, which wins.

This module imports nothing from the PKI, so the CLI can use it (the CLI is forbidden to import
``swarm.ca``); :func:`local_channel` is the CLI's channel to the daemon's unix socket.
"""

from __future__ import annotations

from collections.abc import Sequence

from grpc import aio

CALL_TIMEOUT = 10.0


def _with_timeout(details: aio.ClientCallDetails, timeout: float | None) -> aio.ClientCallDetails:
    if details.timeout is not None or timeout is None:
        return details
    return aio.ClientCallDetails(
        details.method, timeout, details.metadata, details.credentials, details.wait_for_ready
    )


class DeadlineInterceptor(
    aio.UnaryUnaryClientInterceptor,
    aio.UnaryStreamClientInterceptor,
    aio.StreamUnaryClientInterceptor,
    aio.StreamStreamClientInterceptor,
):
    """Adds a default deadline to calls that were made without one."""

    def __init__(self, call_timeout: float = CALL_TIMEOUT, stream_timeout: float | None = None) -> None:
        self.call_timeout = call_timeout
        self.stream_timeout = stream_timeout

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(_with_timeout(client_call_details, self.call_timeout), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(_with_timeout(client_call_details, self.stream_timeout), request)

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(_with_timeout(client_call_details, self.call_timeout), request_iterator)

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(_with_timeout(client_call_details, self.stream_timeout), request_iterator)


def local_channel(
    socket_path: str,
    *,
    call_timeout: float = CALL_TIMEOUT,
    stream_timeout: float | None = None,
    interceptors: Sequence[aio.ClientInterceptor] = (),
) -> aio.Channel:
    """Channel to a daemon's unix socket (no TLS: the socket's file mode is the access control)."""
    target = socket_path if socket_path.startswith("unix:") else f"unix://{socket_path}"
    return aio.insecure_channel(
        target, interceptors=[DeadlineInterceptor(call_timeout, stream_timeout), *interceptors]
    )
