"""Networks through the control API's handlers (reference §8.2): overlay subnets from the pool
in order (ingress first: 10.0.0.0/24, VNI 4096), explicit subnets, validation, removal rules."""

from __future__ import annotations

import pytest

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Network
from swarm.api.specs_pb2 import NetworkSpec
from swarm.api.types_pb2 import IPAMConfig
from swarm.controlapi import networks, services
from swarm.store import typed

from .conftest import Swarm
from .helpers import call, create, port, refused, service_spec, snapshot

VXLAN = "com.docker.network.driver.overlay.vxlanid_list"


def net_spec(name: str, subnet: str = "", gateway: str = "", *, driver: str = "",
             ingress: bool = False) -> NetworkSpec:
    spec = NetworkSpec(ingress=ingress)
    spec.annotations.name = name
    if driver:
        spec.driver_config.name = driver
    if subnet or gateway:
        spec.ipam.configs.append(IPAMConfig(subnet=subnet, gateway=gateway))
    return spec


def make(swarm: Swarm, name: str, subnet: str = "", gateway: str = "") -> Network:
    net: Network = call(networks.create_network, swarm.ctx,
                        c.CreateNetworkRequest(spec=net_spec(name, subnet, gateway))).network
    return net


def addressing(net: Network) -> tuple[str, str, str]:
    cfg = net.ipam.configs[0]
    return cfg.subnet, cfg.gateway, net.driver_state.options[VXLAN]


def create_refused(swarm: Swarm, spec: NetworkSpec, code: str, message: str) -> None:
    refused(networks.create_network, swarm.ctx, c.CreateNetworkRequest(spec=spec), code, message)


# ---- create --------------------------------------------------------------------------------


def test_ingress_gets_the_first_subnet_and_vni_4096(swarm: Swarm) -> None:
    ingress = swarm.ctx.read.get(Network, swarm.ingress_id)
    assert ingress is not None and ingress.spec.ingress
    assert addressing(ingress) == ("10.0.0.0/24", "10.0.0.1", "4096")


def test_an_overlay_gets_the_next_subnet_and_vni(swarm: Swarm) -> None:
    net = make(swarm, "backend")
    assert addressing(net) == ("10.0.1.0/24", "10.0.1.1", "4097")
    assert net.spec.driver_config.name == "overlay" and net.driver_state.name == "overlay"
    assert net.meta.created_at.seconds == int(swarm.clock.now)
    assert net.meta.version.index == swarm.store.index
    assert addressing(make(swarm, "front")) == ("10.0.2.0/24", "10.0.2.1", "4098")


def test_an_explicit_subnet_and_gateway_are_kept(swarm: Swarm) -> None:
    assert addressing(make(swarm, "a", "10.20.0.0/16", "10.20.0.254"))[:2] == ("10.20.0.0/16",
                                                                              "10.20.0.254")
    assert addressing(make(swarm, "b", "10.21.0.0/16"))[:2] == ("10.21.0.0/16", "10.21.0.1")
    assert addressing(make(swarm, "c", "10.22.3.4/16"))[:2] == ("10.22.0.0/16", "10.22.0.1")


def test_automatic_subnets_skip_taken_ones_and_reuse_a_deleted_networks(swarm: Swarm) -> None:
    make(swarm, "explicit", "10.0.1.0/24")
    a = make(swarm, "a")
    make(swarm, "b")
    assert addressing(a)[0] == "10.0.2.0/24"
    call(networks.remove_network, swarm.ctx, c.RemoveNetworkRequest(network_id="a"))
    assert addressing(make(swarm, "c"))[0] == "10.0.2.0/24"      # reference §8.2: reused


def test_an_overlapping_subnet_is_refused(swarm: Swarm) -> None:
    make(swarm, "a", "10.20.0.0/16")
    create_refused(swarm, net_spec("b", "10.0.0.0/16"), "FAILED_PRECONDITION",
                   "subnet 10.0.0.0/16 overlaps with the subnet 10.0.0.0/24 of another network")
    create_refused(swarm, net_spec("b", "10.20.5.0/24"), "FAILED_PRECONDITION",
                   "subnet 10.20.5.0/24 overlaps with the subnet 10.20.0.0/16 of another network")


@pytest.mark.parametrize(("subnet", "gateway", "message"), [
    ("foo", "", "invalid subnet 'foo'"),
    ("", "10.20.0.1", "invalid subnet ''"),
    ("fd00::/64", "", "invalid subnet fd00::/64: IPv4, /29 or larger"),
    ("10.20.0.0/30", "", "invalid subnet 10.20.0.0/30: IPv4, /29 or larger"),
    ("10.20.0.0/16", "10.9.0.1", "gateway 10.9.0.1 is not in subnet 10.20.0.0/16"),
])
def test_a_bad_subnet_or_gateway_is_refused(swarm: Swarm, subnet: str, gateway: str,
                                             message: str) -> None:
    create_refused(swarm, net_spec("n", subnet, gateway), "INVALID_ARGUMENT", message)


def test_a_malformed_gateway_is_invalid_argument(swarm: Swarm) -> None:
    create_refused(swarm, net_spec("n", "10.20.0.0/16", "foo"), "INVALID_ARGUMENT",
                   "invalid gateway foo")


def test_a_29_subnet_is_the_smallest_accepted(swarm: Swarm) -> None:
    assert addressing(make(swarm, "tiny", "10.20.0.0/29"))[:2] == ("10.20.0.0/29", "10.20.0.1")


@pytest.mark.parametrize("name", ["", "my net", "-net", "net.1"])
def test_a_bad_name_is_refused(swarm: Swarm, name: str) -> None:
    create_refused(swarm, net_spec(name), "INVALID_ARGUMENT",
                   "network name must be valid as a DNS name component")


def test_a_driver_other_than_overlay_is_refused(swarm: Swarm) -> None:
    create_refused(swarm, net_spec("n", driver="bridge"), "INVALID_ARGUMENT",
                   "network driver 'bridge' is not supported: only overlay")
    assert make(swarm, "n").spec.driver_config.name == "overlay"


def test_a_duplicate_name_is_refused(swarm: Swarm) -> None:
    make(swarm, "backend")
    create_refused(swarm, net_spec("backend"), "ALREADY_EXISTS",
                   "network with name backend already exists")
    create_refused(swarm, net_spec("ingress"), "ALREADY_EXISTS",
                   "network with name ingress already exists")


def test_a_duplicate_name_in_other_case_is_refused_as_already_existing(swarm: Swarm) -> None:
    make(swarm, "backend")
    create_refused(swarm, net_spec("Backend"), "ALREADY_EXISTS",
                   "network with name Backend already exists")


def test_a_second_ingress_network_is_refused(swarm: Swarm) -> None:
    create_refused(swarm, net_spec("ingress2", ingress=True), "ALREADY_EXISTS",
                   "an ingress network already exists")


def test_an_exhausted_pool_is_refused(swarm: Swarm) -> None:
    cl = swarm.ctx.read.cluster()
    assert cl is not None
    del cl.default_address_pool[:]
    cl.default_address_pool.append("10.9.0.0/23")
    call(lambda ctx, _: ctx.apply([typed.update(cl)]), swarm.ctx, None)
    assert [addressing(make(swarm, n))[0] for n in ("a", "b")] == ["10.9.0.0/24", "10.9.1.0/24"]
    create_refused(swarm, net_spec("c"), "FAILED_PRECONDITION",
                   "could not find an available, non-overlapping IPv4 address pool among the "
                   "defaults to assign to the network")


# ---- remove --------------------------------------------------------------------------------


def test_a_network_in_use_by_a_service_cannot_be_removed(swarm: Swarm) -> None:
    net = make(swarm, "backend")
    create(swarm.ctx, service_spec("web", networks=["backend"]))
    create(swarm.ctx, service_spec("api", networks=[net.id]))
    for ref in ("backend", net.id):
        refused(networks.remove_network, swarm.ctx, c.RemoveNetworkRequest(network_id=ref),
                "FAILED_PRECONDITION", "network backend is in use by service web")
    for svc in ("web", "api"):
        call(services.remove_service, swarm.ctx, c.RemoveServiceRequest(service_id=svc))
    call(networks.remove_network, swarm.ctx, c.RemoveNetworkRequest(network_id="backend"))
    assert swarm.ctx.read.get(Network, net.id) is None


def test_ingress_cannot_be_removed_while_a_service_publishes_an_ingress_port(swarm: Swarm) -> None:
    web = create(swarm.ctx, service_spec("web", ports=[port(80, 8080)]))
    create(swarm.ctx, service_spec("host", ports=[port(80, 8081, host=True)]))
    refused(networks.remove_network, swarm.ctx, c.RemoveNetworkRequest(network_id="ingress"),
            "FAILED_PRECONDITION", f"ingress network cannot be removed because service {web.id} "
            "depends on it")
    call(services.remove_service, swarm.ctx, c.RemoveServiceRequest(service_id="web"))
    call(networks.remove_network, swarm.ctx, c.RemoveNetworkRequest(network_id="ingress"))
    assert swarm.ctx.read.get(Network, swarm.ingress_id) is None
    # without it, ingress ports are refused, and a new ingress network can be made
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec("web", ports=[port(80)])),
            "FAILED_PRECONDITION", "service needs ingress network, but no ingress network is present")
    again = call(networks.create_network, swarm.ctx,
                 c.CreateNetworkRequest(spec=net_spec("ingress", ingress=True))).network
    assert addressing(again)[:2] == ("10.0.0.0/24", "10.0.0.1")


def test_removing_an_unknown_network_is_not_found(swarm: Swarm) -> None:
    refused(networks.remove_network, swarm.ctx, c.RemoveNetworkRequest(network_id="nope"),
            "NOT_FOUND", "no such network: nope")


# ---- list and get --------------------------------------------------------------------------


def test_list_filters_and_get(swarm: Swarm) -> None:
    a = make(swarm, "a")
    make(swarm, "b")
    before = snapshot(swarm.store)

    def ls(**kw: object) -> list[str]:
        req = c.ListNetworksRequest(filters=c.ListNetworksRequest.Filters(**kw))  # type: ignore[arg-type]
        return sorted(n.spec.annotations.name for n in call(networks.list_networks, swarm.ctx, req).networks)

    assert ls() == ["a", "b", "ingress"]
    assert ls(names=["a", "ingress"]) == ["a", "ingress"]
    assert ls(id_prefixes=[a.id[:8]]) == ["a"]
    for ref in ("a", a.id, a.id[:8]):
        assert call(networks.get_network, swarm.ctx, c.GetNetworkRequest(network_id=ref)).network == a
    refused(networks.get_network, swarm.ctx, c.GetNetworkRequest(network_id="zzz"),
            "NOT_FOUND", "no such network: zzz")
    assert snapshot(swarm.store) == before
