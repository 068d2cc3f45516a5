"""node.network.plan: dispatcher assignment items -> NodeNetwork call arguments (pure)."""

from __future__ import annotations

import pytest

from node.network import InvalidNetworkConfigError, PortMap
from node.network.plan import VXLAN_OPTION, host_ports, network_config, plan
from swarm.api import dispatcher_pb2 as d
from swarm.api import objects_pb2 as o
from swarm.api import specs_pb2 as s
from swarm.api import types_pb2 as t


def net(nid: str, name: str, vni: int, subnet: str, ingress: bool = False) -> o.Network:
    n = o.Network(id=nid)
    n.spec.annotations.name = name
    n.spec.ingress = ingress
    n.driver_state.options[VXLAN_OPTION] = str(vni)
    n.ipam.configs.append(t.IPAMConfig(subnet=subnet, gateway=subnet.rsplit(".", 1)[0] + ".1"))
    return n


ING = net("ing", "ingress", 4096, "10.0.0.0/24", ingress=True)
APP = net("app", "appnet", 4097, "10.0.1.0/24")
PEERS = [d.NetworkPeer(node_id="n1", addr="192.168.1.1", ingress_addr="10.0.0.2/24"),
         d.NetworkPeer(node_id="n2", addr="192.168.1.2", ingress_addr="10.0.0.3/24"),
         d.NetworkPeer(node_id="n3", addr="192.168.1.3")]   # ingress endpoint not allocated yet


def web_route() -> d.ServiceRoute:
    r = d.ServiceRoute(service_id="s1", name="web")
    r.endpoint.virtual_ips.add(network_id="app", addr="10.0.1.2/24")
    r.endpoint.virtual_ips.add(network_id="ing", addr="10.0.0.5/24")
    r.endpoint.ports.add(protocol=t.PortConfig.TCP, target_port=80, published_port=8080)
    r.endpoint.ports.add(protocol=t.PortConfig.UDP, target_port=53, published_port=5353)
    r.endpoint.ports.add(protocol=t.PortConfig.TCP, target_port=22, published_port=2222,
                         publish_mode=t.PortConfig.HOST)
    for task, node, addr, app_ip, ing_ip in (("t1", "n1", "192.168.1.1", "10.0.1.3", "10.0.0.10"),
                                             ("t2", "n2", "192.168.1.2", "10.0.1.4", "10.0.0.11")):
        r.backends.add(task_id=task, node_id=node, node_addr=addr, network_id="app", addr=app_ip + "/24")
        r.backends.add(task_id=task, node_id=node, node_addr=addr, network_id="ing", addr=ing_ip + "/24")
    return r


def rr_route() -> d.ServiceRoute:
    r = d.ServiceRoute(service_id="s2", name="rr")
    r.endpoint.spec.mode = s.EndpointSpec.DNSRR
    r.backends.add(task_id="t3", node_id="n3", node_addr="192.168.1.3", network_id="app", addr="10.0.1.7/24")
    return r


def test_network_config() -> None:
    cfg = network_config(APP)
    assert (cfg.id, cfg.name, cfg.vni, cfg.subnet, cfg.gateway, cfg.ingress) == \
        ("app", "appnet", 4097, "10.0.1.0/24", "10.0.1.1", False)
    assert network_config(ING).ingress
    with pytest.raises(InvalidNetworkConfigError, match="not allocated"):
        network_config(o.Network(id="x"))


def test_plan_on_node_without_tasks() -> None:
    p = plan("n3", [ING], [web_route()], PEERS)
    ing = p.networks["ing"]
    assert ing.peers == ("192.168.1.1", "192.168.1.2")                 # every other node
    assert dict(ing.remote_endpoints) == {"10.0.0.10": "192.168.1.1", "10.0.0.11": "192.168.1.2",
                                          "10.0.0.2": "192.168.1.1", "10.0.0.3": "192.168.1.2"}
    assert p.ingress_ip is None                                       # n3 has no endpoint yet
    (e,) = p.ingress_entries
    assert e.backends == ("10.0.0.10", "10.0.0.11") and e.vip == "10.0.0.5"
    assert set(e.ports) == {PortMap("tcp", 80, 8080), PortMap("udp", 53, 5353)}   # not the host port


def test_plan_on_node_with_tasks() -> None:
    p = plan("n1", [ING, APP], [web_route(), rr_route()], PEERS)
    assert p.ingress_ip == "10.0.0.2/24"
    app = p.networks["app"]
    assert app.peers == ("192.168.1.2", "192.168.1.3")               # nodes with backends, not self
    assert dict(app.remote_endpoints) == {"10.0.1.4": "192.168.1.2", "10.0.1.7": "192.168.1.3"}
    web, rr = app.services
    assert (web.name, web.vip, web.dnsrr) == ("web", "10.0.1.2", False)
    assert web.backends == ("10.0.1.3", "10.0.1.4")
    assert (rr.name, rr.vip, rr.backends, rr.dnsrr) == ("rr", None, ("10.0.1.7",), True)
    assert "10.0.0.2" not in dict(p.networks["ing"].remote_endpoints)   # own endpoint is local


def test_host_ports() -> None:
    assert host_ports(web_route().endpoint) == (PortMap("tcp", 22, 2222),)
