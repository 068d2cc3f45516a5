"""Objects this edge does not serve, answered 404 rather than 501 where a client walks through
object types on "not found": `docker inspect NAME` asks ``/containers/NAME/json`` first, then
images, networks, volumes, services, tasks, nodes, ``/plugins/NAME/json``, secrets, configs, and
stops at the first answer that is neither found nor 404. pyswarm has no plugins at all (the
node's task containers are served by ``routes.containers``)."""

from __future__ import annotations

from aiohttp import web

from swarm.engineapi.errors import ApiError
from swarm.engineapi.http import Route


async def plugin(request: web.Request) -> web.StreamResponse:
    raise ApiError(404, f"plugin {request.match_info['name']!r} not found (pyswarm has no plugins)")


ROUTES: list[Route] = [
    ("GET", "/plugins/{name:.+}/json", plugin),
]
