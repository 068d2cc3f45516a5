"""The node's local volumes (`swarm volume create|ls|inspect|rm|prune`) over the daemon API.

The volume store (``node.volumes``) is synchronous and takes file locks, so every call runs in
a worker thread. Answers carry Docker's volume JSON as text (``Volume.to_docker``); errors are
the store's own (``node.volumes.errors``, Docker's messages), mapped at the RPC edge. ``ls``
filters are Docker's: ``dangling=true|false``, ``driver=``, ``label=k[=v]``, ``name=``; any
other key is refused naming it, as Docker does (``invalid filter 'x'``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from node.volumes import VolumeStore
from node.volumes.errors import InvalidVolumeError
from swarm.api import daemon_pb2 as d

_LS_FILTERS = ("dangling", "driver", "label", "name")
_PRUNE_FILTERS = ("label", "all")


def _split(filters: Any, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in filters:
        k, sep, v = f.partition("=")
        if not sep or k not in allowed:
            raise InvalidVolumeError(f"invalid filter '{k if sep else f}'")
        out.setdefault(k, []).append(v)
    return out


def _bool(key: str, values: list[str]) -> bool:
    v = values[-1].lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise InvalidVolumeError(f"invalid filter '{key}={values[-1]}'")


def _doc(v: Any) -> str:
    return json.dumps(v.to_docker(), sort_keys=True)


async def create(volumes: VolumeStore, req: d.VolumeCreateRequest) -> d.VolumeCreateResponse:
    v = await asyncio.to_thread(volumes.create, req.name, dict(req.labels), req.driver or "local",
                                dict(req.driver_opts))
    return d.VolumeCreateResponse(volume_json=_doc(v))


async def list_volumes(volumes: VolumeStore, req: d.VolumeListRequest) -> d.VolumeListResponse:
    f = _split(req.filters, _LS_FILTERS)
    dangling = _bool("dangling", f["dangling"]) if "dangling" in f else None
    if any(d not in ("", "local") for d in f.get("driver", [])):
        return d.VolumeListResponse()      # only the local driver exists here
    names = f.get("name", [])

    def run() -> list[Any]:
        found = volumes.list(dangling=dangling, labels=f.get("label", []))
        return [v for v in found if not names or any(n in v.name for n in names)]

    found = await asyncio.to_thread(run)
    return d.VolumeListResponse(volumes_json=[_doc(v) for v in found])


async def inspect(volumes: VolumeStore, req: d.VolumeInspectRequest) -> d.VolumeInspectResponse:
    v = await asyncio.to_thread(volumes.get, req.name)
    return d.VolumeInspectResponse(volume_json=_doc(v))


async def remove(volumes: VolumeStore, req: d.VolumeRemoveRequest) -> d.VolumeRemoveResponse:
    await asyncio.to_thread(volumes.remove, req.name, req.force)
    return d.VolumeRemoveResponse()


async def prune(volumes: VolumeStore, req: d.VolumePruneRequest) -> d.VolumePruneResponse:
    f = _split(req.filters, _PRUNE_FILTERS)
    everything = req.all or ("all" in f and _bool("all", f["all"]))
    report = await asyncio.to_thread(volumes.prune, everything, f.get("label", []))
    return d.VolumePruneResponse(deleted=report.deleted, space_reclaimed=report.space_reclaimed)
