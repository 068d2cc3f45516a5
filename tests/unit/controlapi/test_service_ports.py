"""Published ports of services (reference §1.10, §8.3): ingress ports picked from 30000-32767
when none is given, a published port unique cluster-wide per protocol, kept across updates."""

from __future__ import annotations

import pytest

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Service
from swarm.api.types_pb2 import PortConfig
from swarm.controlapi import services
from swarm.controlapi.common import Context
from swarm.store import typed

from .conftest import Swarm
from .helpers import call, create, port, refused, service_spec


def published(svc: Service) -> list[tuple[int, int, int]]:
    return [(p.published_port, p.target_port, p.protocol) for p in svc.endpoint.ports]


def in_use(port_: int, svc: Service, how: str = "an ingress port") -> str:
    return (f"port '{port_}' is already in use by service '{svc.spec.annotations.name}' "
            f"({svc.id}) as {how}")


def test_a_port_without_published_port_gets_the_first_free_dynamic_one(swarm: Swarm) -> None:
    a = create(swarm.ctx, service_spec("a", ports=[port(80)]))
    b = create(swarm.ctx, service_spec("b", ports=[port(80), port(443)]))
    assert published(a) == [(30000, 80, PortConfig.TCP)]
    assert published(b) == [(30001, 80, PortConfig.TCP), (30002, 443, PortConfig.TCP)]
    assert list(a.spec.endpoint.ports) == [port(80)]        # the spec keeps what the user asked


def test_explicit_ports_are_kept_and_skipped_by_dynamic_allocation(swarm: Swarm) -> None:
    a = create(swarm.ctx, service_spec("a", ports=[port(80, 30000)]))
    b = create(swarm.ctx, service_spec("b", ports=[port(80)]))
    assert published(a) == [(30000, 80, PortConfig.TCP)]
    assert published(b) == [(30001, 80, PortConfig.TCP)]


def test_an_explicit_port_used_by_another_service_is_refused(swarm: Swarm) -> None:
    web = create(swarm.ctx, service_spec("web", ports=[port(80, 8080)]))
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec("api", ports=[port(81, 8080)])),
            "INVALID_ARGUMENT", in_use(8080, web))


def test_a_dynamically_assigned_port_cannot_be_taken_explicitly(swarm: Swarm) -> None:
    web = create(swarm.ctx, service_spec("web", ports=[port(80)]))
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec("api", ports=[port(80, 30000)])),
            "INVALID_ARGUMENT", in_use(30000, web))


def test_the_same_port_for_tcp_and_udp_is_allowed(swarm: Swarm) -> None:
    dns = create(swarm.ctx, service_spec("dns", ports=[port(53, 53), port(53, 53, udp=True)]))
    assert published(dns) == [(53, 53, PortConfig.TCP), (53, 53, PortConfig.UDP)]
    other = create(swarm.ctx, service_spec("other", ports=[port(80, 8080, udp=True)]))
    assert create(swarm.ctx, service_spec("web", ports=[port(80, 8080)])).endpoint.ports[0].published_port \
        == 8080
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec("web2", ports=[port(80, 8080, udp=True)])),
            "INVALID_ARGUMENT", in_use(8080, other))


def test_duplicate_published_ports_in_one_spec_are_refused(swarm: Swarm) -> None:
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec(ports=[port(80, 8080), port(81, 8080)])),
            "INVALID_ARGUMENT", "EndpointSpec: duplicate published ports provided")


@pytest.mark.parametrize(("p", "message"), [
    (port(0), "EndpointSpec: target port must be between 1 and 65535"),
    (port(65536), "EndpointSpec: target port must be between 1 and 65535"),
    (port(80, 65536), "EndpointSpec: published port must be 65535 or lower"),
])
def test_out_of_range_ports_are_refused(swarm: Swarm, p: PortConfig, message: str) -> None:
    refused(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=service_spec(ports=[p])),
            "INVALID_ARGUMENT", message)


def test_host_mode_ports_get_no_dynamic_port(swarm: Swarm) -> None:
    svc = create(swarm.ctx, service_spec("web", ports=[port(80, host=True)]))
    assert [(p.published_port, p.publish_mode) for p in svc.endpoint.ports] == [(0, PortConfig.HOST)]


def test_two_services_may_share_a_host_mode_port(swarm: Swarm) -> None:
    # swarmkit: several services with the same host-mode port coexist (the scheduler keeps them apart)
    create(swarm.ctx, service_spec("a", ports=[port(80, 8080, host=True)]))
    create(swarm.ctx, service_spec("b", ports=[port(80, 8080, host=True)]))


def test_an_ingress_port_used_as_another_services_host_port_is_refused(swarm: Swarm) -> None:
    host = create(swarm.ctx, service_spec("host", ports=[port(80, 8080, host=True)]))
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec("web", ports=[port(80, 8080)])),
            "INVALID_ARGUMENT", in_use(8080, host, "a host-published port"))


def test_a_host_port_used_as_another_services_ingress_port_is_refused(swarm: Swarm) -> None:
    web = create(swarm.ctx, service_spec("web", ports=[port(80, 8080)]))
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec("host", ports=[port(80, 8080, host=True)])),
            "INVALID_ARGUMENT", in_use(8080, web))


def test_an_ingress_port_needs_the_ingress_network(ctx: Context) -> None:
    # ``ctx`` alone is an empty store: no ingress network
    refused(services.create_service, ctx,
            c.CreateServiceRequest(spec=service_spec(ports=[port(80, 8080)])),
            "FAILED_PRECONDITION", "service needs ingress network, but no ingress network is present")
    # host-mode ports and no ports need no ingress network
    call(services.create_service, ctx,
         c.CreateServiceRequest(spec=service_spec("h", ports=[port(80, 8080, host=True)])))


def test_no_free_dynamic_port_is_refused(swarm: Swarm) -> None:
    hog = Service(id="hog" + "0" * 22, spec=service_spec("hog"))
    hog.endpoint.ports.extend(port(1, p) for p in range(30000, 32768))
    call(lambda ctx, _: ctx.apply([typed.create(hog)]), swarm.ctx, None)
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec("web", ports=[port(80)])),
            "FAILED_PRECONDITION", "no free dynamic port in 30000-32767")


# ---- across updates and removal ------------------------------------------------------------


def _update(swarm: Swarm, svc: Service, ports: list[PortConfig]) -> Service:
    spec = service_spec(svc.spec.annotations.name, ports=ports)
    req = c.UpdateServiceRequest(service_id=svc.id, spec=spec)
    req.service_version.index = svc.meta.version.index
    out: Service = call(services.update_service, swarm.ctx, req).service
    return out


def test_an_update_keeps_the_assigned_dynamic_port_and_its_own_explicit_port(swarm: Swarm) -> None:
    svc = create(swarm.ctx, service_spec("web", ports=[port(80), port(443, 8443)]))
    create(swarm.ctx, service_spec("other", ports=[port(80)]))           # takes 30001
    out = _update(swarm, svc, [port(80), port(443, 8443), port(22)])
    assert published(out) == [(30000, 80, PortConfig.TCP), (8443, 443, PortConfig.TCP),
                              (30002, 22, PortConfig.TCP)]


def test_an_update_to_a_port_of_another_service_is_refused(swarm: Swarm) -> None:
    a = create(swarm.ctx, service_spec("a", ports=[port(80, 8080)]))
    b = create(swarm.ctx, service_spec("b", ports=[port(80, 9090)]))
    spec = service_spec("b", ports=[port(80, 8080)])
    req = c.UpdateServiceRequest(service_id=b.id, spec=spec)
    req.service_version.index = b.meta.version.index
    refused(services.update_service, swarm.ctx, req, "INVALID_ARGUMENT", in_use(8080, a))


def test_a_removed_services_port_is_free_again(swarm: Swarm) -> None:
    create(swarm.ctx, service_spec("a", ports=[port(80, 8080), port(81)]))
    call(services.remove_service, swarm.ctx, c.RemoveServiceRequest(service_id="a"))
    b = create(swarm.ctx, service_spec("b", ports=[port(80, 8080), port(81)]))
    assert published(b) == [(8080, 80, PortConfig.TCP), (30000, 81, PortConfig.TCP)]
