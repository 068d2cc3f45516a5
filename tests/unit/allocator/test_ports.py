"""swarm.allocator.ports: published ingress ports of a service, a pure function of the store's
services (the control API's refusal messages are tested in tests/unit/controlapi)."""

from __future__ import annotations

import pytest

from swarm.allocator.ports import (
    DYNAMIC_PORTS,
    NoFreePortError,
    PortInUseError,
    allocate_ports,
    ingress_ports_taken,
)
from swarm.api.objects_pb2 import Service
from swarm.api.types_pb2 import PortConfig


def port(target: int, published: int = 0, *, udp: bool = False, host: bool = False) -> PortConfig:
    return PortConfig(target_port=target, published_port=published,
                      protocol=PortConfig.UDP if udp else PortConfig.TCP,
                      publish_mode=PortConfig.HOST if host else PortConfig.INGRESS)


def service(sid: str, *ports: PortConfig) -> Service:
    s = Service(id=sid)
    s.spec.annotations.name = sid
    s.spec.endpoint.ports.extend(ports)
    return s


def allocated(sid: str, *ports: PortConfig) -> Service:
    s = service(sid, *ports)
    allocate_ports(s, [])
    return s


def published(svc: Service) -> list[tuple[int, int, int]]:
    return [(p.published_port, p.target_port, p.protocol) for p in svc.endpoint.ports]


def test_dynamic_ports_are_the_lowest_free_ones_and_the_spec_is_untouched() -> None:
    a = allocated("a", port(80))
    b = service("b", port(80), port(443))
    allocate_ports(b, [a])
    assert published(a) == [(30000, 80, PortConfig.TCP)]
    assert published(b) == [(30001, 80, PortConfig.TCP), (30002, 443, PortConfig.TCP)]
    assert list(b.spec.endpoint.ports) == [port(80), port(443)]
    assert b.endpoint.spec == b.spec.endpoint


def test_a_port_keeps_its_published_port_across_updates() -> None:
    a = allocated("a", port(80))
    other = allocated("other", port(8080, 30000 + 5))
    a.spec.endpoint.ports.append(port(443))
    allocate_ports(a, [a, other])      # a itself among the services: not its own rival
    assert published(a) == [(30000, 80, PortConfig.TCP), (30001, 443, PortConfig.TCP)]


def test_a_port_of_another_service_is_refused_per_protocol() -> None:
    web = allocated("web", port(80, 8080))
    with pytest.raises(PortInUseError) as info:
        allocate_ports(service("api", port(81, 8080)), [web])
    assert (info.value.port, info.value.protocol, info.value.owner.id) == (8080, PortConfig.TCP, "web")
    udp = service("udp", port(81, 8080, udp=True))
    allocate_ports(udp, [web])
    assert published(udp) == [(8080, 81, PortConfig.UDP)]


def test_host_mode_ports_are_not_ingress_ports() -> None:
    h = allocated("h", port(80, 8080, host=True), port(81, host=True))
    assert published(h) == [(8080, 80, PortConfig.TCP), (0, 81, PortConfig.TCP)]
    assert ingress_ports_taken([h], but="") == {}
    other = service("o", port(80, 8081))
    allocate_ports(other, [h])
    assert published(other) == [(8081, 80, PortConfig.TCP)]


def test_a_port_cannot_be_host_mode_for_one_service_and_ingress_for_another() -> None:
    """swarmkit's checkPortConflicts, both ways round; two host-mode services may share one."""
    h = allocated("h", port(80, 8080, host=True))
    with pytest.raises(PortInUseError, match=r"port '8080' is already in use by service 'h' \(h\) "
                       "as a host-published port"):
        allocate_ports(service("o", port(80, 8080)), [h])
    web = allocated("web", port(80, 9090))
    with pytest.raises(PortInUseError, match=r"\(web\) as an ingress port"):
        allocate_ports(service("o", port(80, 9090, host=True)), [web])
    allocate_ports(service("h2", port(80, 8080, host=True)), [h])
    udp = service("u", port(80, 8080))
    udp.spec.endpoint.ports[0].protocol = PortConfig.UDP
    allocate_ports(udp, [h])                                   # another protocol: no conflict


def test_no_free_dynamic_port() -> None:
    full = service("full")
    full.endpoint.ports.extend(port(1, p) for p in DYNAMIC_PORTS)
    with pytest.raises(NoFreePortError, match="no free dynamic port in 30000-32767"):
        allocate_ports(service("x", port(80)), [full])
