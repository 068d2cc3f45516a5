"""Services for the CLI: create, inspect, update (incl. rollback), remove, list; and tasks.

Spec versions: every spec change sets `spec_version.index` above the service's current
store version (the index of the write is unknown before proposing, but it only grows).
Tasks copy it; the updater compares the two to find out-of-date tasks. `update` keeps the
previous spec for `rollback`, which swaps the current and previous specs with their versions
(reference §5.4). Removal deletes the service
and marks all its tasks desired REMOVE in one atomic batch; the agents stop them and the task
reaper deletes them.
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from swarm.allocator.ports import PortAllocationError, PortInUseError, allocate_ports
from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Service, Task
from swarm.api.specs_pb2 import ServiceSpec
from swarm.api.types_pb2 import REMOVE, PortConfig, UpdateStatus
from swarm.ca.ids import new_id
from swarm.controlapi.common import Context
from swarm.controlapi.defaults import with_defaults
from swarm.controlapi.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
)
from swarm.controlapi.refs import check_references
from swarm.controlapi.registryauth import public_service, public_task, seal_into
from swarm.controlapi.resolve import resolve
from swarm.controlapi.validate import validate_spec
from swarm.reconciler.tasks import set_desired
from swarm.store import NameConflictError, typed


def find_service(ctx: Context, ref: str) -> Service:
    return resolve(ref, ctx.read.list(Service), "service", lambda s: s.spec.annotations.name)


def _allocate_ports(ctx: Context, svc: Service) -> None:
    """Have the allocator fill `endpoint` (dynamic ingress ports, kept across updates); a port
    another service publishes is refused with the reference's message (§1.10)."""
    try:
        allocate_ports(svc, ctx.read.list(Service))
    except PortInUseError as e:
        raise InvalidArgumentError(str(e)) from None
    except PortAllocationError as e:
        raise FailedPreconditionError(str(e)) from None


def _exists(name: str) -> AlreadyExistsError:
    """The refusal of a second service called ``name``, found before the write or by the store's
    unique name index: the reference's ``<err>: service <name> already exists`` (§1.10), with
    swarmkit's ``<err>`` (scripts match "name conflicts with an existing object"). Plain text:
    Docker's ``rpc error: code = AlreadyExists desc = ...`` framing is not the control API's."""
    return AlreadyExistsError(f"name conflicts with an existing object: service {name} already exists")


def _check_networks(ctx: Context, spec: ServiceSpec) -> None:
    from swarm.api.objects_pb2 import Network

    nets = ctx.read.list(Network)
    for att in spec.task.networks:
        match = [n for n in nets if n.id == att.target or n.spec.annotations.name == att.target]
        if not match:
            raise InvalidArgumentError(f"network {att.target} not found")
        if match[0].spec.ingress:
            raise InvalidArgumentError("service cannot be explicitly attached to the ingress network "
                                       f"\"{match[0].spec.annotations.name}\"")
    if any(p.publish_mode == PortConfig.INGRESS for p in spec.endpoint.ports) and \
            not any(n.spec.ingress for n in nets):
        raise FailedPreconditionError("service needs ingress network, but no ingress network is present")


def _next_job_run(svc: Service, now: Timestamp, first: bool = False) -> None:
    """A job's JobStatus, as swarmkit keeps it: iteration 0 at create, one more on every update
    (``--force`` and rollback included), which the jobs orchestrator runs again from scratch."""
    if svc.spec.WhichOneof("mode") not in ("replicated_job", "global_job"):
        return
    if not first:
        svc.job_status.job_iteration.index += 1
    svc.job_status.job_iteration.SetInParent()
    svc.job_status.last_execution.CopyFrom(now)


async def create_service(ctx: Context, req: c.CreateServiceRequest) -> c.CreateServiceResponse:
    spec = ServiceSpec()
    spec.CopyFrom(req.spec)
    validate_spec(spec)
    _check_networks(ctx, spec)
    check_references(ctx, spec)
    name = spec.annotations.name
    if ctx.read.find_unique(Service, "name", name.lower()) is not None:
        raise _exists(name)
    svc: Service = Service(id=new_id(), spec=spec)
    seal_into(ctx, svc.spec, svc.id, None)
    svc.spec_version.index = 1
    now = ctx.now()
    svc.meta.created_at.CopyFrom(now)
    svc.meta.updated_at.CopyFrom(now)
    _next_job_run(svc, now, first=True)
    _allocate_ports(ctx, svc)
    try:
        await ctx.apply([typed.create(svc)])
    except NameConflictError:
        raise _exists(name) from None
    return c.CreateServiceResponse(service=public_service(find_service(ctx, svc.id)))


def get_service(ctx: Context, req: c.GetServiceRequest) -> c.GetServiceResponse:
    svc = public_service(find_service(ctx, req.service_id))
    if not req.insert_defaults:
        return c.GetServiceResponse(service=svc)
    out = Service()
    out.CopyFrom(svc)                    # never the store's own object
    out.spec.CopyFrom(with_defaults(svc.spec))
    return c.GetServiceResponse(service=out)


async def update_service(ctx: Context, req: c.UpdateServiceRequest) -> c.UpdateServiceResponse:
    svc = find_service(ctx, req.service_id)
    if req.service_version.index and req.service_version.index != svc.meta.version.index:
        raise FailedPreconditionError("update out of sequence")
    now = ctx.now()
    if req.rollback == c.UpdateServiceRequest.PREVIOUS:
        if not svc.HasField("previous_spec"):
            raise FailedPreconditionError(f"service {svc.id} does not have a previous spec")
        cur, cur_v = ServiceSpec(), svc.spec_version.index
        cur.CopyFrom(svc.spec)
        svc.spec.CopyFrom(svc.previous_spec)
        svc.previous_spec.CopyFrom(cur)
        svc.spec_version.index, svc.previous_spec_version.index = (
            svc.previous_spec_version.index, cur_v)
        svc.update_status.CopyFrom(UpdateStatus(state=UpdateStatus.ROLLBACK_STARTED,
                                                message="manually requested rollback"))
        svc.update_status.started_at.CopyFrom(now)
    else:
        spec = ServiceSpec()
        spec.CopyFrom(req.spec)
        validate_spec(spec)
        _check_networks(ctx, spec)
        check_references(ctx, spec)
        if spec.annotations.name != svc.spec.annotations.name:
            raise InvalidArgumentError("renaming services is not supported")
        if spec.WhichOneof("mode") != svc.spec.WhichOneof("mode"):
            raise InvalidArgumentError("service mode change is not allowed")
        seal_into(ctx, spec, svc.id, svc.spec)
        # The store index only grows: the index this write will get is above every spec
        # version this service ever had, so a version is never reused (not even after an
        # automatic rollback cleared the previous spec).
        new_version = max(svc.meta.version.index, svc.spec_version.index,
                          svc.previous_spec_version.index) + 1
        svc.previous_spec.CopyFrom(svc.spec)
        svc.previous_spec_version.index = svc.spec_version.index
        svc.spec.CopyFrom(spec)
        svc.spec_version.index = new_version
        svc.ClearField("update_status")
    svc.meta.updated_at.CopyFrom(now)
    _next_job_run(svc, now)
    _allocate_ports(ctx, svc)
    await ctx.apply([typed.update(svc)])
    return c.UpdateServiceResponse(service=public_service(find_service(ctx, svc.id)))


async def remove_service(ctx: Context, req: c.RemoveServiceRequest) -> c.RemoveServiceResponse:
    sid = find_service(ctx, req.service_id).id

    def build() -> list[object]:
        r = ctx.read
        svc = r.get(Service, sid)
        if svc is None:
            from swarm.controlapi.errors import NotFoundError

            raise NotFoundError(f"no such service: {req.service_id}")
        actions: list[object] = [typed.delete(svc, expected_version=svc.meta.version.index)]
        for t in r.tasks_of_service(sid):
            if t.desired_state != REMOVE:
                set_desired(t, REMOVE, ctx.clock())
                actions.append(typed.update(t))
        return actions

    await ctx.apply_fresh(build)
    return c.RemoveServiceResponse()


def list_services(ctx: Context, req: c.ListServicesRequest) -> c.ListServicesResponse:
    svcs = ctx.read.list(Service)
    f = req.filters
    if f.names:
        svcs = [s for s in svcs if s.spec.annotations.name in f.names]
    if f.name_prefixes:
        svcs = [s for s in svcs if any(s.spec.annotations.name.startswith(p) for p in f.name_prefixes)]
    if f.id_prefixes:
        svcs = [s for s in svcs if any(s.id.startswith(p) for p in f.id_prefixes)]
    if f.modes:
        svcs = [s for s in svcs if s.spec.WhichOneof("mode") in f.modes]
    for k, v in f.labels.items():
        svcs = [s for s in svcs if k in s.spec.annotations.labels
                and (not v or s.spec.annotations.labels[k] == v)]
    return c.ListServicesResponse(services=[public_service(s) for s in svcs])


def get_task(ctx: Context, req: c.GetTaskRequest) -> c.GetTaskResponse:
    return c.GetTaskResponse(task=public_task(resolve(req.task_id, ctx.read.list(Task), "task",
                                                      lambda t: t.annotations.name)))


def list_tasks(ctx: Context, req: c.ListTasksRequest) -> c.ListTasksResponse:
    f = req.filters
    r = ctx.read
    if f.service_ids:
        tasks = [t for sid in f.service_ids for t in r.tasks_of_service(sid)]
    elif f.node_ids:
        tasks = [t for nid in f.node_ids for t in r.tasks_on_node(nid)]
    else:
        tasks = r.list(Task)
    if f.node_ids:
        tasks = [t for t in tasks if t.node_id in f.node_ids]
    if f.id_prefixes:
        tasks = [t for t in tasks if any(t.id.startswith(p) for p in f.id_prefixes)]
    if f.names:
        tasks = [t for t in tasks if t.annotations.name in f.names]
    if f.desired_states:
        tasks = [t for t in tasks if t.desired_state in f.desired_states]
    if f.up_to_date:
        versions = {s.id: s.spec_version.index for s in r.list(Service)}
        tasks = [t for t in tasks if versions.get(t.service_id) == t.spec_version.index]
    return c.ListTasksResponse(tasks=[public_task(t) for t in tasks])


HANDLERS = {
    "CreateService": create_service,
    "GetService": get_service,
    "UpdateService": update_service,
    "RemoveService": remove_service,
    "ListServices": list_services,
    "GetTask": get_task,
    "ListTasks": list_tasks,
}
