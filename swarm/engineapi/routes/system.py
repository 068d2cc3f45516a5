"""`/_ping`, `/version`, `/info`."""

from __future__ import annotations

from aiohttp import web

from swarm.api import control_pb2, daemon_pb2, objects_pb2
from swarm.engineapi.errors import ApiError
from swarm.engineapi.http import Route, backend, reply
from swarm.shapes.engine import info_doc, version_doc


def swarm_header(info: daemon_pb2.InfoResponse) -> str:
    """The ``Swarm`` header of ``/_ping``: inactive | pending | error | locked | active/worker |
    active/manager (the CLI hides manager commands unless active/manager)."""
    state = info.local_node_state or "inactive"
    if state == "active":
        return "active/manager" if info.control_available else "active/worker"
    return state


async def ping(request: web.Request) -> web.StreamResponse:
    from swarm.engineapi.server import API_VERSION

    try:
        info = await backend(request).call(backend(request).daemon.Info, daemon_pb2.InfoRequest(), timeout=5)
        swarm = swarm_header(info)
    except ApiError:
        swarm = "error"
    headers = {
        "Api-Version": API_VERSION,
        "Docker-Experimental": "false",
        "Ostype": "linux",
        "Swarm": swarm,
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
    }
    return web.Response(text="OK", headers=headers, content_type="text/plain")


async def version(request: web.Request) -> web.StreamResponse:
    from swarm.engineapi.server import API_VERSION, MIN_API_VERSION

    b = backend(request)
    r = await b.call(b.daemon.Version, daemon_pb2.VersionRequest())
    return reply(version_doc(r, API_VERSION, MIN_API_VERSION))


async def cluster(request: web.Request) -> objects_pb2.Cluster:
    b = backend(request)
    r = await b.call(b.control.GetCluster, control_pb2.GetClusterRequest())
    return r.cluster


async def info(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    r = await b.call(b.daemon.Info, daemon_pb2.InfoRequest())
    cl = None
    if r.control_available:
        try:
            cl = await cluster(request)
        except ApiError as e:  # info answers even without a leader: say why, as dockerd
            r.error = r.error or e.message
    return reply(info_doc(r, cl))


ROUTES: list[Route] = [
    ("GET", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
]
