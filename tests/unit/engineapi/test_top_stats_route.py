"""`docker top` and `docker stats` on a fake backend: the query reaches the daemon's ContainerTop /
ContainerStats as dockerd's router reads it (``ps_args``; ``stream`` default true, ``one-shot``
from API 1.41 on), the answers pass through, and an error is a JSON status before any answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from swarm.api import daemon_pb2
from swarm.engineapi.errors import ApiError
from tests.unit.engineapi.test_edge import FakeBackend, with_client

TOP = {"Titles": ["UID", "PID", "CMD"], "Processes": [["root", "42", "/bin/httpd -f"]]}


def top(req: daemon_pb2.ContainerTopRequest) -> daemon_pb2.ContainerTopResponse:
    if req.id == "nosuch":
        raise ApiError(404, "No such container: nosuch")
    if req.id == "stopped":
        raise ApiError(409, "container " + "c" * 64 + " is not running")
    if req.ps_args == "-o user":
        raise ApiError(500, "Couldn't find PID field in ps output")
    if req.ps_args == "-Z9":
        raise ApiError(500, "ps: error: unsupported option (BSD syntax)")
    return daemon_pb2.ContainerTopResponse(top_json=json.dumps(TOP))


def sample(n: int) -> daemon_pb2.ContainerStatsResponse:
    return daemon_pb2.ContainerStatsResponse(stats_json=json.dumps({"id": "c" * 64, "n": n}))


class StatsBackend(FakeBackend):
    """ContainerStats: one sample, or (stream) one every 10 ms for as long as it is read."""

    def __init__(self) -> None:
        super().__init__({"Daemon.ContainerTop": top})
        self.closed = asyncio.Event()

    async def stream(self, method: str, request: Any, timeout: float | None = None) -> Any:
        self.calls.append((method, request))
        if request.id == "nosuch":
            raise ApiError(404, "No such container: nosuch")
        try:
            n = 0
            while True:
                yield sample(n)
                if not request.stream:
                    return
                n += 1
                await asyncio.sleep(0.01)
        finally:
            self.closed.set()


def test_top_passes_ps_args_and_answers_the_daemons_doc() -> None:
    b = StatsBackend()

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/v1.51/containers/web.1.abc/top")
        assert r.status == 200 and await r.json() == TOP
        r = await c.get("/v1.51/containers/web.1.abc/top", params={"ps_args": "aux"})
        assert r.status == 200

    with_client(b, check)
    assert [(m, r.id, r.ps_args) for m, r in b.calls] == [
        ("Daemon.ContainerTop", "web.1.abc", ""), ("Daemon.ContainerTop", "web.1.abc", "aux")]


def test_top_errors_are_dockerds_statuses_and_messages() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        for ident, args, status, message in (
                ("nosuch", "", 404, "No such container: nosuch"),
                ("stopped", "", 409, f"container {'c' * 64} is not running"),
                ("web", "-o user", 500, "Couldn't find PID field in ps output"),
                ("web", "-Z9", 500, "ps: error: unsupported option (BSD syntax)")):
            r = await c.get(f"/v1.51/containers/{ident}/top", params={"ps_args": args})
            assert r.status == status and r.headers["Content-Type"] == "application/json"
            assert (await r.json())["message"] == message

    with_client(StatsBackend(), check)


def test_stats_once_and_one_shot() -> None:
    b = StatsBackend()

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/v1.51/containers/web/stats", params={"stream": "0"})
        assert r.status == 200 and r.headers["Content-Type"] == "application/json"
        assert await r.read() == json.dumps({"id": "c" * 64, "n": 0}).encode() + b"\n"
        r = await c.get("/v1.51/containers/web/stats", params={"stream": "false", "one-shot": "1"})
        assert r.status == 200
        r = await c.get("/v1.40/containers/web/stats", params={"stream": "0", "one-shot": "1"})
        assert r.status == 200                         # one-shot is not read before API 1.41

    with_client(b, check)
    assert [(r.stream, r.one_shot) for _, r in b.calls] == [(False, False), (False, True), (False, False)]


def test_stats_stream_by_default_until_the_client_goes() -> None:
    b = StatsBackend()

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/containers/web/stats")
        assert r.status == 200
        got = [json.loads(await r.content.readline()) for _ in range(3)]
        assert [x["n"] for x in got] == [0, 1, 2]
        r.close()                                      # the client goes: the daemon's stream ends
        await asyncio.wait_for(b.closed.wait(), 5)

    with_client(b, check)
    assert [r.stream for _, r in b.calls] == [True]


def test_stats_of_an_unknown_container_is_a_404_before_the_answer() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        for params in ({"stream": "0"}, {}):
            r = await c.get("/v1.51/containers/nosuch/stats", params=params)
            assert r.status == 404 and (await r.json())["message"] == "No such container: nosuch"

    with_client(StatsBackend(), check)
