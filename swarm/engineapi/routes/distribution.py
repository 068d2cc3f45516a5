"""`GET /distribution/{name}/json`: what the image's registry says a reference is (the docker
CLI's digest pinning before ``service create|update``), asked by this node's daemon
(``DistributionInspect``). The name is the rest of the path (``127.0.0.1:5000/demo/web:1``).
``X-Registry-Auth`` goes with it; an unreadable one is ignored, as dockerd ignores it. Errors are
dockerd's: 400 for a reference that does not parse, 404 with the registry's words for an unknown
image (``manifest unknown: manifest unknown``), 401/403 refused credentials, 500 for a full image
id or a registry that cannot be reached."""

from __future__ import annotations

from aiohttp import web

from swarm.api import daemon_pb2
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.http import Route, backend, reply
from swarm.engineapi.routes.services import registry_auth
from swarm.shapes.engine import distribution_doc


def _auth(request: web.Request) -> str:
    try:
        return registry_auth(request)
    except BadRequest:
        return ""


async def inspect_distribution(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    name = request.match_info["name"]
    ask = daemon_pb2.DistributionInspectRequest(reference=name, registry_auth=_auth(request))
    return reply(distribution_doc(await b.call(b.daemon.DistributionInspect, ask)))


ROUTES: list[Route] = [
    ("GET", "/distribution/{name:.+}/json", inspect_distribution),
]
