"""`docker exec` into a node's task container: ``POST /containers/{id}/exec`` makes an exec
instance, ``POST /exec/{id}/start`` runs it, ``GET /exec/{id}/json`` inspects it (the daemon owns
the instances: ``swarm.daemon.execs``).

Start is answered as dockerd answers it (moby ``router/container/exec.go``): an unknown instance
is a 404 before anything else; then, for a client that asked to upgrade (the docker CLI and
docker-py do), ``101 UPGRADED`` with ``Upgrade: tcp`` and the output on the bare connection, else
a ``200`` stream; the output is in stdcopy frames (pyswarm runs no terminal), typed
``application/vnd.docker.multiplexed-stream`` from API 1.42 on; an error once the stream has begun
(the instance has already run) is a line of text on stdout, as dockerd writes it; the connection
closes when the process has exited, and the client then reads ``ExitCode`` from the inspect.
``Detach: true`` answers 200 at once and the process runs on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from swarm.api import daemon_pb2
from swarm.engineapi.errors import ApiError, BadRequest, NotServed
from swarm.engineapi.http import Route, api_version, backend, body, empty, reply
from swarm.engineapi.routes.logs import STDOUT, SYSERR, frame

log = logging.getLogger(__name__)


def _strings(doc: dict[str, Any], key: str) -> list[str]:
    v = doc.get(key)
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise BadRequest(f"{key}: expected a list of strings")
    return list(v)


def _text(doc: dict[str, Any], key: str) -> str:
    v = doc.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise BadRequest(f"{key}: expected a string")
    return v


async def create_exec(request: web.Request) -> web.StreamResponse:
    doc = await body(request, "ExecConfig")
    if not isinstance(doc, dict):
        raise BadRequest("ExecConfig: expected a JSON object")
    req = daemon_pb2.ExecCreateRequest(
        container=request.match_info["id"], cmd=_strings(doc, "Cmd"), env=_strings(doc, "Env"),
        user=_text(doc, "User"), working_dir=_text(doc, "WorkingDir"), tty=bool(doc.get("Tty")),
        attach_stdin=bool(doc.get("AttachStdin")), attach_stdout=bool(doc.get("AttachStdout")),
        attach_stderr=bool(doc.get("AttachStderr")), privileged=bool(doc.get("Privileged")),
        detach_keys=_text(doc, "DetachKeys"))
    b = backend(request)
    r = await b.call(b.daemon.ExecCreate, req)
    return reply({"Id": r.id}, status=201)


async def _inspect(request: web.Request) -> dict[str, Any]:
    b = backend(request)
    r = await b.call(b.daemon.ExecInspect, daemon_pb2.ExecInspectRequest(id=request.match_info["id"]))
    return dict(json.loads(r.exec_json))


async def inspect_exec(request: web.Request) -> web.StreamResponse:
    return reply(await _inspect(request))


async def start_exec(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    try:
        check = json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        raise BadRequest(f"ExecStartConfig: the request body is not valid JSON: {e}") from None
    if not isinstance(check, dict):
        raise BadRequest("ExecStartConfig: expected a JSON object")
    if check.get("Tty"):
        raise NotServed("exec with a terminal (docker exec -t) is not supported by pyswarm")
    await _inspect(request)                                # 404 before the answer begins
    b = backend(request)
    start = daemon_pb2.ExecStartRequest(id=request.match_info["id"], detach=bool(check.get("Detach")))
    if start.detach:
        async for _ in b.stream(b.daemon.ExecStart, start):
            pass
        return empty()
    v = api_version(request)
    if "Upgrade" in request.headers:
        kind = ("application/vnd.docker.multiplexed-stream" if v is None or v >= (1, 42)
                else "application/vnd.docker.raw-stream")
        resp = web.StreamResponse(status=101, reason="UPGRADED",
                                  headers={"Content-Type": kind, "Connection": "Upgrade", "Upgrade": "tcp"})
    else:
        resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.raw-stream"})
    resp.force_close()          # the client reads to EOF: the connection ends with the process
    # the docker CLI half-closes its side as soon as it has the answer's head (it has no stdin
    # to send); asyncio closes a connection whose peer sent EOF (aiohttp's eof_received keeps
    # nothing open), and the output would have nowhere to go. Nothing is read from the client
    # (no stdin), so reading stops here and the EOF is never seen.
    if request.transport is not None:
        request.transport.pause_reading()
    await resp.prepare(request)
    try:
        async for chunk in b.stream(b.daemon.ExecStart, start):
            await resp.write(frame(SYSERR if chunk.stream == "error" else STDOUT, chunk.data))
    except ApiError as e:
        await resp.write(frame(STDOUT, (e.message + "\r\n").encode()))
    except Exception as e:  # the answer has begun: the error can only go into the stream
        log.exception("engine api: exec %s failed", request.match_info["id"])
        await resp.write(frame(STDOUT, f"{e or type(e).__name__}\r\n".encode()))
    await resp.write_eof()
    return resp


ROUTES: list[Route] = [
    ("POST", "/containers/{id}/exec", create_exec),
    ("POST", "/exec/{id}/start", start_exec),
    ("GET", "/exec/{id}/json", inspect_exec),
]
