"""What the CLI prints for a failed call: one line, through Client.translate (the one renderer).

The daemon side is an in-process gRPC server on a unix socket under tmp_path that answers
GetService with a chosen status; the client side is the real Client and generated stub.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from swarm.api import control_pb2
from swarm.cli.client import Client, CLIError, error_line

NO_LEADER = ("The swarm does not have a leader. It's possible that too few managers are online. "
             "Make sure more than half of the managers are online.")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Client, list[tuple[grpc.StatusCode, str]]]]:
    """A Client on a socket whose GetService fails with each status put in the list."""
    answers: list[tuple[grpc.StatusCode, str]] = []

    def get_service(req: control_pb2.GetServiceRequest, ctx: grpc.ServicerContext
                    ) -> control_pb2.GetServiceResponse:
        code, details = answers.pop(0)
        ctx.abort(code, details)

    handler = grpc.method_handlers_generic_handler("swarm.api.Control", {
        "GetService": grpc.unary_unary_rpc_method_handler(
            get_service, request_deserializer=control_pb2.GetServiceRequest.FromString,
            response_serializer=control_pb2.GetServiceResponse.SerializeToString)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    host = f"unix://{tmp_path}/swarmd.sock"
    server.add_insecure_port(host)
    server.start()
    client = Client(host)
    yield client, answers
    client.close()
    server.stop(None)


def failure(client: Client) -> str:
    with pytest.raises(CLIError) as ei:
        client.call(client.control.GetService, control_pb2.GetServiceRequest(service_id="web"), timeout=10)
    assert ei.value.exit_code == 1
    return str(ei.value)


@pytest.mark.parametrize(("code", "details", "line"), [
    (grpc.StatusCode.INVALID_ARGUMENT, "ContainerSpec: image reference must be provided",
     "Error response from daemon: ContainerSpec: image reference must be provided"),
    (grpc.StatusCode.NOT_FOUND, "service web not found", "Error response from daemon: service web not found"),
    (grpc.StatusCode.UNAVAILABLE, NO_LEADER, f"Error response from daemon: {NO_LEADER}"),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded",
     "Error response from daemon: context deadline exceeded"),
])
def test_a_status_from_the_daemon_is_one_line(daemon, code, details, line):
    client, answers = daemon
    answers.append((code, details))
    assert failure(client) == line
    assert error_line(code, details) == line


def test_a_daemon_that_is_not_there(tmp_path: Path):
    host = f"unix://{tmp_path}/none.sock"
    assert failure(Client(host)) == f"Cannot connect to the swarm daemon at {host}. Is swarmd running?"


def test_only_unix_sockets():
    with pytest.raises(CLIError, match="only unix:///PATH sockets are supported"):
        Client("tcp://127.0.0.1:2375")
