"""NetView: assignment bookkeeping and the derived data path (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from node.network import NetworkConfig, PortMap, ServiceEntry
from node.network.netview import (
    VNI_OPTION,
    NetView,
    network_config,
    task_aliases,
    task_attachments,
)
from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import EndpointVirtualIP, Network, NetworkAttachment, Task
from swarm.api.specs_pb2 import EndpointSpec, NetworkAttachmentConfig
from swarm.api.types_pb2 import PortConfig

ME = "nodeA"
ADDR = {"nodeA": "192.168.0.1", "nodeB": "192.168.0.2", "nodeC": "192.168.0.3"}
ING_IP = {"nodeA": "10.0.0.2/24", "nodeB": "10.0.0.3/24", "nodeC": "10.0.0.4/24"}


# ---- builders (shared with test_netsync) -----------------------------------------------------
def net(nid: str, name: str, vni: int, subnet: str, gateway: str = "", ingress: bool = False) -> Network:
    n = Network(id=nid)
    n.spec.annotations.name = name
    n.spec.ingress = ingress
    n.driver_state.name = "overlay"
    n.driver_state.options[VNI_OPTION] = str(vni)
    n.ipam.configs.add(subnet=subnet, gateway=gateway)
    return n


INGRESS = net("ingressid", "ingress", 4096, "10.0.0.0/24", "10.0.0.1", ingress=True)
APP = net("appid", "app", 4097, "10.0.1.0/24", "10.0.1.1")
DB = net("dbid", "db", 4098, "10.0.2.0/24", "10.0.2.1")


def backend(tid: str, node: str, nid: str, addr: str, node_addr: str | None = None) -> d.ServiceBackend:
    return d.ServiceBackend(task_id=tid, node_id=node, network_id=nid, addr=addr,
                            node_addr=ADDR.get(node, "") if node_addr is None else node_addr)


def route(sid: str, name: str, backends: Iterable[d.ServiceBackend] = (),
          vips: Iterable[tuple[str, str]] = (), dnsrr: bool = False,
          ports: Iterable[tuple[int, int, int, int]] = ()) -> d.ServiceRoute:
    """ports: (protocol, target, published, publish_mode)."""
    r = d.ServiceRoute(service_id=sid, name=name, backends=list(backends))
    r.endpoint.spec.mode = EndpointSpec.DNSRR if dnsrr else EndpointSpec.VIP
    r.endpoint.virtual_ips.extend(EndpointVirtualIP(network_id=n, addr=a) for n, a in vips)
    for proto, target, published, mode in ports:
        r.endpoint.ports.add(protocol=proto, target_port=target, published_port=published,  # type: ignore[arg-type]
                             publish_mode=mode)  # type: ignore[arg-type]
    return r


def peer(node: str, ingress: bool = True) -> d.NetworkPeer:
    return d.NetworkPeer(node_id=node, addr=ADDR[node], ingress_addr=ING_IP[node] if ingress else "")


Item = Network | d.ServiceRoute | d.NetworkPeer | Task


def _assignment(item: Item) -> d.Assignment:
    if isinstance(item, Network):
        return d.Assignment(network=item)
    if isinstance(item, d.ServiceRoute):
        return d.Assignment(route=item)
    if isinstance(item, d.NetworkPeer):
        return d.Assignment(peer=item)
    return d.Assignment(task=item)


def complete(*items: Item) -> d.AssignmentsMessage:
    return d.AssignmentsMessage(type=d.AssignmentsMessage.COMPLETE, changes=[
        d.AssignmentChange(assignment=_assignment(i), action=d.AssignmentChange.UPDATE) for i in items])


def incremental(updates: Iterable[Item] = (), removes: Iterable[Item] = ()) -> d.AssignmentsMessage:
    ch = [d.AssignmentChange(assignment=_assignment(i), action=d.AssignmentChange.UPDATE) for i in updates]
    ch += [d.AssignmentChange(assignment=_assignment(i), action=d.AssignmentChange.REMOVE) for i in removes]
    return d.AssignmentsMessage(type=d.AssignmentsMessage.INCREMENTAL, changes=ch)


TCP, UDP, SCTP = PortConfig.TCP, PortConfig.UDP, PortConfig.SCTP
ING_MODE, HOST_MODE = PortConfig.INGRESS, PortConfig.HOST

WEB = route("svcweb", "web",
            [backend("w1", "nodeA", "appid", "10.0.1.3/24"),
             backend("w1", "nodeA", "ingressid", "10.0.0.10/24"),
             backend("w2", "nodeB", "appid", "10.0.1.4/24"),
             backend("w2", "nodeB", "ingressid", "10.0.0.11/24")],
            vips=[("ingressid", "10.0.0.5/24"), ("appid", "10.0.1.2/24")],
            ports=[(TCP, 80, 8080, ING_MODE), (UDP, 53, 5353, ING_MODE), (TCP, 81, 9090, HOST_MODE)])
DBSVC = route("svcdb", "db", [backend("d1", "nodeC", "dbid", "10.0.2.3/24"),
                              backend("d2", "nodeC", "appid", "10.0.1.9/24")],
              vips=[("dbid", "10.0.2.2/24"), ("appid", "10.0.1.8/24")])
RR = route("svcrr", "rr", [backend("r1", "nodeB", "appid", "10.0.1.20/24"),
                           backend("r2", "nodeC", "appid", "10.0.1.21/24")], dnsrr=True)


def full_view() -> NetView:
    v = NetView(ME)
    v.apply(complete(INGRESS, APP, DB, WEB, DBSVC, RR, peer("nodeA"), peer("nodeB"), peer("nodeC")))
    return v


# ---- network_config --------------------------------------------------------------------------
def test_network_config_from_manager_network() -> None:
    assert network_config(APP) == NetworkConfig("appid", "app", 4097, "10.0.1.0/24", "10.0.1.1")
    assert network_config(INGRESS).ingress is True


def test_network_config_defaults_and_options() -> None:
    n = net("x", "", 4200, "10.9.0.0/16")
    n.driver_state.options[VNI_OPTION] = "4200,4201"
    n.spec.driver_config.options["com.docker.network.driver.mtu"] = "1400"
    cfg = network_config(n)
    assert (cfg.name, cfg.vni, cfg.gateway, cfg.mtu) == ("x", 4200, "10.9.0.1", 1400)
    n.ipam.configs[0].gateway = "10.9.0.254/16"       # CIDR form accepted
    assert network_config(n).gateway == "10.9.0.254"


@pytest.mark.parametrize("mutate", [
    lambda n: n.driver_state.options.pop(VNI_OPTION),
    lambda n: n.driver_state.options.__setitem__(VNI_OPTION, "abc"),
    lambda n: n.driver_state.options.__setitem__(VNI_OPTION, "0"),
    lambda n: n.ipam.ClearField("configs"),
    lambda n: n.ipam.configs[0].__setattr__("subnet", "banana"),
    lambda n: n.ipam.configs[0].__setattr__("gateway", "10.99.0.1"),
])
def test_network_config_rejects_malformed(mutate: object) -> None:
    n = Network()
    n.CopyFrom(APP)
    mutate(n)  # type: ignore[operator]
    with pytest.raises(ValueError):
        network_config(n)


def test_bad_network_is_left_out_of_the_view_not_fatal() -> None:
    bad = net("badid", "bad", 0, "10.0.5.0/24")
    v = NetView(ME)
    v.apply(complete(INGRESS, APP, bad))
    assert v.config("badid") is None
    assert set(v.desired(["appid", "badid"]).networks) == {"ingressid", "appid"}


# ---- apply -----------------------------------------------------------------------------------
def test_complete_replaces_everything_and_ignores_tasks() -> None:
    v = full_view()
    assert set(v.networks) == {"ingressid", "appid", "dbid"}
    assert set(v.routes) == {"svcweb", "svcdb", "svcrr"}
    assert set(v.peers) == {"nodeA", "nodeB", "nodeC"}
    assert v.apply(complete(INGRESS, WEB, peer("nodeA"), Task(id="t1"))) is True
    assert (set(v.networks), set(v.routes), set(v.peers)) == ({"ingressid"}, {"svcweb"}, {"nodeA"})
    assert v.apply(complete(INGRESS, WEB, peer("nodeA"))) is False


def test_incremental_updates_and_removes_by_id() -> None:
    v = full_view()
    web2 = d.ServiceRoute()
    web2.CopyFrom(WEB)
    del web2.backends[2:]
    gone: list[Item] = [Network(id="dbid"), d.ServiceRoute(service_id="svcrr"),
                        d.NetworkPeer(node_id="nodeC")]
    assert v.apply(incremental(updates=[web2], removes=gone))
    assert set(v.networks) == {"ingressid", "appid"}
    assert set(v.routes) == {"svcweb", "svcdb"}
    assert len(v.routes["svcweb"].backends) == 2
    assert set(v.peers) == {"nodeA", "nodeB"}
    assert not v.apply(incremental(removes=[Network(id="nope")]))   # unknown id: nothing
    assert not v.apply(incremental(updates=[Task(id="t")]))


# ---- peers -----------------------------------------------------------------------------------
def test_peers_of_an_overlay_are_other_nodes_with_backends_there() -> None:
    v = full_view()
    peers, eps = v.peers_for("appid")
    assert peers == ("192.168.0.2", "192.168.0.3")
    assert eps == (("10.0.1.20", "192.168.0.2"), ("10.0.1.21", "192.168.0.3"),
                   ("10.0.1.4", "192.168.0.2"), ("10.0.1.9", "192.168.0.3"))
    assert v.peers_for("dbid") == (("192.168.0.3",), (("10.0.2.3", "192.168.0.3"),))


def test_own_backends_are_never_remote() -> None:
    v = NetView(ME)
    v.apply(complete(APP, route("s", "s", [backend("t", "nodeA", "appid", "10.0.1.3/24")])))
    assert v.peers_for("appid") == ((), ())


def test_ingress_peers_are_all_other_nodes_and_their_ingress_ips() -> None:
    v = full_view()
    peers, eps = v.peers_for("ingressid", ingress=True)
    assert peers == ("192.168.0.2", "192.168.0.3")
    assert eps == (("10.0.0.11", "192.168.0.2"), ("10.0.0.3", "192.168.0.2"), ("10.0.0.4", "192.168.0.3"))


def test_backend_node_addr_falls_back_to_the_peer_entry() -> None:
    v = NetView(ME)
    v.apply(complete(APP, peer("nodeB"),
                     route("s", "s", [backend("t", "nodeB", "appid", "10.0.1.7/24", node_addr=""),
                                      backend("u", "nodeZ", "appid", "10.0.1.8/24", node_addr="")])))
    assert v.peers_for("appid") == (("192.168.0.2",), (("10.0.1.7", "192.168.0.2"),))


# ---- services --------------------------------------------------------------------------------
def test_services_per_network_vip_and_dnsrr() -> None:
    v = full_view()
    web_ports = (PortMap("tcp", 80, 8080), PortMap("udp", 53, 5353))
    assert v.services_for("appid") == (
        ServiceEntry("svcdb", "db", vip="10.0.1.8", backends=("10.0.1.9",)),
        ServiceEntry("svcrr", "rr", vip=None, backends=("10.0.1.20", "10.0.1.21"), dnsrr=True),
        ServiceEntry("svcweb", "web", vip="10.0.1.2", backends=("10.0.1.3", "10.0.1.4"), ports=web_ports),
    )
    assert v.services_for("dbid") == (ServiceEntry("svcdb", "db", vip="10.0.2.2", backends=("10.0.2.3",)),)
    # the ingress network carries the routing mesh only: no names, no VIP balancing there
    assert v.services_for("ingressid") == ()
    assert any(e.name == "web" for e in v.ingress_entries())


def test_service_with_a_vip_but_no_running_task_keeps_its_vip() -> None:
    v = NetView(ME)
    v.apply(complete(APP, route("s", "s", [], vips=[("appid", "10.0.1.2/24")])))
    assert v.services_for("appid") == (ServiceEntry("s", "s", vip="10.0.1.2"),)


def test_backends_are_sorted_numerically_and_deduplicated() -> None:
    v = NetView(ME)
    v.apply(complete(APP, route("s", "s", [backend("a", "nodeB", "appid", "10.0.1.10/24"),
                                           backend("b", "nodeB", "appid", "10.0.1.9/24"),
                                           backend("b", "nodeB", "appid", "10.0.1.9/24")])))
    assert v.services_for("appid")[0].backends == ("10.0.1.9", "10.0.1.10")


def test_aliases_learnt_from_local_tasks() -> None:
    v = full_view()
    t = Task(id="w1", service_id="svcweb")
    t.networks.append(NetworkAttachment(network=APP, addresses=["10.0.1.3/24"], aliases=["www"]))
    t.spec.networks.append(NetworkAttachmentConfig(target="app", aliases=["www", "front"]))
    assert task_aliases(t) == {"appid": ("www", "front")}
    assert v.learn_aliases(t) is True
    assert v.learn_aliases(t) is False
    web = next(s for s in v.services_for("appid") if s.service_id == "svcweb")
    assert web.aliases == ("www", "front")
    assert all(s.aliases == () for s in v.services_for("ingressid"))


def test_task_attachments_in_order() -> None:
    t = Task(id="w1")
    t.networks.append(NetworkAttachment(network=INGRESS, addresses=["10.0.0.10/24"]))
    t.networks.append(NetworkAttachment(network=APP, addresses=["10.0.1.3/24"]))
    t.networks.append(NetworkAttachment(network=DB, addresses=[]))
    assert [(n.id, a) for n, a in task_attachments(t)] == [("ingressid", "10.0.0.10/24"),
                                                           ("appid", "10.0.1.3/24")]


# ---- ingress ---------------------------------------------------------------------------------
def test_ingress_entries_published_ingress_ports_only() -> None:
    v = full_view()
    assert v.ingress_entries() == (
        ServiceEntry("svcweb", "web", vip="10.0.0.5", backends=("10.0.0.10", "10.0.0.11"),
                     ports=(PortMap("tcp", 80, 8080), PortMap("udp", 53, 5353))),)
    assert v.own_ingress_ip() == "10.0.0.2/24"


def test_ingress_ports_fall_back_to_the_spec_and_skip_sctp_and_unpublished() -> None:
    r = route("s", "s", [backend("t", "nodeB", "ingressid", "10.0.0.20/24")])
    r.endpoint.spec.ports.add(protocol=TCP, target_port=80, published_port=30000)
    r.endpoint.spec.ports.add(protocol=SCTP, target_port=80, published_port=30001)
    r.endpoint.spec.ports.add(protocol=TCP, target_port=80, published_port=0)
    v = NetView(ME)
    v.apply(complete(INGRESS, r))
    assert v.ingress_entries() == (ServiceEntry("s", "s", backends=("10.0.0.20",),
                                                ports=(PortMap("tcp", 80, 30000),)),)


def test_no_ingress_network_no_ingress() -> None:
    v = NetView(ME)
    v.apply(complete(APP, WEB, peer("nodeA")))
    des = v.desired(["appid"])
    assert (des.ingress_id, des.ingress_ip, des.ingress_entries) == (None, None, ())
    assert v.ingress_entries() == ()


def test_own_ingress_ip_missing_until_allocated() -> None:
    v = NetView(ME)
    v.apply(complete(INGRESS, peer("nodeA", ingress=False)))
    assert v.desired([]).ingress_ip is None
    assert v.desired([]).ingress_id == "ingressid"


# ---- desired ---------------------------------------------------------------------------------
def test_desired_is_ingress_plus_networks_in_use() -> None:
    v = full_view()
    des = v.desired([])
    assert list(des.networks) == ["ingressid"]
    assert des.ingress_ip == "10.0.0.2/24"
    assert [e.service_id for e in des.ingress_entries] == ["svcweb"]
    des = v.desired(["appid"])
    assert sorted(des.networks) == ["appid", "ingressid"]
    app = des.networks["appid"]
    assert app.config == network_config(APP)
    assert app.peers == ("192.168.0.2", "192.168.0.3")
    assert [s.service_id for s in app.services] == ["svcdb", "svcrr", "svcweb"]
    ing = des.networks["ingressid"]
    assert ing.config.ingress and ing.peers == ("192.168.0.2", "192.168.0.3")


def test_desired_uses_fallback_config_for_unknown_networks() -> None:
    v = NetView(ME)
    cfg = network_config(DB)
    assert "dbid" in v.desired(["dbid"], fallback={"dbid": cfg}).networks
    assert v.desired(["dbid"]).networks == {}
    v.apply(complete(DB))
    newer = net("dbid", "db", 5000, "10.0.2.0/24", "10.0.2.1")
    v.apply(incremental(updates=[newer]))
    assert v.desired(["dbid"], fallback={"dbid": cfg}).networks["dbid"].config.vni == 5000   # view wins


def test_aliases_that_come_with_the_route_need_no_local_task() -> None:
    v = NetView(ME)
    r = route("s", "db", [backend("a", "nodeB", "appid", "10.0.1.9/24")], vips=[("appid", "10.0.1.2/24")])
    r.aliases.add(network_id="appid", names=["database", "pg"])
    v.apply(complete(APP, r))
    assert v.services_for("appid")[0].aliases == ("database", "pg")
