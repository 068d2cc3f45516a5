"""`/services/{id}/logs` and `/tasks/{id}/logs` in Docker's stream framing.

Without a TTY each line is one frame: an 8-byte header ``[STREAM, 0, 0, 0, SIZE (uint32 BE)]``
(1 stdout, 2 stderr, 3 a system error: ``Error grabbing logs: ...``), content type
``application/vnd.docker.multiplexed-stream`` (API >= 1.42); with a TTY the bytes go unframed
(``application/vnd.docker.raw-stream``). ``timestamps`` puts a fixed-width RFC 3339 nano
timestamp first; ``details`` puts the ``com.docker.swarm.*.id`` pairs the CLI reads before the
line (moby httputils/write_log_stream.go).
"""

from __future__ import annotations

import logging
import struct
from typing import Any
from urllib.parse import quote

from aiohttp import web

from swarm.api import control_pb2, dispatcher_pb2
from swarm.engineapi.errors import ApiError, BadRequest
from swarm.engineapi.http import Route, api_version, backend, flag, until_shutdown

log = logging.getLogger(__name__)

STDOUT, STDERR, SYSERR = 1, 2, 3


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


def timestamp(m: Any) -> str:
    """Go's RFC3339NanoFixed of a message's ``timestamp``: always nine digits of nanoseconds."""
    ts = m.timestamp
    return ts.ToDatetime().strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.nanos:09d}Z"


def details(m: dispatcher_pb2.LogMessage, service_id: str = "") -> str:
    """``service_id`` stands in when the node's message does not carry one (the CLI needs it)."""
    ctx = m.context
    pairs = {a.key: a.value for a in m.attrs}
    pairs.update({
        "com.docker.swarm.node.id": ctx.node_id,
        "com.docker.swarm.service.id": ctx.service_id or service_id,
        "com.docker.swarm.task.id": ctx.task_id,
    })
    return ",".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(pairs.items()))


def line(
    m: dispatcher_pb2.LogMessage, *, timestamps: bool, with_details: bool, service_id: str = ""
) -> bytes:
    prefix = ""
    if timestamps:
        prefix += timestamp(m) + " "
    if with_details:
        prefix += details(m, service_id) + " "
    data = m.data if m.data.endswith(b"\n") else m.data + b"\n"
    return prefix.encode() + data


def streams_and_tail(request: web.Request) -> tuple[list[str], int]:
    """The ``stdout``/``stderr`` choice (at least one) and ``tail`` (-1 = all) of a log request."""
    streams = [s for s in ("stdout", "stderr") if flag(request, s)]
    if not streams:
        raise BadRequest("Bad parameters: you must choose at least one stream")
    tail = request.query.get("tail", "all") or "all"
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise BadRequest(f"invalid tail {tail!r}: expected a number or 'all'")
    return streams, -1 if tail == "all" or int(tail) < 0 else int(tail)


def options(request: web.Request) -> dispatcher_pb2.LogSubscriptionOptions:
    q = request.query
    streams, tail = streams_and_tail(request)
    opts = dispatcher_pb2.LogSubscriptionOptions(follow=flag(request, "follow"), streams=streams, tail=tail)
    since = q.get("since", "")
    if since and since != "0":
        secs, _, frac = since.partition(".")
        if not secs.isdigit() or (frac and not frac.isdigit()):
            raise BadRequest(f"invalid since {since!r}: expected a Unix timestamp (seconds[.nanoseconds])")
        opts.since.seconds, opts.since.nanos = int(secs), int(frac.ljust(9, "0")[:9]) if frac else 0
    return opts


async def _stream(
    request: web.Request, selector: dispatcher_pb2.LogSelector, tty: bool, service_id: str
) -> web.StreamResponse:
    opts = options(request)
    v = api_version(request)
    multiplexed = not tty and (v is None or v >= (1, 42))
    resp = web.StreamResponse(
        headers={
            "Content-Type": "application/vnd.docker.multiplexed-stream"
            if multiplexed
            else "application/vnd.docker.raw-stream"
        }
    )
    await resp.prepare(request)
    b = backend(request)
    ts, det = flag(request, "timestamps"), flag(request, "details")
    try:
        messages = b.stream(
            b.logs.SubscribeLogs,
            dispatcher_pb2.SubscribeLogsRequest(selector=selector, options=opts),
            timeout=None if opts.follow else 60,
        )
        async for msg in until_shutdown(request, messages):
            chunk = b"".join(
                data if tty else frame(STDERR if m.stream == "stderr" else STDOUT, data)
                for m in msg.messages
                for data in [line(m, timestamps=ts, with_details=det, service_id=service_id)]
            )
            if chunk:
                await resp.write(chunk)
    except ApiError as e:
        await resp.write(frame(SYSERR, f"Error grabbing logs: {e.message}\n".encode()))
    except Exception as e:  # the answer has begun: the error can only go into the stream
        log.exception("engine api: log stream of %s failed", request.path)
        await resp.write(frame(SYSERR, f"Error grabbing logs: {e or type(e).__name__}\n".encode()))
    await resp.write_eof()
    return resp


async def service_logs(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    svc = (
        await b.call(b.control.GetService, control_pb2.GetServiceRequest(service_id=request.match_info["id"]))
    ).service
    return await _stream(
        request, dispatcher_pb2.LogSelector(service_ids=[svc.id]), svc.spec.task.container.tty, svc.id
    )


async def task_logs(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    t = (await b.call(b.control.GetTask, control_pb2.GetTaskRequest(task_id=request.match_info["id"]))).task
    return await _stream(
        request, dispatcher_pb2.LogSelector(task_ids=[t.id]), t.spec.container.tty, t.service_id
    )


ROUTES: list[Route] = [
    ("GET", "/services/{id}/logs", service_logs),
    ("GET", "/tasks/{id}/logs", task_logs),
]
