"""`/tasks`: list (filters, with the CLI's hidden ``_up-to-date``) and inspect."""

from __future__ import annotations

from aiohttp import web

from swarm.api import control_pb2, daemon_pb2, types_pb2
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.filters import Filters, labels_match, prefix_match
from swarm.engineapi.http import Route, backend, docs, reply
from swarm.shapes.engine import task_doc

TASK_FILTERS = ("_up-to-date", "desired-state", "id", "label", "name", "node", "service")
_DESIRED = {"running": types_pb2.RUNNING, "shutdown": types_pb2.SHUTDOWN, "accepted": types_pb2.ACCEPTED}


async def list_request(request: web.Request, f: Filters) -> control_pb2.ListTasksRequest:
    """Services and nodes are named by id, unique id prefix or name (``self``: this node), as
    dockerd resolves them; a service or node that does not exist is its 404."""
    b = backend(request)
    lf = control_pb2.ListTasksRequest.Filters(id_prefixes=f.get("id"))
    for ref in f.get("service"):
        svc = (await b.call(b.control.GetService, control_pb2.GetServiceRequest(service_id=ref))).service
        lf.service_ids.append(svc.id)
    for ref in f.get("node"):
        if ref == "self":
            lf.node_ids.append((await b.call(b.daemon.Info, daemon_pb2.InfoRequest())).node_id)
            continue
        lf.node_ids.append((await b.call(b.control.GetNode, control_pb2.GetNodeRequest(node_id=ref))).node.id)
    for st in f.get("desired-state"):
        if st not in _DESIRED:
            raise BadRequest(f"invalid filter 'desired-state={st}': expected running, shutdown or accepted")
        lf.desired_states.append(_DESIRED[st])
    lf.up_to_date = bool(f.boolean("_up-to-date"))
    return control_pb2.ListTasksRequest(filters=lf)


async def list_tasks(request: web.Request) -> web.StreamResponse:
    """``label`` matches the service's labels too, as swarmkit (`docker stack ps` filters on
    ``com.docker.stack.namespace``, a service label)."""
    f = Filters.parse(request.query.get("filters"), TASK_FILTERS)
    b = backend(request)
    tasks = (await b.call(b.control.ListTasks, await list_request(request, f))).tasks
    want = f.labels()
    names = f.get("name")
    cache = docs(request)
    return reply(
        [
            cache.doc("task", t, task_doc)
            for t in tasks
            if labels_match(want, {**t.service_annotations.labels, **t.annotations.labels})
            and prefix_match(names, t.annotations.name)
        ]
    )


async def inspect_task(request: web.Request) -> web.StreamResponse:
    b = backend(request)
    t = (await b.call(b.control.GetTask, control_pb2.GetTaskRequest(task_id=request.match_info["id"]))).task
    return reply(task_doc(t))


ROUTES: list[Route] = [
    ("GET", "/tasks", list_tasks),
    ("GET", "/tasks/{id}", inspect_task),
]
