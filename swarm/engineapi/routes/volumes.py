"""`/volumes`: the node's local volumes (list with filters, create, inspect, delete, prune). The
daemon already answers Docker's volume JSON (``node.volumes``), so these pass it through."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from swarm.api import daemon_pb2
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.filters import Filters
from swarm.engineapi.http import Route, backend, body, empty, flag, reply
from swarm.engineapi.tables import string, string_map

LIST_FILTERS = ("dangling", "driver", "label", "name")
PRUNE_FILTERS = ("label", "all")


async def list_volumes(request: web.Request) -> web.StreamResponse:
    f = Filters.parse(request.query.get("filters"), LIST_FILTERS)
    b = backend(request)
    r = await b.call(b.daemon.VolumeList, daemon_pb2.VolumeListRequest(filters=f.pairs()))
    return reply({"Volumes": [json.loads(v) for v in r.volumes_json], "Warnings": []})


def create_request(doc: Any) -> daemon_pb2.VolumeCreateRequest:
    if not isinstance(doc, dict):
        raise BadRequest("invalid VolumeCreateOptions: expected a JSON object")
    if doc.get("ClusterVolumeSpec"):
        raise BadRequest(
            "VolumeCreateOptions.ClusterVolumeSpec is not supported by pyswarm (no cluster volumes)"
        )
    return daemon_pb2.VolumeCreateRequest(
        name=string(doc.get("Name") or "", "VolumeCreateOptions.Name"),
        driver=string(doc.get("Driver") or "", "VolumeCreateOptions.Driver"),
        driver_opts=string_map(doc.get("DriverOpts") or {}, "VolumeCreateOptions.DriverOpts"),
        labels=string_map(doc.get("Labels") or {}, "VolumeCreateOptions.Labels"),
    )


async def create_volume(request: web.Request) -> web.StreamResponse:
    req = create_request(await body(request, "VolumeCreateOptions"))
    b = backend(request)
    r = await b.call(b.daemon.VolumeCreate, req)
    return reply(json.loads(r.volume_json), status=201)


async def inspect_volume(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    r = await b.call(b.daemon.VolumeInspect, daemon_pb2.VolumeInspectRequest(name=request.match_info["name"]))
    return reply(json.loads(r.volume_json))


async def delete_volume(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    await b.call(
        b.daemon.VolumeRemove,
        daemon_pb2.VolumeRemoveRequest(name=request.match_info["name"], force=flag(request, "force")),
    )
    return empty(204)


async def prune_volumes(request: web.Request) -> web.StreamResponse:
    f = Filters.parse(request.query.get("filters"), PRUNE_FILTERS)
    b = backend(request)
    r = await b.call(b.daemon.VolumePrune, daemon_pb2.VolumePruneRequest(filters=f.pairs()))
    return reply({"VolumesDeleted": list(r.deleted) or None, "SpaceReclaimed": r.space_reclaimed})


ROUTES: list[Route] = [
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/create", create_volume),
    ("POST", "/volumes/prune", prune_volumes),
    ("GET", "/volumes/{name}", inspect_volume),
    ("DELETE", "/volumes/{name}", delete_volume),
]
