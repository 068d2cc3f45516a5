"""Small request/response helpers every route module shares (the aiohttp side of the edge)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from swarm.engineapi.backend import Backend
from swarm.engineapi.doccache import DocCache
from swarm.engineapi.errors import BadRequest

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]  # method, path (without /vX.Y), handler

BACKEND = web.AppKey("backend", Backend)
DOCS = web.AppKey("docs", DocCache)
SHUTDOWN = web.AppKey("shutdown", asyncio.Event)  # set when the server stops: streams end cleanly
T = TypeVar("T")


async def until_shutdown(request: web.Request, items: AsyncIterator[T]) -> AsyncIterator[T]:
    """``items`` until they end or the server stops (then the caller ends its answer properly
    instead of being cancelled mid-stream)."""
    stop = asyncio.ensure_future(request.app[SHUTDOWN].wait())
    try:
        while True:
            nxt = asyncio.ensure_future(anext(items, _END))
            done, _ = await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                return
            item = nxt.result()
            if item is _END:
                return
            yield item
    finally:
        stop.cancel()


_END: Any = object()


def backend(request: web.Request) -> Backend:
    return request.app[BACKEND]


def docs(request: web.Request) -> DocCache:
    return request.app[DOCS]


def api_version(request: web.Request) -> tuple[int, int] | None:
    """The API version the client asked for in the path (``/v1.47/...``), or None."""
    v = request.match_info.get("version")
    if not v:
        return None
    major, _, minor = v.partition(".")
    return int(major), int(minor)


def reply(doc: Any, status: int = 200) -> web.Response:
    """A JSON answer, encoded as Go's encoder does it (one line, then a newline). The content
    type is exactly ``application/json``: the docker CLI reads an error's message only then."""
    data = (json.dumps(doc, separators=(",", ":")) + "\n").encode()
    return web.Response(body=data, status=status, headers={"Content-Type": "application/json"})


def empty(status: int = 200) -> web.Response:
    return web.Response(status=status)


async def body(request: web.Request, what: str) -> Any:
    """The request's JSON body; a missing or broken one is a 400 naming ``what``."""
    raw = await request.read()
    if not raw.strip():
        raise BadRequest(f"{what}: the request body is empty (expected a JSON {what})")
    try:
        return json.loads(raw)
    except ValueError as e:
        raise BadRequest(f"{what}: the request body is not valid JSON: {e}") from None


def flag(request: web.Request, name: str) -> bool:
    """moby's httputils.BoolValue: absent, '', '0', 'no', 'false', 'none' are false."""
    return request.query.get(name, "").strip().lower() not in ("", "0", "no", "false", "none")


def version_param(request: web.Request) -> int:
    """The ``version`` query parameter of an update (the object's ``Version.Index``)."""
    raw = request.query.get("version")
    if raw is None or not raw.strip().isdigit():
        raise BadRequest(
            f"invalid version: {raw!r} (expected the object's Version.Index)"
            if raw is not None
            else "missing version parameter (the object's Version.Index)"
        )
    return int(raw)
