"""`/images`: the node's local image store: list, pull (``/images/create`` with Docker's progress
JSON stream), inspect and delete. Image names carry slashes and colons (``10.0.0.1:5000/demo/web:1``),
so the name is the rest of the path; a name is a tag (``:latest`` implied), a digest reference, or
an id or its prefix."""

from __future__ import annotations

import fnmatch
import json
import logging
from typing import Any

from aiohttp import web

from swarm.api import daemon_pb2
from swarm.engineapi.errors import ApiError, BadRequest
from swarm.engineapi.filters import Filters
from swarm.engineapi.http import Route, backend, flag, reply
from swarm.shapes.engine import image_inspect_doc, image_summary_doc

log = logging.getLogger(__name__)

LIST_FILTERS = ("dangling", "reference", "label", "before", "since")


def _tagged(ref: str) -> str:
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last or "@" in ref else ref + ":latest"


def matches(img: daemon_pb2.ImageSummary, ref: str) -> bool:
    if ref in img.repo_digests or _tagged(ref) in img.repo_tags:
        return True
    hexid = img.id.split(":", 1)[-1]
    bare = ref.split(":", 1)[-1] if ref.startswith("sha256:") else ref
    return len(bare) >= 4 and all(c in "0123456789abcdef" for c in bare) and hexid.startswith(bare)


async def _images(request: web.Request) -> list[daemon_pb2.ImageSummary]:
    b = backend(request)
    return list((await b.call(b.daemon.ImageList, daemon_pb2.ImageListRequest())).images)


async def list_images(request: web.Request) -> web.StreamResponse:
    f = Filters.parse(request.query.get("filters"), LIST_FILTERS)
    if f.get("label") or f.get("before") or f.get("since"):
        raise BadRequest("the label, before and since image filters are not supported by pyswarm")
    imgs = await _images(request)
    dangling = f.boolean("dangling")
    if dangling is not None:
        imgs = [i for i in imgs if (not i.repo_tags) == dangling]
    refs = f.get("reference")
    if refs:
        imgs = [
            i
            for i in imgs
            if any(
                fnmatch.fnmatchcase(t, r) or fnmatch.fnmatchcase(t.rsplit(":", 1)[0], r)
                for t in i.repo_tags
                for r in refs
            )
        ]
    return reply([image_summary_doc(i) for i in imgs])


async def inspect_image(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    for img in await _images(request):
        if matches(img, name):
            return reply(image_inspect_doc(img))
    raise ApiError(404, f"No such image: {name}")


def _line(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, separators=(",", ":")) + "\r\n").encode()


def _progress(p: daemon_pb2.ImagePullProgress) -> dict[str, Any]:
    doc: dict[str, Any] = {"status": p.status}
    if p.id:
        doc["id"] = p.id
    if p.total:
        doc["progressDetail"] = {"current": p.current, "total": p.total}
    return doc


async def create_image(request: web.Request) -> web.StreamResponse:
    """Pull ``fromImage`` (and ``tag``); an error before anything arrived is the answer's status,
    a later one an ``error`` line in the stream, as dockerd writes it."""
    q = request.query
    if q.get("fromSrc"):
        raise BadRequest("importing an image (fromSrc) is not supported by pyswarm's Engine API")
    image = q.get("fromImage", "")
    if not image:
        raise BadRequest("fromImage is required")
    tag = q.get("tag", "")
    ref = image + (("@" if tag.startswith("sha256:") else ":") + tag if tag else "")
    b = backend(request)
    stream = b.stream(b.daemon.ImagePull, daemon_pb2.ImagePullRequest(reference=ref), timeout=3600)
    first = await anext(stream, None)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(_line({"status": f"Pulling from {image}", "id": tag or "latest"}))
    try:
        msg = first
        while msg is not None:
            if msg.digest:
                await resp.write(_line({"status": f"Digest: {msg.digest}"}))
            await resp.write(_line(_progress(msg)))
            msg = await anext(stream, None)
    except ApiError as e:
        await resp.write(_line({"errorDetail": {"message": e.message}, "error": e.message}))
    except Exception as e:  # the answer has begun: the error can only go into the stream
        log.exception("engine api: pull of %s failed", ref)
        text = f"internal error: {e or type(e).__name__}"
        await resp.write(_line({"errorDetail": {"message": text}, "error": text}))
    await resp.write_eof()
    return resp


async def delete_image(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    r = await b.call(
        b.daemon.ImageRemove,
        daemon_pb2.ImageRemoveRequest(reference=request.match_info["name"], force=flag(request, "force")),
    )
    return reply([{"Untagged": u} for u in r.untagged] + [{"Deleted": d} for d in r.deleted])


ROUTES: list[Route] = [
    ("GET", "/images/json", list_images),
    ("POST", "/images/create", create_image),
    ("GET", "/images/{name:.+}/json", inspect_image),
    ("DELETE", "/images/{name:.+}", delete_image),
]
