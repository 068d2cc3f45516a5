"""Scheduler filters and per-node bookkeeping (reference §4.3).

Design notes
------------
Filters run in a fixed order and the first one that fails rejects the node; that filter's
counter goes up and becomes part of the ``no suitable node (...)`` explanation:

====  ===========  =====================================================  ===========
 #    filter       passes when                                            kind
====  ===========  =====================================================  ===========
 1    ready        status READY and availability ACTIVE                   static
 2    resources    reserved NanoCPUs/MemoryBytes fit what is left         dynamic
 3    plugins      (not modelled: our specs name no volume/log plugins)   —
 4    constraints  all constraint expressions match                       static
 5    platform     node OS/arch in Placement.platforms (if any)           static
 6    host ports   no host-mode published port of the task in use         dynamic
 7    maxreplicas  tasks of the service on the node < MaxReplicas         dynamic
====  ===========  =====================================================  ===========

"Static" filters depend only on the node and the task group, so placement evaluates them once
per group (and caches them by constraint/platform set). "Dynamic" ones depend on what is already
on the node, which changes as the batch is placed; within one group they only ever get *worse*
(resources shrink, ports get used, counts grow), which is what lets placement drop a node from
its heap for good the first time a dynamic filter rejects it.

:class:`NodeInfo` is the mutable scratch copy of a node that one :func:`~.placement.schedule`
call keeps: capacity minus reservations, active task counts (total and per service; tasks with
desired state above COMPLETE do not count, as in swarmkit's ``nodeinfo.go``) and used host ports.
It never writes back into the protobuf objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from swarm.api import objects_pb2, specs_pb2, types_pb2

from .constraint import Constraint, ConstraintError, node_matches, parse_constraints

__all__ = [
    "FILTER_ORDER",
    "NodeInfo",
    "TaskRequirements",
    "explain",
    "first_failing_filter",
]

READY = "ready"
RESOURCES = "resources"
CONSTRAINTS = "constraints"
PLATFORM = "platform"
HOST_PORTS = "hostports"
MAX_REPLICAS = "maxreplicas"
FILTER_ORDER: tuple[str, ...] = (READY, RESOURCES, CONSTRAINTS, PLATFORM, HOST_PORTS, MAX_REPLICAS)

_COMPLETE = types_pb2.COMPLETE
_HOST = types_pb2.PortConfig.HOST
_NODE_READY = objects_pb2.NodeStatus.READY
_ACTIVE = specs_pb2.NodeSpec.ACTIVE

HostPort = tuple[int, int]  # (protocol, published port)


def _nodes(n: int) -> str:
    return "1 node" if n == 1 else f"{n} nodes"


def _explain_one(name: str, count: int) -> str:
    if name == READY:
        return f"{_nodes(count)} not available for new tasks"
    if name == RESOURCES:
        return f"insufficient resources on {_nodes(count)}"
    if name == CONSTRAINTS:
        return f"scheduling constraints not satisfied on {_nodes(count)}"
    if name == PLATFORM:
        return f"unsupported platform on {_nodes(count)}"
    if name == HOST_PORTS:
        return f"host-mode port already in use on {_nodes(count)}"
    return "max replicas per node limit exceed"  # swarmkit's text, no count


def explain(failures: Mapping[str, int]) -> str:
    """Join filter explanations by failure count (desc), filter order breaking ties."""
    ranked = sorted(
        ((n, FILTER_ORDER.index(f), f) for f, n in failures.items() if n > 0),
        key=lambda x: (-x[0], x[1]),
    )
    return "; ".join(_explain_one(f, n) for n, _, f in ranked)


def host_ports(ports: Iterable[types_pb2.PortConfig]) -> frozenset[HostPort]:
    """The host-mode published ports (published port 0 = dynamic, never conflicts)."""
    return frozenset(
        (p.protocol, p.published_port) for p in ports if p.publish_mode == _HOST and p.published_port
    )


def task_host_ports(task: objects_pb2.Task, service: objects_pb2.Service | None) -> frozenset[HostPort]:
    """Ports from the task's endpoint, else the service's allocated endpoint, else its spec."""
    if task.endpoint.ports:
        return host_ports(task.endpoint.ports)
    if service is not None:
        if service.endpoint.ports:
            return host_ports(service.endpoint.ports)
        return host_ports(service.spec.endpoint.ports)
    return frozenset()


_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}


def _norm_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch, arch)


class TaskRequirements:
    """What a task group asks of a node, decoded once from the first task of the group."""

    __slots__ = (
        "constraints",
        "cpu",
        "generic",
        "max_replicas",
        "mem",
        "named_request",
        "needs_resources",
        "platforms",
        "ports",
        "service_id",
        "static_key",
    )

    def __init__(self, task: objects_pb2.Task, service: objects_pb2.Service | None = None) -> None:
        self.service_id: str = task.service_id
        spec = task.spec
        res = spec.resources.reservations
        self.cpu: int = res.nano_cpus
        self.mem: int = res.memory_bytes
        # generic resources: discrete counts per kind; a named one (the control API stores it,
        # as swarmkit's does) fits no node, as swarmkit's HasEnough refuses it
        generic: dict[str, int] = {}
        for g in res.generic:
            if g.WhichOneof("resource") == "discrete" and g.discrete.value > 0:
                generic[g.discrete.kind] = generic.get(g.discrete.kind, 0) + g.discrete.value
        self.generic: tuple[tuple[str, int], ...] = tuple(sorted(generic.items()))
        self.named_request: bool = any(g.WhichOneof("resource") == "named" for g in res.generic)
        self.needs_resources: bool = (self.cpu > 0 or self.mem > 0 or bool(self.generic)
                                      or self.named_request)
        placement = spec.placement
        exprs = tuple(placement.constraints)
        try:
            constraints: list[Constraint] = parse_constraints(exprs)
        except ConstraintError:
            # Validated at controlapi; like swarmkit, a bad set disables the filter.
            constraints, exprs = [], ()
        self.constraints: list[Constraint] = constraints
        self.platforms: tuple[tuple[str, str], ...] = tuple(
            (p.os, _norm_arch(p.architecture)) for p in placement.platforms
        )
        self.max_replicas: int = placement.max_replicas
        self.ports: frozenset[HostPort] = task_host_ports(task, service)
        # Static filter results depend on nothing else, so they can be cached under this key.
        self.static_key: tuple[object, ...] = (exprs, self.platforms)

    def platform_ok(self, node: objects_pb2.Node) -> bool:
        if not self.platforms:
            return True
        plat = node.description.platform
        os_, arch = plat.os, _norm_arch(plat.architecture)
        return any((not o or o == os_) and (not a or a == arch) for o, a in self.platforms)

    def static_failure(self, info: NodeInfo) -> str | None:
        """First failing static filter (ready, constraints, platform) or None."""
        if not info.ready:
            return READY
        if self.constraints and not node_matches(self.constraints, info.node):
            return CONSTRAINTS
        if self.platforms and not self.platform_ok(info.node):
            return PLATFORM
        return None

    def fits(self, info: NodeInfo) -> bool:
        """The reservations (CPU, memory, generic resources) fit what ``info`` has left."""
        if self.named_request or self.cpu > info.cpu or self.mem > info.mem:
            return False
        return all(info.generic_left(kind) >= n for kind, n in self.generic)

    def dynamic_ok(self, info: NodeInfo) -> bool:
        """All dynamic filters (resources, host ports, max replicas) pass."""
        if self.needs_resources and not self.fits(info):
            return False
        if self.ports and not self.ports.isdisjoint(info.ports):
            return False
        return not (self.max_replicas and info.by_service.get(self.service_id, 0) >= self.max_replicas)


class NodeInfo:
    """Scratch state of one node during a scheduling pass."""

    __slots__ = ("by_service", "cpu", "discrete", "id", "mem", "named", "node", "ports", "ready", "total")

    def __init__(self, node: objects_pb2.Node) -> None:
        self.node = node
        self.id: str = node.id
        self.ready: bool = node.status.state == _NODE_READY and node.spec.availability == _ACTIVE
        res = node.description.resources
        self.cpu: int = res.nano_cpus
        self.mem: int = res.memory_bytes
        self.total: int = 0
        self.by_service: dict[str, int] = {}
        self.ports: set[HostPort] = set()
        # generic resources left: counts of discrete kinds, free values of named kinds
        self.discrete: dict[str, int] = {}
        self.named: dict[str, list[str]] = {}
        for g in res.generic:
            if g.WhichOneof("resource") == "named":
                self.named.setdefault(g.named.kind, []).append(g.named.value)
            elif g.WhichOneof("resource") == "discrete":
                self.discrete[g.discrete.kind] = self.discrete.get(g.discrete.kind, 0) + g.discrete.value

    def generic_left(self, kind: str) -> int:
        return self.discrete.get(kind, 0) + len(self.named.get(kind, ()))

    def _take_generic(self, used: Iterable[types_pb2.GenericResource]) -> None:
        for g in used:
            which = g.WhichOneof("resource")
            if which == "named" and g.named.value in self.named.get(g.named.kind, ()):
                self.named[g.named.kind].remove(g.named.value)
            elif which == "discrete":
                self.discrete[g.discrete.kind] = self.discrete.get(g.discrete.kind, 0) - g.discrete.value

    def add_existing(
        self,
        tasks: Sequence[objects_pb2.Task],
        services: Mapping[str, objects_pb2.Service],
        port_cache: dict[str, frozenset[HostPort]],
    ) -> None:
        """Account for tasks already on the node (reservations, ports, active counts)."""
        by_service = self.by_service
        for t in tasks:
            res = t.spec.resources.reservations
            self.cpu -= res.nano_cpus
            self.mem -= res.memory_bytes
            if t.assigned_generic_resources:
                self._take_generic(t.assigned_generic_resources)
            sid = t.service_id
            if t.endpoint.ports:
                self.ports.update(host_ports(t.endpoint.ports))
            else:
                ports = port_cache.get(sid)
                if ports is None:
                    ports = port_cache[sid] = task_host_ports(t, services.get(sid))
                if ports:
                    self.ports.update(ports)
            if t.desired_state <= _COMPLETE:
                self.total += 1
                by_service[sid] = by_service.get(sid, 0) + 1

    def assign(self, req: TaskRequirements) -> list[types_pb2.GenericResource]:
        """Account for one more task of ``req``'s group placed here; returns the generic
        resources it gets (named values first, as swarmkit's ``Claim``, then discrete counts)."""
        self.cpu -= req.cpu
        self.mem -= req.mem
        got: list[types_pb2.GenericResource] = []
        for kind, n in req.generic:
            free = self.named.get(kind, [])
            taken, free[:n] = free[:n], []
            got += [types_pb2.GenericResource(named=types_pb2.GenericResource.Named(kind=kind, value=v))
                    for v in taken]
            rest = n - len(taken)
            if rest:
                self.discrete[kind] = self.discrete.get(kind, 0) - rest
                got.append(types_pb2.GenericResource(
                    discrete=types_pb2.GenericResource.Discrete(kind=kind, value=rest)))
        if req.ports:
            self.ports.update(req.ports)
        self.total += 1
        self.by_service[req.service_id] = self.by_service.get(req.service_id, 0) + 1
        return got


def first_failing_filter(req: TaskRequirements, info: NodeInfo) -> str | None:
    """Run the filters in reference order; return the first that rejects ``info``, or None."""
    if not info.ready:
        return READY
    if req.needs_resources and not req.fits(info):
        return RESOURCES
    if req.constraints and not node_matches(req.constraints, info.node):
        return CONSTRAINTS
    if req.platforms and not req.platform_ok(info.node):
        return PLATFORM
    if req.ports and not req.ports.isdisjoint(info.ports):
        return HOST_PORTS
    if req.max_replicas and info.by_service.get(req.service_id, 0) >= req.max_replicas:
        return MAX_REPLICAS
    return None
