"""Published ports of a service: which ingress port each published target gets.

Design notes
------------
A pure function of the service and the other services as the store holds them; the control API
calls it before it writes a created or updated service (so the port is in the write that makes
the service, and the user sees it at once), the leader's allocator never changes it later.

* ``Service.endpoint`` is the allocated copy of ``spec.endpoint``: the spec keeps what the user
  asked for (``published_port`` 0 = "pick one"), the endpoint what was given.
* An ingress-mode port without a published port keeps the one it had (same target port and
  protocol, across updates), else gets the lowest port of 30000-32767 that no other service
  publishes on ingress and this service has not just been given (Docker's dynamic range; the
  choice ignores the protocol, as before).
* A published ingress port is unique cluster-wide per protocol: one owned by another service is
  refused with :class:`PortInUseError` (which names the owner); the control API turns it into
  the reference's message. A port published in host mode by one service and on ingress by
  another is refused either way round (:func:`check_host_conflicts`); two host-mode services
  may share one (the scheduler keeps them on different nodes).
* Ports are not a unique index of the store: two concurrent creations asking for the same port
  are not caught here (as today).
"""

from __future__ import annotations

from collections.abc import Iterable

from swarm.api.objects_pb2 import Service
from swarm.api.types_pb2 import PortConfig

DYNAMIC_PORTS = range(30000, 32768)


class PortAllocationError(Exception):
    """A service's ports cannot be allocated."""

    code = "FAILED_PRECONDITION"


class PortInUseError(PortAllocationError):
    """``port`` (``protocol``) is published on ingress by another service, ``owner``."""

    code = "INVALID_ARGUMENT"

    def __init__(self, port: int, protocol: int, owner: Service, how: str = "an ingress port") -> None:
        super().__init__(f"port '{port}' is already in use by service '{owner.spec.annotations.name}' "
                         f"({owner.id}) as {how}")
        self.port = port
        self.protocol = protocol
        self.owner = owner
        self.how = how


class NoFreePortError(PortAllocationError):
    """Every port of the dynamic range is taken."""


def ingress_ports_taken(services: Iterable[Service], but: str) -> dict[tuple[int, int], Service]:
    """(published port, protocol) -> owner, for the ingress ports of every service but ``but``."""
    taken: dict[tuple[int, int], Service] = {}
    for other in services:
        if other.id == but:
            continue
        for p in other.endpoint.ports:
            if p.publish_mode == PortConfig.INGRESS and p.published_port:
                taken[(p.published_port, p.protocol)] = other
    return taken


def check_host_conflicts(svc: Service, services: Iterable[Service]) -> None:
    """swarmkit's checkPortConflicts across publish modes: a published port (and protocol) this
    service asks for in ingress mode may not be another service's host-mode port, nor one it
    asks for in host mode another service's ingress port. Two host-mode services may share a port
    (the scheduler keeps them on different nodes)."""
    wanted = {(p.published_port, p.protocol): p.publish_mode
              for p in svc.spec.endpoint.ports if p.published_port}
    for other in services:
        if other.id == svc.id:
            continue
        for p in [*other.spec.endpoint.ports, *other.endpoint.ports]:
            mode = wanted.get((p.published_port, p.protocol)) if p.published_port else None
            if mode is None:
                continue
            if p.publish_mode == PortConfig.HOST and mode == PortConfig.INGRESS:
                raise PortInUseError(p.published_port, p.protocol, other, "a host-published port")
            if p.publish_mode == PortConfig.INGRESS and mode == PortConfig.HOST:
                raise PortInUseError(p.published_port, p.protocol, other)


def allocate_ports(svc: Service, services: Iterable[Service]) -> None:
    """Fill ``svc.endpoint`` from its spec, in place (see the module notes); ``services`` are the
    services in the store (``svc`` itself among them or not). Raises PortAllocationError."""
    services = list(services)
    check_host_conflicts(svc, services)
    taken = ingress_ports_taken(services, svc.id)
    svc.endpoint.spec.CopyFrom(svc.spec.endpoint)
    previous = {(p.target_port, p.protocol): p.published_port for p in svc.endpoint.ports}
    del svc.endpoint.ports[:]
    for p in svc.spec.endpoint.ports:
        port = PortConfig()
        port.CopyFrom(p)
        if port.publish_mode == PortConfig.INGRESS:
            if not port.published_port:
                port.published_port = previous.get((p.target_port, p.protocol), 0)
            if not port.published_port:
                used = {k[0] for k in taken} | {q.published_port for q in svc.endpoint.ports}
                free = next((x for x in DYNAMIC_PORTS if x not in used), 0)
                if not free:
                    raise NoFreePortError("no free dynamic port in 30000-32767")
                port.published_port = free
            owner = taken.get((port.published_port, port.protocol))
            if owner is not None:
                raise PortInUseError(port.published_port, port.protocol, owner)
        svc.endpoint.ports.append(port)
