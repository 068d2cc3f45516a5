"""Builders for the protobuf objects the scheduler reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from swarm.api import objects_pb2, specs_pb2, types_pb2

Node = objects_pb2.Node
Task = objects_pb2.Task
Service = objects_pb2.Service

READY = objects_pb2.NodeStatus.READY
DOWN = objects_pb2.NodeStatus.DOWN
ACTIVE = specs_pb2.NodeSpec.ACTIVE
PAUSE = specs_pb2.NodeSpec.PAUSE
DRAIN = specs_pb2.NodeSpec.DRAIN
HOST = types_pb2.PortConfig.HOST
INGRESS = types_pb2.PortConfig.INGRESS
TCP = types_pb2.PortConfig.TCP
UDP = types_pb2.PortConfig.UDP


def node(
    node_id: str,
    *,
    hostname: str = "",
    state: objects_pb2.NodeStatus.State = READY,
    availability: specs_pb2.NodeSpec.Availability = ACTIVE,
    role: types_pb2.NodeRole = types_pb2.WORKER,
    cpu: int = 0,
    mem: int = 0,
    labels: Mapping[str, str] | None = None,
    engine_labels: Mapping[str, str] | None = None,
    os: str = "linux",
    arch: str = "x86_64",
    addr: str = "",
) -> Node:
    n = Node(id=node_id, role=role)
    n.description.hostname = hostname or f"host-{node_id}"
    n.description.platform.os = os
    n.description.platform.architecture = arch
    n.description.resources.nano_cpus = cpu
    n.description.resources.memory_bytes = mem
    n.description.engine_labels.update(engine_labels or {})
    n.spec.availability = availability
    n.spec.annotations.labels.update(labels or {})
    n.status.state = state
    n.status.addr = addr
    return n


PortSpec = tuple[int, types_pb2.PortConfig.PublishMode, types_pb2.PortConfig.Protocol]


def ports(*specs: PortSpec) -> list[types_pb2.PortConfig]:
    """(published, mode, protocol) triples."""
    return [
        types_pb2.PortConfig(target_port=80, published_port=p, publish_mode=m, protocol=proto)
        for p, m, proto in specs
    ]


def task(
    task_id: str,
    service_id: str = "svc",
    *,
    version: int | None = 1,
    slot: int = 0,
    node_id: str = "",
    cpu: int = 0,
    mem: int = 0,
    constraints: Iterable[str] = (),
    prefs: Iterable[str] = (),
    max_replicas: int = 0,
    platforms: Iterable[tuple[str, str]] = (),
    host_ports: Iterable[PortSpec] = (),
    desired: types_pb2.TaskState = types_pb2.RUNNING,
    state: types_pb2.TaskState = types_pb2.PENDING,
) -> Task:
    t = Task(id=task_id, service_id=service_id, slot=slot, node_id=node_id, desired_state=desired)
    if version is not None:
        t.spec_version.index = version
    t.status.state = state
    t.spec.resources.reservations.nano_cpus = cpu
    t.spec.resources.reservations.memory_bytes = mem
    pl = t.spec.placement
    pl.constraints.extend(constraints)
    for p in prefs:
        pl.preferences.add(spread_descriptor=p)
    pl.max_replicas = max_replicas
    for os_, arch in platforms:
        pl.platforms.add(os=os_, architecture=arch)
    t.endpoint.ports.extend(ports(*host_ports))
    return t


def tasks(n: int, service_id: str = "svc", prefix: str | None = None, **kw: object) -> list[Task]:
    prefix = prefix or service_id
    return [task(f"{prefix}-{i:05d}", service_id, slot=i + 1, **kw) for i in range(n)]  # type: ignore[arg-type]


def service(service_id: str, *, published: Iterable[PortSpec] = (), version: int = 1) -> Service:
    s = Service(id=service_id)
    s.spec.annotations.name = service_id
    s.spec_version.index = version
    s.spec.endpoint.ports.extend(ports(*published))
    return s


def running(t: Task, node_id: str) -> Task:
    """A copy of ``t`` placed and running on ``node_id``."""
    c = Task()
    c.CopyFrom(t)
    c.node_id = node_id
    c.status.state = types_pb2.RUNNING
    return c


def per_node(assignments: Mapping[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for nid in assignments.values():
        out[nid] = out.get(nid, 0) + 1
    return out
