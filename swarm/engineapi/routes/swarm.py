"""`/swarm`: inspect, init, join, leave, update (spec, join-token and unlock-key rotation), the
unlock key and unlock (autolock)."""

from __future__ import annotations

from aiohttp import web

from swarm.api import control_pb2, daemon_pb2, types_pb2
from swarm.engineapi.errors import ApiError, BadRequest
from swarm.engineapi.http import Route, backend, body, empty, flag, reply, version_param
from swarm.engineapi.swarmspecs import init_request, join_request, swarm_spec
from swarm.shapes.engine import swarm_doc

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)


async def inspect(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    info = await b.call(b.daemon.Info, daemon_pb2.InfoRequest())
    if info.local_node_state == "locked":
        raise ApiError(503, info.error)
    if info.local_node_state != "active":
        raise ApiError(503, NOT_A_MANAGER)
    cl = (await b.call(b.control.GetCluster, control_pb2.GetClusterRequest())).cluster
    return reply(swarm_doc(cl))


async def init(request: web.Request) -> web.StreamResponse:
    req = init_request(await body(request, "SwarmInitRequest"))
    b = backend(request)
    r = await b.call(b.daemon.Init, req, timeout=120)
    return reply(r.node_id)  # dockerd answers the node ID as a JSON string


async def join(request: web.Request) -> web.StreamResponse:
    req = join_request(await body(request, "SwarmJoinRequest"))
    b = backend(request)
    await b.call(b.daemon.Join, req, timeout=120)
    return empty()


async def leave(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    await b.call(b.daemon.Leave, daemon_pb2.LeaveRequest(force=flag(request, "force")), timeout=60)
    return empty()


async def update(request: web.Request) -> web.StreamResponse:
    version = version_param(request)
    spec = swarm_spec(await body(request, "SwarmSpec"))
    b = backend(request)
    cl = (await b.call(b.control.GetCluster, control_pb2.GetClusterRequest())).cluster
    rotation = control_pb2.KeyRotation(
        worker_join_token=flag(request, "rotateWorkerToken"),
        manager_join_token=flag(request, "rotateManagerToken"),
        manager_unlock_key=flag(request, "rotateManagerUnlockKey"),
    )
    await b.call(
        b.control.UpdateCluster,
        control_pb2.UpdateClusterRequest(
            cluster_id=cl.id, cluster_version=types_pb2.Version(index=version), spec=spec, rotation=rotation
        ),
    )
    return empty()


async def unlock_key(request: web.Request) -> web.StreamResponse:
    """The key in swarmkit's text (``SWMKEY-1-...``), empty without autolock (the CLI then prints
    ``no unlock key is set``). Manager only."""
    b = backend(request)
    r = await b.call(b.control.GetUnlockKey, control_pb2.GetUnlockKeyRequest())
    return reply({"UnlockKey": r.unlock_key})


async def unlock(request: web.Request) -> web.StreamResponse:
    doc = await body(request, "SwarmUnlockRequest")
    key = doc.get("UnlockKey") if isinstance(doc, dict) else None
    if not isinstance(key, str):
        raise BadRequest("SwarmUnlockRequest.UnlockKey must be a string")
    b = backend(request)
    await b.call(b.daemon.Unlock, daemon_pb2.UnlockRequest(unlock_key=key), timeout=120)
    return empty()


ROUTES: list[Route] = [
    ("GET", "/swarm/unlockkey", unlock_key),
    ("GET", "/swarm", inspect),
    ("POST", "/swarm/init", init),
    ("POST", "/swarm/join", join),
    ("POST", "/swarm/leave", leave),
    ("POST", "/swarm/unlock", unlock),
    ("POST", "/swarm/update", update),
]
