"""`/nodes`: list (filters), inspect, update (with version), delete (with force)."""

from __future__ import annotations

from aiohttp import web

from swarm.api import control_pb2, objects_pb2, specs_pb2, types_pb2
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.filters import Filters, prefix_match
from swarm.engineapi.http import Route, backend, body, docs, empty, flag, reply, version_param
from swarm.engineapi.specs import node_spec
from swarm.shapes.docker import node_doc

NODE_FILTERS = ("id", "label", "membership", "name", "node.label", "role")
_ROLES = {"worker": types_pb2.WORKER, "manager": types_pb2.MANAGER}
_MEMBERSHIPS = {"pending": specs_pb2.NodeSpec.PENDING, "accepted": specs_pb2.NodeSpec.ACCEPTED}


def list_request(f: Filters) -> control_pb2.ListNodesRequest:
    lf = control_pb2.ListNodesRequest.Filters()
    for role in f.get("role"):
        if role not in _ROLES:
            raise BadRequest(f"invalid filter 'role={role}'")
        lf.roles.append(_ROLES[role])
    for m in f.get("membership"):
        if m not in _MEMBERSHIPS:
            raise BadRequest(f"invalid filter 'membership={m}'")
        lf.memberships.append(_MEMBERSHIPS[m])
    lf.labels.update(f.labels("label"))
    lf.node_labels.update(f.labels("node.label"))
    return control_pb2.ListNodesRequest(filters=lf)


def matches(n: objects_pb2.Node, f: Filters) -> bool:
    return prefix_match(f.get("id"), n.id) and prefix_match(
        f.get("name"), n.spec.annotations.name, n.description.hostname
    )


async def list_nodes(request: web.Request) -> web.StreamResponse:
    f = Filters.parse(request.query.get("filters"), NODE_FILTERS)
    b = backend(request)
    nodes = (await b.call(b.control.ListNodes, list_request(f))).nodes
    cache = docs(request)
    return reply([cache.doc("node", n, node_doc) for n in nodes if matches(n, f)])


async def get_node(request: web.Request, ref: str) -> objects_pb2.Node:
    b = backend(request)
    return (await b.call(b.control.GetNode, control_pb2.GetNodeRequest(node_id=ref))).node


async def inspect_node(request: web.Request) -> web.StreamResponse:
    return reply(node_doc(await get_node(request, request.match_info["id"])))


async def update_node(request: web.Request) -> web.StreamResponse:
    version = version_param(request)
    doc = await body(request, "NodeSpec")
    node = await get_node(request, request.match_info["id"])
    b = backend(request)
    await b.call(
        b.control.UpdateNode,
        control_pb2.UpdateNodeRequest(
            node_id=node.id, node_version=types_pb2.Version(index=version), spec=node_spec(doc, node.spec)
        ),
    )
    return empty()


async def delete_node(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    await b.call(
        b.control.RemoveNode,
        control_pb2.RemoveNodeRequest(node_id=request.match_info["id"], force=flag(request, "force")),
    )
    return empty()


ROUTES: list[Route] = [
    ("GET", "/nodes", list_nodes),
    ("GET", "/nodes/{id}", inspect_node),
    ("POST", "/nodes/{id}/update", update_node),
    ("DELETE", "/nodes/{id}", delete_node),
]
