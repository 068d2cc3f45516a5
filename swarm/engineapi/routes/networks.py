"""`/networks`: list (filters), inspect, create and delete, for swarm-scope overlay networks (the
only kind pyswarm has: no local bridge, host or none networks are listed)."""

from __future__ import annotations

from aiohttp import web

from swarm.api import control_pb2, objects_pb2
from swarm.engineapi.errors import ApiError, BadRequest
from swarm.engineapi.filters import Filters, labels_match, prefix_match
from swarm.engineapi.http import Route, backend, body, empty, reply
from swarm.engineapi.resources import network_spec
from swarm.shapes.engine import network_doc

NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def _matches(n: objects_pb2.Network, f: Filters, used: set[str]) -> bool:
    name = n.spec.annotations.name
    if f.get("name") and not any(v in name for v in f.get("name")):  # substring, as dockerd
        return False
    if not prefix_match(f.get("id"), n.id):
        return False
    if f.get("driver") and (n.spec.driver_config.name or "overlay") not in f.get("driver"):
        return False
    if f.get("scope") and not {"swarm", "global"} & set(f.get("scope")):
        return False
    kind = "builtin" if n.spec.ingress else "custom"
    if f.get("type") and kind not in f.get("type"):
        return False
    if not labels_match(f.labels(), n.spec.annotations.labels):
        return False
    dangling = f.boolean("dangling")
    return dangling is None or dangling == (not n.spec.ingress and n.id not in used and name not in used)


async def list_networks(request: web.Request) -> web.StreamResponse:
    f = Filters.parse(request.query.get("filters"), NETWORK_FILTERS)
    b = backend(request)
    nets = (await b.call(b.control.ListNetworks, control_pb2.ListNetworksRequest())).networks
    used: set[str] = set()
    if "dangling" in f:
        svcs = (await b.call(b.control.ListServices, control_pb2.ListServicesRequest())).services
        used = {a.target for s in svcs for a in s.spec.task.networks}
    return reply([network_doc(n) for n in nets if _matches(n, f, used)])


async def get_network(request: web.Request, ref: str) -> objects_pb2.Network:
    b = backend(request)
    return (await b.call(b.control.GetNetwork, control_pb2.GetNetworkRequest(network_id=ref))).network


async def inspect_network(request: web.Request) -> web.StreamResponse:
    return reply(network_doc(await get_network(request, request.match_info["id"])))


async def create_network(request: web.Request) -> web.StreamResponse:
    spec = network_spec(await body(request, "NetworkCreateRequest"))
    b = backend(request)
    r = await b.call(b.control.CreateNetwork, control_pb2.CreateNetworkRequest(spec=spec))
    return reply({"Id": r.network.id, "Warning": ""}, status=201)


async def delete_network(request: web.Request) -> web.StreamResponse:
    net = await get_network(request, request.match_info["id"])
    b = backend(request)
    await b.call(b.control.RemoveNetwork, control_pb2.RemoveNetworkRequest(network_id=net.id))
    return empty(204)


async def prune_networks(request: web.Request) -> web.StreamResponse:
    """Remove the swarm networks no service uses (never ingress), as dockerd prunes cluster
    networks on a manager; ``label`` filters which."""
    f = Filters.parse(request.query.get("filters"), ("label", "until"))
    if f.get("until"):
        raise BadRequest("the until filter of network prune is not supported by pyswarm")
    b = backend(request)
    nets = (await b.call(b.control.ListNetworks, control_pb2.ListNetworksRequest())).networks
    svcs = (await b.call(b.control.ListServices, control_pb2.ListServicesRequest())).services
    used = {a.target for s in svcs for a in s.spec.task.networks}
    deleted = []
    for n in nets:
        name = n.spec.annotations.name
        if (
            n.spec.ingress
            or n.id in used
            or name in used
            or not labels_match(f.labels(), n.spec.annotations.labels)
        ):
            continue
        try:
            await b.call(b.control.RemoveNetwork, control_pb2.RemoveNetworkRequest(network_id=n.id))
        except ApiError as e:
            if e.status >= 500:
                raise
            continue  # taken meanwhile (in use): not pruned, as dockerd skips it
        deleted.append(name)
    return reply({"NetworksDeleted": deleted or None})


ROUTES: list[Route] = [
    ("POST", "/networks/prune", prune_networks),
    ("GET", "/networks", list_networks),
    ("POST", "/networks/create", create_network),
    ("GET", "/networks/{id}", inspect_network),
    ("DELETE", "/networks/{id}", delete_network),
]
