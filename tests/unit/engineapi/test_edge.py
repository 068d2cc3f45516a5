"""The HTTP side of the Engine API edge on a fake backend: negotiation headers, version prefixes,
501 for what is not served, errors as {"message"}, and the pieces routes are made of (status
mapping, filters, log framing, ServiceStatus)."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer

from swarm.api import control_pb2, daemon_pb2, dispatcher_pb2, objects_pb2, specs_pb2, types_pb2
from swarm.engineapi.errors import ApiError, BadRequest, from_rpc, http_status
from swarm.engineapi.filters import Filters
from swarm.engineapi.routes.logs import details, frame, line, timestamp
from swarm.engineapi.routes.services import service_status
from swarm.engineapi.server import make_app


class _Names:
    def __init__(self, service: str) -> None:
        self.service = service

    def __getattr__(self, rpc: str) -> str:
        return f"{self.service}.{rpc}"


class FakeBackend:
    """Answers ``call(stub.Method, request)`` from a table of callables keyed "Service.Method"."""

    def __init__(self, answers: dict[str, Callable[[Any], Any]]) -> None:
        self.daemon, self.control, self.logs = _Names("Daemon"), _Names("Control"), _Names("Logs")
        self.answers = answers
        self.calls: list[tuple[str, Any]] = []

    async def call(self, method: str, request: Any, timeout: float = 30) -> Any:
        self.calls.append((method, request))
        if method not in self.answers:
            raise ApiError(500, f"unexpected call {method}")
        return self.answers[method](request)

    async def stream(self, method: str, request: Any, timeout: float | None = None) -> Any:
        for item in await self.call(method, request):
            yield item

    async def close(self) -> None:
        pass


def manager_info(_: Any) -> daemon_pb2.InfoResponse:
    return daemon_pb2.InfoResponse(local_node_state="active", control_available=True, node_id="n1")


def with_client(backend: FakeBackend, fn: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def run() -> None:
        client = TestClient(TestServer(make_app(backend)))  # type: ignore[arg-type]
        await client.start_server()
        try:
            await fn(client)
        finally:
            await client.close()

    asyncio.run(run())


def test_ping_answers_the_negotiation_headers_for_get_and_head() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        for method in ("GET", "HEAD"):
            r = await c.request(method, "/_ping")
            assert r.status == 200
            assert r.headers["Api-Version"] == "1.51"
            assert r.headers["Ostype"] == "linux"
            assert r.headers["Docker-Experimental"] == "false"
            assert r.headers["Swarm"] == "active/manager"
            assert await r.read() == (b"OK" if method == "GET" else b"")
        r = await c.get("/v1.44/_ping")
        assert r.status == 200 and r.headers["Swarm"] == "active/manager"

    with_client(FakeBackend({"Daemon.Info": manager_info}), check)


@pytest.mark.parametrize(
    ("info", "header"),
    [
        (daemon_pb2.InfoResponse(local_node_state="inactive"), "inactive"),
        (daemon_pb2.InfoResponse(local_node_state="active"), "active/worker"),
        (daemon_pb2.InfoResponse(local_node_state="pending"), "pending"),
    ],
)
def test_the_swarm_header_follows_the_node(info: daemon_pb2.InfoResponse, header: str) -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        assert (await c.get("/_ping")).headers["Swarm"] == header

    with_client(FakeBackend({"Daemon.Info": lambda _: info}), check)


def test_versions_outside_the_served_range_are_400_with_dockers_words() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/v1.12/info")
        assert r.status == 400
        assert (await r.json())["message"] == (
            "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your "
            "client to a newer version"
        )
        r = await c.get("/v1.99/info")
        assert r.status == 400
        assert (await r.json())[
            "message"
        ] == "client version 1.99 is too new. Maximum supported API version is 1.51"

    with_client(FakeBackend({"Daemon.Info": manager_info}), check)


def test_what_is_not_served_is_a_501_naming_the_endpoint() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        for method, path in (
            ("POST", "/v1.50/containers/create"),
            ("POST", "/v1.50/containers/web/stop"),
            ("GET", "/v1.50/plugins"),
            ("PUT", "/v1.50/services/x"),
            ("GET", "/system/df"),
        ):
            r = await c.request(method, path)
            assert r.status == 501, path
            assert r.headers["Content-Type"] == "application/json"
            assert (await r.json())[
                "message"
            ] == f"{method} {path} is not implemented by pyswarm's Engine API"

    with_client(FakeBackend({}), check)


def test_containers_and_plugins_are_absent_not_unimplemented_for_docker_inspect() -> None:
    def missing(req: Any) -> Any:
        raise ApiError(404, f"No such container: {req.id}")

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/v1.50/containers/web/json")
        assert r.status == 404 and (await r.json())["message"] == "No such container: web"
        r = await c.get("/v1.50/plugins/web/json")
        assert r.status == 404 and "pyswarm has no plugins" in (await r.json())["message"]

    with_client(FakeBackend({"Daemon.ContainerInspect": missing}), check)


def test_container_list_passes_filters_and_limit_and_refuses_what_it_cannot_filter() -> None:
    docs = [{"Id": str(i), "Names": [f"/c{i}"]} for i in range(3)]
    fake = FakeBackend({"Daemon.ContainerList": lambda _: daemon_pb2.ContainerListResponse(
        containers_json=[json.dumps(x) for x in docs])})

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/v1.50/containers/json", params={
            "filters": json.dumps({"label": {"a=b": True}, "status": {"exited": True}}), "limit": "2"})
        assert r.status == 200 and [x["Id"] for x in await r.json()] == ["0", "1"]
        req = fake.calls[-1][1]
        assert req.all is True and sorted(req.filters) == ["label=a=b", "status=exited"]
        r = await c.get("/v1.50/containers/json", params={"filters": json.dumps({"ancestor": {"x": True}})})
        assert r.status == 400
        assert "filter 'ancestor' is not supported by pyswarm" in (await r.json())["message"]
        r = await c.get("/v1.50/containers/json", params={"filters": json.dumps({"colour": {"x": True}})})
        assert r.status == 400 and (await r.json())["message"] == "invalid filter 'colour'"

    with_client(fake, check)


def test_container_logs_are_framed_filtered_by_stream_and_raw_with_a_tty() -> None:
    def line_at(sec: int, stream: str, data: bytes) -> daemon_pb2.ContainerLogLine:
        m = daemon_pb2.ContainerLogLine(stream=stream, data=data)
        m.timestamp.seconds, m.timestamp.nanos = sec, 5
        return m

    lines = [line_at(100, "stdout", b"one\n"), line_at(200, "stderr", b"two"), line_at(300, "stdout", b"3\n")]
    tty = {"v": False}
    fake = FakeBackend({
        "Daemon.ContainerInspect": lambda req: daemon_pb2.ContainerInspectResponse(
            container_json=json.dumps({"Id": "full-" + req.id, "Config": {"Tty": tty["v"]}})),
        "Daemon.ContainerLogs": lambda _: lines,
    })

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/v1.50/containers/web/logs", params={"stdout": "1", "stderr": "1"})
        assert r.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
        assert await r.read() == frame(1, b"one\n") + frame(2, b"two\n") + frame(1, b"3\n")
        assert fake.calls[-1][1].id == "full-web" and fake.calls[-1][1].tail == -1
        r = await c.get("/v1.50/containers/web/logs",
                        params={"stderr": "1", "timestamps": "1", "tail": "5"})
        assert await r.read() == frame(2, b"1970-01-01T00:03:20.000000005Z two\n")
        assert fake.calls[-1][1].tail == 5
        r = await c.get("/v1.50/containers/web/logs", params={"stdout": "1", "since": "250"})
        assert await r.read() == frame(1, b"3\n")
        tty["v"] = True
        r = await c.get("/v1.50/containers/web/logs", params={"stdout": "1"})
        assert r.headers["Content-Type"] == "application/vnd.docker.raw-stream"
        assert await r.read() == b"one\n3\n"
        r = await c.get("/v1.50/containers/web/logs")
        assert r.status == 400 and "you must choose at least one stream" in (await r.json())["message"]

    with_client(fake, check)


def test_daemon_errors_become_their_status_with_the_message() -> None:
    def missing(req: Any) -> Any:
        raise ApiError(404, f"service {req.service_id} not found")

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/v1.50/services/nope")
        assert r.status == 404
        assert r.headers["Content-Type"] == "application/json"  # exactly: the CLI reads the message only then
        assert await r.json() == {"message": "service nope not found"}
        assert r.headers["Api-Version"] == "1.51"

    with_client(FakeBackend({"Control.GetService": missing}), check)


def test_bad_bodies_and_parameters_are_400() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.post("/v1.50/services/create", data=b"{not json")
        assert (
            r.status == 400
            and "ServiceSpec: the request body is not valid JSON" in (await r.json())["message"]
        )
        r = await c.post("/v1.50/services/create", data=b"")
        assert r.status == 400 and "the request body is empty" in (await r.json())["message"]
        r = await c.post("/v1.50/services/x/update", data=b"{}")
        assert r.status == 400 and "missing version parameter" in (await r.json())["message"]
        r = await c.get("/v1.50/services", params={"filters": json.dumps({"colour": {"red": True}})})
        assert r.status == 400 and (await r.json())["message"] == "invalid filter 'colour'"
        r = await c.get("/v1.50/services/x/logs")
        assert r.status == 400 and (await r.json())["message"] == (
            "Bad parameters: you must choose at least one stream"
        )

    svc = objects_pb2.Service(id="x")
    with_client(
        FakeBackend({"Control.GetService": lambda _: control_pb2.GetServiceResponse(service=svc)}), check
    )


def test_service_create_posts_the_translated_spec_and_answers_201() -> None:
    backend = FakeBackend(
        {
            "Control.CreateService": lambda req: control_pb2.CreateServiceResponse(
                service=objects_pb2.Service(id="s1", spec=req.spec)
            )
        }
    )

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.post(
            "/v1.50/services/create",
            json={
                "Name": "web",
                "TaskTemplate": {"ContainerSpec": {"Image": "img"}},
                "Mode": {"Replicated": {"Replicas": 3}},
            },
            headers={"X-Registry-Auth": "e30="},
        )
        assert r.status == 201
        assert await r.json() == {"ID": "s1", "Warnings": None}

    with_client(backend, check)
    ((_, req),) = backend.calls
    assert (req.spec.annotations.name, req.spec.task.container.image, req.spec.replicated.replicas) == (
        "web",
        "img",
        3,
    )


def test_x_registry_auth_goes_into_the_spec_for_the_control_api_to_seal() -> None:
    import base64

    backend = FakeBackend(
        {
            "Control.CreateService": lambda req: control_pb2.CreateServiceResponse(
                service=objects_pb2.Service(id="s1")
            )
        }
    )
    creds = base64.urlsafe_b64encode(b'{"username":"u","password":"p","serveraddress":"r:5000"}').decode()
    body = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "r:5000/img"}}}

    async def check(c: TestClient[Any, Any]) -> None:
        for header in (creds, "e30=", ""):
            assert (
                await c.post("/v1.50/services/create", json=body, headers={"X-Registry-Auth": header})
            ).status == 201
        r = await c.post("/v1.50/services/create", json=body, headers={"X-Registry-Auth": "%%%"})
        assert r.status == 400 and "invalid X-Registry-Auth header" in (await r.json())["message"]

    with_client(backend, check)
    assert [req.spec.task.container.pull_options.registry_auth for _, req in backend.calls] == [creds, "", ""]


def test_node_update_sends_the_version_and_keeps_the_membership() -> None:
    node = objects_pb2.Node(id="n1", spec=specs_pb2.NodeSpec(membership=specs_pb2.NodeSpec.ACCEPTED))
    backend = FakeBackend(
        {
            "Control.GetNode": lambda _: control_pb2.GetNodeResponse(node=node),
            "Control.UpdateNode": lambda _: control_pb2.UpdateNodeResponse(node=node),
        }
    )

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.post("/v1.50/nodes/n1/update?version=7", json={"Availability": "drain", "Role": "worker"})
        assert r.status == 200

    with_client(backend, check)
    req = backend.calls[-1][1]
    assert (req.node_id, req.node_version.index, req.spec.availability, req.spec.membership) == (
        "n1",
        7,
        specs_pb2.NodeSpec.DRAIN,
        specs_pb2.NodeSpec.ACCEPTED,
    )


class _RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("code", "details", "status"),
    [
        (grpc.StatusCode.NOT_FOUND, "service x not found", 404),
        (grpc.StatusCode.ALREADY_EXISTS, "name conflicts with an existing object", 409),
        (grpc.StatusCode.ABORTED, "update out of sequence", 409),
        (grpc.StatusCode.FAILED_PRECONDITION, "update out of sequence", 409),
        (grpc.StatusCode.FAILED_PRECONDITION, "secret pw is in use by the following service: web", 400),
        (grpc.StatusCode.INVALID_ARGUMENT, "bad", 400),
        (
            grpc.StatusCode.FAILED_PRECONDITION,
            "This node is not a swarm manager. Worker nodes can't ...",
            503,
        ),
        (grpc.StatusCode.FAILED_PRECONDITION, "This node is not part of a swarm", 503),
        (   # dockerd's notAvailableError: docker-py's test_leave_swarm expects 503
            grpc.StatusCode.FAILED_PRECONDITION,
            "You are attempting to leave the swarm on a node that is participating as a manager. "
            "Removing the last manager erases all current state of the swarm.",
            503,
        ),
        (grpc.StatusCode.UNAVAILABLE, "The swarm does not have a leader.", 503),
        (grpc.StatusCode.INTERNAL, "boom", 500),
        (grpc.StatusCode.UNKNOWN, "boom", 500),
        (None, "", 500),
    ],
)
def test_grpc_statuses_map_to_dockers_http_statuses(
    code: grpc.StatusCode | None, details: str, status: int
) -> None:
    assert http_status(code, details) == status


def test_a_deadline_reads_as_dockers_context_deadline() -> None:
    e = from_rpc(_RpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
    assert (e.status, e.message) == (500, "context deadline exceeded")


def test_a_version_conflict_reads_exactly_as_dockerds() -> None:
    """docker-py's service update tests retry when the explanation *ends with* "update out of
    sequence"; the store's detail (which version it is at) stays in our own logs and CLI."""
    e = from_rpc(_RpcError(grpc.StatusCode.ABORTED,
                           "update out of sequence: services/abc is at version 7, expected 5"))
    assert (e.status, e.message) == (409, "update out of sequence")


def test_filters_in_both_json_forms() -> None:
    f = Filters.parse(
        json.dumps({"name": {"web": True, "off": False}, "label": ["a=b", "c"]}), ["name", "label"]
    )
    assert f.get("name") == ["web"] and f.labels() == {"a": "b", "c": ""} and f.get("id") == []
    with pytest.raises(BadRequest, match="invalid filter 'x'"):
        Filters.parse('{"x": ["1"]}', ["name"])
    with pytest.raises(BadRequest, match="is not JSON"):
        Filters.parse("{", ["name"])
    with pytest.raises(BadRequest, match="expected true or false"):
        Filters.parse('{"dangling": ["maybe"]}', ["dangling"]).boolean("dangling")


def _log(data: bytes, nanos: int = 5) -> dispatcher_pb2.LogMessage:
    m = dispatcher_pb2.LogMessage(data=data, context=dispatcher_pb2.LogContext(node_id="n 1", task_id="t1"))
    m.timestamp.seconds, m.timestamp.nanos = 1_700_000_000, nanos
    return m


def test_log_frames_and_prefixes_as_moby_writes_them() -> None:
    assert frame(1, b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert struct.unpack(">BxxxL", frame(2, b"x" * 300)[:8]) == (2, 300)
    m = _log(b"hello")
    assert timestamp(m) == "2023-11-14T22:13:20.000000005Z"
    assert (
        details(m, "s1")
        == "com.docker.swarm.node.id=n%201,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1"
    )
    assert line(m, timestamps=True, with_details=False) == b"2023-11-14T22:13:20.000000005Z hello\n"
    assert line(_log(b"x\n"), timestamps=False, with_details=False) == b"x\n"


def _task(state: int, desired: int, node: str = "n1", iteration: int = 0) -> objects_pb2.Task:
    t = objects_pb2.Task(node_id=node, desired_state=desired)  # type: ignore[arg-type]
    t.status.state = state  # type: ignore[assignment]
    if iteration:
        t.job_iteration.index = iteration
    return t


def test_service_status_counts_as_moby() -> None:
    R, C, S = types_pb2.RUNNING, types_pb2.COMPLETE, types_pb2.SHUTDOWN
    svc = objects_pb2.Service(spec=specs_pb2.ServiceSpec(replicated=specs_pb2.ReplicatedService(replicas=3)))
    tasks = [_task(R, R), _task(R, R, node="down"), _task(R, S), _task(types_pb2.STARTING, R)]
    assert service_status(svc, tasks, {"down"}) == {"RunningTasks": 1, "DesiredTasks": 3, "CompletedTasks": 0}
    glob = objects_pb2.Service(spec=specs_pb2.ServiceSpec(**{"global": specs_pb2.GlobalService()}))
    assert service_status(glob, tasks, set())["DesiredTasks"] == 3
    job = objects_pb2.Service(
        spec=specs_pb2.ServiceSpec(
            replicated_job=specs_pb2.ReplicatedJob(max_concurrent=2, total_completions=5)
        )
    )
    job.job_status.job_iteration.index = 2
    jt = [
        _task(C, C, iteration=2),
        _task(C, C, iteration=2),
        _task(R, C, iteration=2),
        _task(C, C, iteration=1),
    ]
    assert service_status(job, jt, set()) == {"RunningTasks": 1, "DesiredTasks": 2, "CompletedTasks": 2}


def test_events_stream_dockers_json_lines_filtered_and_ended_by_until() -> None:
    import time

    now = time.time_ns()

    def ev(kind: str, action: str, oid: str, name: str, t: int) -> control_pb2.EventMessage:
        return control_pb2.EventMessage(type=kind, action=action, actor_id=oid, attributes={"name": name},
                                        time_nanos=t)

    history = [ev("service", "create", "s1", "web", now - 3_000_000_000),
               ev("network", "create", "n1", "appnet", now - 2_000_000_000),
               ev("service", "remove", "s1", "web", now - 1_000_000_000)]
    fake = FakeBackend({"Control.Events": lambda _: history})

    async def docs(r: Any) -> list[Any]:
        return [json.loads(x) for x in (await r.read()).decode().splitlines()]

    async def check(c: TestClient[Any, Any]) -> None:
        until = f"{now // 10**9 + 1}.000000000"
        r = await c.get("/v1.50/events", params={"since": f"{now // 10**9 - 10}", "until": until})
        assert r.status == 200 and r.headers["Content-Type"] == "application/json"
        lines = [json.loads(x) for x in (await r.read()).decode().splitlines()]
        assert lines[0] == {"Type": "service", "Action": "create",
                            "Actor": {"ID": "s1", "Attributes": {"name": "web"}}, "scope": "swarm",
                            "time": (now - 3_000_000_000) // 10**9, "timeNano": now - 3_000_000_000}
        assert len(lines) == 3 and fake.calls[-1][1].since_nanos == (now // 10**9 - 10) * 10**9
        r = await c.get("/v1.50/events", params={"until": until, "filters": json.dumps(
            {"type": {"service": True}, "event": {"remove": True}})})
        assert [(x["Type"], x["Action"]) for x in await docs(r)] == [("service", "remove")]
        assert fake.calls[-1][1].until_nanos == (now // 10**9 + 1) * 10**9   # the manager ends it
        by_name = json.dumps({"network": {"appnet": True}})
        r = await c.get("/v1.50/events", params={"until": until, "filters": by_name})
        assert [x["Actor"]["ID"] for x in await docs(r)] == ["n1"]
        r = await c.get("/v1.50/events", params={"filters": json.dumps({"type": {"thing": True}})})
        assert r.status == 400 and (await r.json())["message"] == "invalid filter 'type=thing'"
        r = await c.get("/v1.50/events", params={"since": "yesterday"})
        assert r.status == 400 and "invalid since 'yesterday'" in (await r.json())["message"]

    with_client(fake, check)
