"""The CLI's connection to the local daemon, and the translation of RPC errors to one line.

The CLI imports only the generated stubs; it never reads the store or the data root.

Every failed call goes through :meth:`Client.translate`, the CLI's one error renderer: a daemon
that does not answer on its socket is ``Cannot connect to the swarm daemon at <host>. Is swarmd
running?``; any status the daemon sent back is :func:`error_line`, Docker's ``Error response
from daemon: <message>`` with the daemon's message as it is (the status code is not printed).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc

from swarm.api import control_pb2_grpc, daemon_pb2_grpc, dispatcher_pb2_grpc

DEFAULT_HOST = "unix:///run/swarm/swarmd.sock"
DEFAULT_TIMEOUT = 30.0
T = TypeVar("T")


class CLIError(Exception):
    """An error to print as one line on stderr, with an exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def resolve_host(host: str | None) -> str:
    return host or os.environ.get("SWARM_HOST") or DEFAULT_HOST


def error_line(code: grpc.StatusCode | None, details: str) -> str:
    """The line printed for a call the daemon answered with ``code`` and ``details``."""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "Error response from daemon: context deadline exceeded"
    return f"Error response from daemon: {details}"


class Client:
    def __init__(self, host: str | None) -> None:
        self.host = resolve_host(host)
        if not self.host.startswith("unix://"):
            raise CLIError(f"invalid host {self.host!r}: only unix:///PATH sockets are supported")
        self.path = self.host[len("unix://") :]
        self._channel: grpc.Channel | None = None

    def _socket_answers(self) -> bool:
        """The daemon itself is reachable (an UNAVAILABLE from it, e.g. no leader or an
        unreachable registry, is its answer, not a connection failure)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.path)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def _not_running(self) -> CLIError:
        return CLIError(f"Cannot connect to the swarm daemon at {self.host}. Is swarmd running?")

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            # Probe first: gRPC would otherwise retry a missing socket until the deadline.
            if not self._socket_answers():
                raise self._not_running()
            self._channel = grpc.insecure_channel(
                self.host, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
            )
        return self._channel

    @property
    def daemon(self) -> daemon_pb2_grpc.DaemonStub:
        return daemon_pb2_grpc.DaemonStub(self.channel)

    @property
    def control(self) -> control_pb2_grpc.ControlStub:
        return control_pb2_grpc.ControlStub(self.channel)

    @property
    def logs(self) -> dispatcher_pb2_grpc.LogsStub:
        return dispatcher_pb2_grpc.LogsStub(self.channel)

    def call(self, fn: Callable[..., T], request: Any, timeout: float = DEFAULT_TIMEOUT) -> T:
        with self.translate():
            return fn(request, timeout=timeout)

    @contextmanager
    def translate(self) -> Iterator[None]:
        try:
            yield
        except grpc.RpcError as e:
            code = e.code() if hasattr(e, "code") else None
            details = e.details() if hasattr(e, "details") else str(e)
            if code == grpc.StatusCode.UNAVAILABLE and not self._socket_answers():
                raise self._not_running() from None
            raise CLIError(error_line(code, details)) from None

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
