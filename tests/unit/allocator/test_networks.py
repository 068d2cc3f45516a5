"""swarm.allocator.networks: the subnet, gateway and VNI a new network gets (pure)."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from swarm.allocator.ipam import VNI_START, VXLAN_OPTION, IPAMError, subnet_of, vni_of
from swarm.allocator.networks import address_pools, build_network, new_network
from swarm.api.objects_pb2 import Cluster, Network
from swarm.api.specs_pb2 import NetworkSpec
from swarm.api.types_pb2 import IPAMConfig

NOW = Timestamp(seconds=1_700_000_000)


def spec(name: str, subnet: str = "", gateway: str = "", ingress: bool = False) -> NetworkSpec:
    s = NetworkSpec(ingress=ingress)
    s.annotations.name = name
    if subnet:
        s.ipam.configs.append(IPAMConfig(subnet=subnet, gateway=gateway))
    return s


def test_ingress_at_init_gets_the_first_subnet_and_vni() -> None:
    cl = Cluster(subnet_size=24)
    cl.default_address_pool.append("10.0.0.0/8")
    net = build_network(spec("ingress", ingress=True), [], [], *address_pools(cl), NOW)
    assert (str(subnet_of(net)), net.ipam.configs[0].gateway, vni_of(net)) == \
        ("10.0.0.0/24", "10.0.0.1", VNI_START)
    assert net.driver_state.name == "overlay" and net.driver_state.options[VXLAN_OPTION] == "4096"
    assert net.meta.created_at == NOW and net.meta.updated_at == NOW and len(net.id) == 25


def test_address_pools_default_and_from_the_cluster() -> None:
    assert address_pools(None) == (["10.0.0.0/8"], 24)
    cl = Cluster(subnet_size=26)
    cl.default_address_pool.extend(["192.168.0.0/16", "172.20.0.0/16"])
    assert address_pools(cl) == (["192.168.0.0/16", "172.20.0.0/16"], 26)


def test_new_network_skips_taken_subnets_and_vnis() -> None:
    first = new_network(spec("a"), [], None, NOW)
    second = new_network(spec("b"), [first], None, NOW)
    assert str(subnet_of(second)) == "10.0.1.0/24" and vni_of(second) == VNI_START + 1


def test_a_requested_subnet_and_gateway_are_kept() -> None:
    net = new_network(spec("a", "192.168.7.0/24", "192.168.7.254"), [], None, NOW)
    assert (net.ipam.configs[0].subnet, net.ipam.configs[0].gateway) == ("192.168.7.0/24", "192.168.7.254")
    net = new_network(spec("b", "192.168.8.7/24"), [], None, NOW)
    assert (net.ipam.configs[0].subnet, net.ipam.configs[0].gateway) == ("192.168.8.0/24", "192.168.8.1")


def test_an_overlapping_requested_subnet_is_refused() -> None:
    first = new_network(spec("a"), [], None, NOW)
    with pytest.raises(IPAMError, match=r"^subnet 10\.0\.0\.0/16 overlaps with the subnet 10\.0\.0\.0/24 "
                                        r"of another network$"):
        new_network(spec("b", "10.0.0.0/16"), [first], None, NOW)


def test_an_exhausted_pool_is_refused() -> None:
    cl = Cluster(subnet_size=25)
    cl.default_address_pool.append("10.9.0.0/24")
    nets: list[Network] = []
    for name in ("a", "b"):
        nets.append(new_network(spec(name), nets, cl, NOW))
    with pytest.raises(IPAMError, match="could not find an available, non-overlapping IPv4 address pool"):
        new_network(spec("c"), nets, cl, NOW)
