"""`docker exec`'s three endpoints on a fake backend: the ExecConfig reaches the daemon's
ExecCreate; start with ``Upgrade: tcp`` is answered ``101 UPGRADED`` and the output goes on the
bare connection in stdcopy frames, read here off a raw socket through aiohttp's own parser, until
the server closes it; an unknown instance is a 404 before the answer begins; detach is a plain 200."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

from aiohttp.test_utils import TestClient

from swarm.api import daemon_pb2
from swarm.engineapi.errors import ApiError
from tests.unit.engineapi.test_edge import FakeBackend, with_client

EID = "e" * 64


def inspected(req: daemon_pb2.ExecInspectRequest) -> daemon_pb2.ExecInspectResponse:
    if req.id != EID:
        raise ApiError(404, f"No such exec instance: {req.id}")
    doc = {"ID": EID, "Running": False, "ExitCode": None}
    return daemon_pb2.ExecInspectResponse(exec_json=json.dumps(doc))


def output(req: daemon_pb2.ExecStartRequest) -> list[daemon_pb2.ExecOutput]:
    return [daemon_pb2.ExecOutput(stream="stdout", data=b"hello\n"),
            daemon_pb2.ExecOutput(stream="error", data=b"cut")]


def backend() -> FakeBackend:
    return SlowBackend({"Daemon.ExecCreate": lambda r: daemon_pb2.ExecCreateResponse(id=EID),
                        "Daemon.ExecInspect": inspected, "Daemon.ExecStart": output})


class SlowBackend(FakeBackend):
    """The process takes a moment: its output comes after the client has half-closed."""

    async def stream(self, method: str, request: Any, timeout: float | None = None) -> Any:
        if method == "Daemon.ExecStart":
            await asyncio.sleep(0.3)
        async for item in super().stream(method, request, timeout):
            yield item


async def raw(c: TestClient[Any, Any], path: str, body: bytes, upgrade: bool) -> bytes:
    """One request on its own connection, half-closed once the answer's head is in (as the
    docker CLI does without stdin); everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection(c.host, c.port)
    head = (f"POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n")
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()
    answer_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    writer.write_eof()
    data = answer_head + await asyncio.wait_for(reader.read(-1), 10)
    writer.close()
    return data


def frames(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while data:
        stream, size = struct.unpack(">BxxxL", data[:8])
        out.append((stream, data[8:8 + size]))
        data = data[8 + size:]
    return out


def test_create_hands_the_exec_config_to_the_daemon() -> None:
    b = backend()

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.post("/v1.51/containers/web.1.abc/exec", json={
            "Cmd": ["cat", "/run/secrets/s"], "Env": ["A=1"], "User": "nobody", "WorkingDir": "/tmp",
            "AttachStdout": True, "AttachStderr": True, "Tty": False, "DetachKeys": ""})
        assert r.status == 201 and await r.json() == {"Id": EID}
        for bad, msg in (({"Cmd": "ls"}, "Cmd: expected a list of strings"),
                         ({"Cmd": ["ls"], "User": 3}, "User: expected a string")):
            r = await c.post("/containers/x/exec", json=bad)
            assert r.status == 400 and msg in (await r.json())["message"]

    with_client(b, check)
    (method, req), = b.calls
    assert method == "Daemon.ExecCreate"
    assert (req.container, list(req.cmd), list(req.env), req.user, req.working_dir) == (
        "web.1.abc", ["cat", "/run/secrets/s"], ["A=1"], "nobody", "/tmp")
    assert req.attach_stdout and req.attach_stderr and not (req.tty or req.attach_stdin or req.privileged)


def test_start_upgrades_streams_stdcopy_frames_and_closes() -> None:
    b = backend()

    async def check(c: TestClient[Any, Any]) -> None:
        data = await raw(c, f"/v1.51/exec/{EID}/start", b'{"Detach":false,"Tty":false}', upgrade=True)
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == "HTTP/1.1 101 UPGRADED", lines
        hdrs = {k.lower(): v for k, _, v in (ln.partition(": ") for ln in lines[1:])}
        assert hdrs["content-type"] == "application/vnd.docker.multiplexed-stream"
        assert hdrs["upgrade"] == "tcp" and hdrs["connection"].lower() == "upgrade"
        assert "transfer-encoding" not in hdrs and "content-length" not in hdrs
        assert frames(rest) == [(1, b"hello\n"), (3, b"cut")]
        # before API 1.42 the same frames are typed raw-stream, as dockerd types them
        old = await raw(c, f"/v1.41/exec/{EID}/start", b"{}", upgrade=True)
        assert b"Content-Type: application/vnd.docker.raw-stream" in old.partition(b"\r\n\r\n")[0]

    with_client(b, check)
    starts = [r for m, r in b.calls if m == "Daemon.ExecStart"]
    assert [(r.id, r.detach) for r in starts] == [(EID, False), (EID, False)]


def test_unknown_is_404_before_the_stream_detach_is_200_and_tty_is_refused() -> None:
    b = backend()

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.post("/exec/nope/start", json={"Detach": False}, headers={"Connection": "Upgrade",
                                                                             "Upgrade": "tcp"})
        assert r.status == 404 and (await r.json())["message"] == "No such exec instance: nope"
        r = await c.post(f"/exec/{EID}/start", json={"Detach": True})
        assert r.status == 200 and await r.read() == b""
        r = await c.post(f"/exec/{EID}/start", json={"Tty": True})
        assert r.status == 501 and "docker exec -t" in (await r.json())["message"]
        r = await c.get(f"/exec/{EID}/json")
        assert r.status == 200 and (await r.json())["ID"] == EID

    with_client(b, check)
    assert [(r.id, r.detach) for m, r in b.calls if m == "Daemon.ExecStart"] == [(EID, True)]
