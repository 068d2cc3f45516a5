"""`/services`: list (filters, ``status``), inspect (``insertDefaults``), create, update (with
version, ``rollback=previous``), delete. Logs are in `logs.py`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from swarm.api import control_pb2, objects_pb2, types_pb2
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.filters import Filters
from swarm.engineapi.http import Route, backend, body, docs, empty, flag, reply, version_param
from swarm.engineapi.specs import service_spec
from swarm.shapes.docker import service_doc

SERVICE_FILTERS = ("id", "label", "mode", "name")
MODES = ("replicated", "global", "replicated-job", "global-job")


def list_request(f: Filters) -> control_pb2.ListServicesRequest:
    lf = control_pb2.ListServicesRequest.Filters(name_prefixes=f.get("name"), id_prefixes=f.get("id"))
    for mode in f.get("mode"):
        if mode not in MODES:
            raise BadRequest(f"invalid filter 'mode={mode}'")
        lf.modes.append(mode.replace("-", "_"))
    lf.labels.update(f.labels())
    return control_pb2.ListServicesRequest(filters=lf)


def service_status(
    svc: objects_pb2.Service, tasks: Iterable[objects_pb2.Task], down: set[str]
) -> dict[str, int]:
    """Docker's ServiceStatus (`service ls`'s REPLICAS, moby's ListServiceStatuses): running =
    tasks running and meant to (not on a node that is down); desired = the replicas, a global
    service's tasks meant to run, or for a job its current iteration's share: min(MaxConcurrent,
    TotalCompletions - completed) for a replicated job, the tasks still to complete for a global one."""
    job = svc.HasField("job_status")
    running = sum(
        1
        for t in tasks
        if t.status.state == types_pb2.RUNNING
        and t.node_id not in down
        and t.desired_state <= (types_pb2.COMPLETE if job else types_pb2.RUNNING)
    )
    mode = svc.spec.WhichOneof("mode")
    if not job:
        desired = (
            svc.spec.replicated.replicas
            if mode == "replicated"
            else sum(1 for t in tasks if t.desired_state == types_pb2.RUNNING)
        )
        return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}
    mine = [t for t in tasks if t.job_iteration.index == svc.job_status.job_iteration.index]
    completed = sum(1 for t in mine if t.status.state == types_pb2.COMPLETE)
    if mode == "replicated_job":
        rj = svc.spec.replicated_job
        desired = max(min(rj.max_concurrent or 1, rj.total_completions - completed), 0)
    else:
        desired = sum(
            1 for t in mine if t.desired_state == types_pb2.COMPLETE and t.status.state != types_pb2.COMPLETE
        )
    return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": completed}


async def list_services(request: web.Request) -> web.StreamResponse:
    f = Filters.parse(request.query.get("filters"), SERVICE_FILTERS)
    b = backend(request)
    svcs = (await b.call(b.control.ListServices, list_request(f))).services
    cache = docs(request)
    out = [cache.doc("service", s, service_doc) for s in svcs]
    if flag(request, "status") and svcs:
        tasks = (
            await b.call(
                b.control.ListTasks,
                control_pb2.ListTasksRequest(
                    filters=control_pb2.ListTasksRequest.Filters(service_ids=[s.id for s in svcs])
                ),
            )
        ).tasks
        nodes = (await b.call(b.control.ListNodes, control_pb2.ListNodesRequest())).nodes
        down = {n.id for n in nodes if n.status.state == objects_pb2.NodeStatus.DOWN}
        by_service: dict[str, list[objects_pb2.Task]] = {}
        for t in tasks:
            by_service.setdefault(t.service_id, []).append(t)
        for s, d in zip(svcs, out, strict=True):
            d["ServiceStatus"] = service_status(s, by_service.get(s.id, []), down)
    return reply(out)


async def get_service(request: web.Request, ref: str, insert_defaults: bool = False) -> objects_pb2.Service:
    b = backend(request)
    r = await b.call(
        b.control.GetService, control_pb2.GetServiceRequest(service_id=ref, insert_defaults=insert_defaults)
    )
    return r.service


async def inspect_service(request: web.Request) -> web.StreamResponse:
    svc = await get_service(request, request.match_info["id"], flag(request, "insertDefaults"))
    return reply(service_doc(svc))


def _warnings(resp: Any) -> dict[str, Any]:
    return {"Warnings": list(resp.warnings)} if resp.warnings else {"Warnings": None}


def registry_auth(request: web.Request) -> str:
    """``X-Registry-Auth`` (base64url JSON credentials, ``--with-registry-auth``), or "" when the
    client sent none or an empty one (``e30=`` is ``{}``). The control API seals it; the node
    that pulls is the only one to see it again."""
    raw = request.headers.get("X-Registry-Auth", "").strip()
    if not raw:
        return ""
    try:
        doc = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        raise BadRequest("invalid X-Registry-Auth header: expected base64url-encoded JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("invalid X-Registry-Auth header: expected a JSON object")
    return raw if any(doc.get(k) for k in ("username", "password", "identitytoken", "registrytoken")) else ""


def with_auth(request: web.Request, spec: Any) -> Any:
    auth = registry_auth(request)
    if auth:
        spec.task.container.pull_options.registry_auth = auth
    return spec


async def with_network_ids(request: web.Request, spec: Any) -> Any:
    """Attachments name their network by name, ID or ID prefix; the stored spec holds IDs, as
    dockerd's ``populateNetworkID`` makes them (``inspect`` then shows the ID). An unknown
    network is the control API's 404."""
    b = backend(request)
    for att in spec.task.networks:
        r = await b.call(b.control.GetNetwork, control_pb2.GetNetworkRequest(network_id=att.target))
        att.target = r.network.id
    return spec


async def create_service(request: web.Request) -> web.StreamResponse:
    spec = with_auth(request, service_spec(await body(request, "ServiceSpec")))
    spec = await with_network_ids(request, spec)
    b = backend(request)
    r = await b.call(b.control.CreateService, control_pb2.CreateServiceRequest(spec=spec))
    return reply({"ID": r.service.id, **_warnings(r)}, status=201)


async def update_service(request: web.Request) -> web.StreamResponse:
    version = version_param(request)
    rollback = request.query.get("rollback", "")
    if rollback not in ("", "previous"):
        raise BadRequest(f"invalid rollback parameter {rollback!r}: only 'previous' is accepted")
    # without X-Registry-Auth the service keeps the credentials it has (registryAuthFrom=spec or
    # previous-spec: the same here, as the spec's are never shown)
    spec = with_auth(request, service_spec(await body(request, "ServiceSpec")))
    spec = await with_network_ids(request, spec)
    svc = await get_service(request, request.match_info["id"])
    b = backend(request)
    r = await b.call(
        b.control.UpdateService,
        control_pb2.UpdateServiceRequest(
            service_id=svc.id,
            service_version=types_pb2.Version(index=version),
            spec=spec,
            rollback=control_pb2.UpdateServiceRequest.PREVIOUS
            if rollback
            else control_pb2.UpdateServiceRequest.NONE,
        ),
    )
    return reply(_warnings(r))


async def delete_service(request: web.Request) -> web.StreamResponse:
    svc = await get_service(request, request.match_info["id"])
    b = backend(request)
    await b.call(b.control.RemoveService, control_pb2.RemoveServiceRequest(service_id=svc.id))
    return empty()


ROUTES: list[Route] = [
    ("GET", "/services", list_services),
    ("POST", "/services/create", create_service),
    ("GET", "/services/{id}", inspect_service),
    ("POST", "/services/{id}/update", update_service),
    ("DELETE", "/services/{id}", delete_service),
]
