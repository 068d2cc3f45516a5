"""`GET /events`: the cluster's swarm-scoped events as dockerd streams them (`docker events`,
docker-py ``client.events()``), one JSON object per line::

    {"Type":"service","Action":"create","Actor":{"ID":"...","Attributes":{"name":"web"}},
     "scope":"swarm","time":1700000000,"timeNano":1700000000123456789}

A manager answers from its replica (``Control.Events``: the last 256 events from ``since``, then
live). ``until`` ends the stream once that time has passed, as dockerd does. A worker has no
swarm events and pyswarm serves no local container events: its stream stays open and empty.

Filters are dockerd's keys; the ones that name objects pyswarm never reports (container, image,
volume, plugin, daemon) match nothing, as they match no swarm event in dockerd either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import web

from swarm.api import control_pb2
from swarm.engineapi.errors import ApiError, BadRequest
from swarm.engineapi.filters import Filters
from swarm.engineapi.http import SHUTDOWN, Route, backend, until_shutdown

log = logging.getLogger(__name__)

ACCEPTED = ("config", "container", "daemon", "event", "image", "label", "network", "node",
            "plugin", "scope", "secret", "service", "type", "volume")
TYPES = ("builder", "config", "container", "daemon", "image", "network", "node", "plugin",
         "secret", "service", "volume")
OBJECT_KEYS = ("config", "network", "node", "secret", "service")


def parse_time(raw: str, what: str) -> int:
    """A Unix time as the CLI sends it (``seconds[.nanoseconds]``) in nanoseconds; 0 if absent."""
    if not raw:
        return 0
    secs, _, frac = raw.partition(".")
    if not secs.lstrip("-").isdigit() or (frac and not frac.isdigit()):
        raise BadRequest(f"invalid {what} {raw!r}: expected a Unix timestamp (seconds[.nanoseconds])")
    return int(secs) * 1_000_000_000 + (int(frac.ljust(9, "0")[:9]) if frac else 0)


def to_docker(m: control_pb2.EventMessage) -> dict[str, Any]:
    return {"Type": m.type, "Action": m.action,
            "Actor": {"ID": m.actor_id, "Attributes": dict(m.attributes)},
            "scope": "swarm", "time": m.time_nanos // 1_000_000_000, "timeNano": m.time_nanos}


def matches(m: control_pb2.EventMessage, f: Filters) -> bool:
    if "type" in f and m.type not in f.get("type"):
        return False
    if "event" in f and m.action not in f.get("event"):
        return False
    if "scope" in f and "swarm" not in f.get("scope"):
        return False
    if "label" in f:
        return False          # swarm events carry no labels in dockerd either
    wanted = [k for k in (*OBJECT_KEYS, "container", "image", "volume", "plugin", "daemon") if k in f]
    if wanted:
        name = m.attributes.get("name", "")
        return any(k == m.type and (m.actor_id in f.get(k) or name in f.get(k)) for k in wanted)
    return True


async def idle(request: web.Request, poll: float = 1.0) -> None:
    """Until the client goes away or the server stops."""
    stop = request.app[SHUTDOWN]
    while not stop.is_set() and request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(poll)


async def events(request: web.Request) -> web.StreamResponse:
    f = Filters.parse(request.query.get("filters"), ACCEPTED)
    for t in f.get("type"):
        if t not in TYPES:
            raise BadRequest(f"invalid filter 'type={t}'")
    since = parse_time(request.query.get("since", ""), "since")
    until = parse_time(request.query.get("until", ""), "until")
    now = time.time_ns()
    if since > now:
        since = now
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    b = backend(request)

    try:
        req = control_pb2.EventsRequest(since_nanos=since, until_nanos=until)
        async for m in until_shutdown(request, b.stream(b.control.Events, req)):
            if matches(m, f):
                await resp.write((json.dumps(to_docker(m), separators=(",", ":")) + "\n").encode())
    except ApiError as e:
        if e.message.startswith("This node is not"):   # a worker, or a node out of a swarm:
            left = (until - time.time_ns()) / 1e9 if until else None      # open and empty
            if left is None or left > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(idle(request), left)
        else:
            log.info("engine api: event stream ended: %s", e.message)
    await resp.write_eof()
    return resp


ROUTES: list[Route] = [
    ("GET", "/events", events),
]
