"""Pure parts of node/network: value validation, MACs, names."""

from __future__ import annotations

import pytest

from node.network import InvalidNetworkConfigError, NetworkConfig, PortMap, ServiceEntry, mac_from_ip, model


def test_mac_from_ip() -> None:
    assert mac_from_ip("10.0.1.5") == "02:42:0a:00:01:05"
    assert mac_from_ip("192.168.255.254") == "02:42:c0:a8:ff:fe"
    with pytest.raises(InvalidNetworkConfigError):
        mac_from_ip("10.0.1")


def test_network_config_validation() -> None:
    NetworkConfig("n1", "app", 4097, "10.0.1.0/24", "10.0.1.1")
    with pytest.raises(InvalidNetworkConfigError):
        NetworkConfig("n1", "app", 0, "10.0.1.0/24", "10.0.1.1")
    with pytest.raises(InvalidNetworkConfigError):
        NetworkConfig("n1", "app", 2**24, "10.0.1.0/24", "10.0.1.1")
    with pytest.raises(InvalidNetworkConfigError):
        NetworkConfig("n1", "app", 4097, "10.0.1.0/24", "10.0.2.1")
    with pytest.raises(InvalidNetworkConfigError):
        NetworkConfig("n1", "app", 4097, "10.0.1.1/24", "10.0.1.1")   # host bits set
    with pytest.raises(InvalidNetworkConfigError):
        NetworkConfig("bad id", "app", 4097, "10.0.1.0/24", "10.0.1.1")
    with pytest.raises(ValueError):  # also a ValueError
        NetworkConfig("n1", "app", 4097, "10.0.1.0/24", "10.0.1.1", mtu=100)


def test_service_entry_validation() -> None:
    ServiceEntry("s", "web", vip="10.0.1.2", backends=("10.0.1.3",), ports=(PortMap("tcp", 80, 8080),))
    with pytest.raises(InvalidNetworkConfigError):
        ServiceEntry("s", "web", vip="10.0.1.2", dnsrr=True)
    with pytest.raises(InvalidNetworkConfigError):
        ServiceEntry("s", "web", backends=("nope",))
    with pytest.raises(InvalidNetworkConfigError):
        PortMap("sctp", 80, 80)
    with pytest.raises(InvalidNetworkConfigError):
        PortMap("tcp", 0, 80)


def test_names_carry_prefix_and_fit() -> None:
    assert model.stem("nt7a") == "nt7asw"
    assert model.stem("") == "sw"
    ns = model.network_ns_name("nt7a", "abcdef")
    assert ns.startswith("nt7asw") and ns == model.network_ns_name("nt7a", "abcdef")
    assert model.network_ns_name("nt7a", "x") != model.network_ns_name("nt7b", "x")
    assert model.sandbox_ns_name("p", "c1").startswith("pswc-")
    assert len(model.host_link_name("abcdefgh", "igh")) <= 15
    assert len(model.endpoint_veth_name("c" * 64, "n" * 25)) <= 15
    assert model.nft_table_name("nt7a", "vip") == "nt7asw_vip"
    with pytest.raises(InvalidNetworkConfigError):
        model.stem("Bad-Prefix")
    with pytest.raises(InvalidNetworkConfigError):
        model.stem("toolongprefix")


def test_parse_ip_cidr_needs_prefix() -> None:
    assert str(model.parse_ip_cidr("10.0.1.5/24").ip) == "10.0.1.5"
    with pytest.raises(InvalidNetworkConfigError):
        model.parse_ip_cidr("10.0.1.5")


def test_endpoint_id_is_stable_64_hex_per_container_and_network() -> None:
    from node.network.model import endpoint_id

    a = endpoint_id("c1", "n1")
    assert a == endpoint_id("c1", "n1") and len(a) == 64 and int(a, 16) >= 0
    assert len({a, endpoint_id("c1", "n2"), endpoint_id("c2", "n1")}) == 3
