"""`/containers`: the node's task containers (list, inspect, logs, top, stats), so `docker ps`,
`docker inspect`, `docker logs`, `docker top` and `docker stats` work on a node as in the course.
The daemon renders Docker's JSON (``swarm.daemon.containers``, ``swarm.daemon.containerstats``);
these pass it through. Stats are answered as dockerd's router does: ``stream`` defaults to true
(one JSON object a line, a second apart, until the client goes), ``one-shot`` is read from API
1.41 on; an unknown container is a 404 before the answer begins. Containers are made by the orchestrator
only: create, start, stop, kill and the rest are not served (501 naming the endpoint); ``exec``
is (``routes/execs.py``)."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from swarm.api import daemon_pb2
from swarm.engineapi.errors import ApiError, BadRequest
from swarm.engineapi.filters import Filters
from swarm.engineapi.http import SHUTDOWN, Route, api_version, backend, flag, reply, until_shutdown
from swarm.engineapi.routes.events import parse_time
from swarm.engineapi.routes.logs import STDERR, STDOUT, SYSERR, frame, streams_and_tail, timestamp

log = logging.getLogger(__name__)

#: dockerd's accepted keys (daemon/list.go acceptedPsFilterTags); the daemon serves SERVED.
ACCEPTED = ("ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task",
            "label", "name", "network", "publish", "since", "status", "volume")
SERVED = ("health", "id", "is-task", "label", "name", "status")


async def list_containers(request: web.Request) -> web.StreamResponse:
    f = Filters.parse(request.query.get("filters"), ACCEPTED)
    for key in ACCEPTED:
        if key in f and key not in SERVED:
            raise BadRequest(f"filter '{key}' is not supported by pyswarm (served: {', '.join(SERVED)})")
    limit = request.query.get("limit", "")
    if limit and not limit.lstrip("-").isdigit():
        raise BadRequest(f"invalid limit {limit!r}: expected a number")
    b = backend(request)
    r = await b.call(
        b.daemon.ContainerList,
        daemon_pb2.ContainerListRequest(all=flag(request, "all") or bool(limit and int(limit) > 0),
                                        filters=f.pairs()),
    )
    docs = [json.loads(c) for c in r.containers_json]
    if limit and int(limit) > 0:
        docs = docs[: int(limit)]
    return reply(docs)


async def _inspect(request: web.Request) -> dict[str, Any]:
    b = backend(request)
    req = daemon_pb2.ContainerInspectRequest(id=request.match_info["id"])
    r = await b.call(b.daemon.ContainerInspect, req)
    return dict(json.loads(r.container_json))


async def inspect_container(request: web.Request) -> web.StreamResponse:
    return reply(await _inspect(request))


async def container_logs(request: web.Request) -> web.StreamResponse:
    streams, tail = streams_and_tail(request)
    since = parse_time(request.query.get("since", ""), "since")
    doc = await _inspect(request)          # 404 before the stream begins; Tty decides the framing
    tty = bool(doc.get("Config", {}).get("Tty"))
    follow, timestamps = flag(request, "follow"), flag(request, "timestamps")
    v = api_version(request)
    multiplexed = not tty and (v is None or v >= (1, 42))
    resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.multiplexed-stream"
                                       if multiplexed else "application/vnd.docker.raw-stream"})
    await resp.prepare(request)
    b = backend(request)
    req = daemon_pb2.ContainerLogsRequest(id=doc["Id"], follow=follow, tail=tail)
    try:
        lines = b.stream(b.daemon.ContainerLogs, req, timeout=None if follow else 60)
        async for m in until_shutdown(request, lines):
            if m.stream not in streams:
                continue
            if since and m.timestamp.ToNanoseconds() < since:
                continue
            data = m.data if m.data.endswith(b"\n") else m.data + b"\n"
            if timestamps:
                data = (timestamp(m) + " ").encode() + data
            await resp.write(data if tty else frame(STDERR if m.stream == "stderr" else STDOUT, data))
    except ApiError as e:
        await resp.write(frame(SYSERR, f"Error grabbing logs: {e.message}\n".encode()))
    except Exception as e:  # the answer has begun: the error can only go into the stream
        log.exception("engine api: log stream of %s failed", request.path)
        await resp.write(frame(SYSERR, f"Error grabbing logs: {e or type(e).__name__}\n".encode()))
    await resp.write_eof()
    return resp


async def container_top(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    req = daemon_pb2.ContainerTopRequest(id=request.match_info["id"],
                                         ps_args=request.query.get("ps_args", ""))
    r = await b.call(b.daemon.ContainerTop, req)
    return reply(json.loads(r.top_json))


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def container_stats(request: web.Request) -> web.StreamResponse:
    stream = flag(request, "stream") if "stream" in request.query else True   # moby: default true
    v = api_version(request)
    one_shot = flag(request, "one-shot") if v is None or v >= (1, 41) else False
    b = backend(request)
    req = daemon_pb2.ContainerStatsRequest(id=request.match_info["id"], stream=stream, one_shot=one_shot)
    samples = b.stream(b.daemon.ContainerStats, req)
    try:
        first = await anext(samples, None)         # 404 / 409 / 500 before the answer begins
    except BaseException:
        await samples.aclose()
        raise
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        await resp.prepare(request)
        if first is not None:
            await resp.write(first.stats_json.encode() + b"\n")
            if stream:
                async for m in samples:
                    if request.app[SHUTDOWN].is_set() or _gone(request):
                        break
                    await resp.write(m.stats_json.encode() + b"\n")
        await resp.write_eof()
    except ConnectionResetError:                   # the client went away: the samples stop
        pass
    except ApiError as e:           # the answer has begun: it can only end
        log.info("engine api: stats of %s ended: %s", request.match_info["id"], e.message)
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
    finally:
        await samples.aclose()
    return resp


ROUTES: list[Route] = [
    ("GET", "/containers/json", list_containers),
    ("GET", "/containers/{id}/json", inspect_container),
    ("GET", "/containers/{id}/logs", container_logs),
    ("GET", "/containers/{id}/top", container_top),
    ("GET", "/containers/{id}/stats", container_stats),
]
