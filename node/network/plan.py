"""From the dispatcher's network assignments to NodeNetwork calls - pure, no I/O.

The agent receives three kinds of items (swarm/dispatcher/netroutes.py): ``Network`` (the
networks this node needs: ingress always, plus those of its tasks), ``ServiceRoute`` (a
service's endpoint - VIPs per network, allocated ports, resolution mode - and its running
backends with their node and address per network) and ``NetworkPeer`` (every node's data path
address and ingress endpoint). ``plan()`` turns the current set of them into exactly the
arguments of ``ensure_network`` / ``set_peers`` / ``set_services`` / ``set_ingress``; the daemon
applies a plan after every assignments message (each call is a full replacement)::

    p = plan(my_node_id, networks.values(), routes.values(), peers.values())
    for np in p.networks.values():
        nn.ensure_network(np.config)
        nn.set_peers(np.config.id, np.peers, np.remote_endpoints)
        nn.set_services(np.config.id, np.services)
    nn.set_ingress(p.ingress_ip, p.ingress_entries)          # None until allocated
    for nid in set(applied) - set(p.networks): nn.remove_network(nid)
    # a task starting: create_sandbox, attach(cid, att.network.id, addr) per NetworkAttachment,
    # set_host_ports(cid, host_ports(route.endpoint)) for mode=host ports

Choices: the flood list of a network is every node running one of its backends (ingress:
every node) - with proxy ARP and static entries BUM traffic is rare, and nodes without a VNI
drop it anyway. Network aliases are not carried by ServiceRoute, so none are published yet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from node.network.errors import InvalidNetworkConfigError
from node.network.model import NetworkConfig, PortMap, ServiceEntry
from swarm.api import dispatcher_pb2, objects_pb2, specs_pb2, types_pb2

VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
_PROTO = {types_pb2.PortConfig.TCP: "tcp", types_pb2.PortConfig.UDP: "udp"}


@dataclass(frozen=True)
class NetworkPlan:
    config: NetworkConfig
    peers: tuple[str, ...] = ()
    remote_endpoints: tuple[tuple[str, str], ...] = ()
    services: tuple[ServiceEntry, ...] = ()


@dataclass(frozen=True)
class Plan:
    networks: dict[str, NetworkPlan] = field(default_factory=dict)
    ingress_ip: str | None = None           # this node's ingress endpoint (CIDR)
    ingress_entries: tuple[ServiceEntry, ...] = ()


def network_config(net: objects_pb2.Network, mtu: int = 1450) -> NetworkConfig:
    """NetworkConfig of an allocated network (VNI from the driver state, first IPAM pool)."""
    vni = net.driver_state.options.get(VXLAN_OPTION, "")
    if not vni or not net.ipam.configs:
        raise InvalidNetworkConfigError(f"network {net.id} is not allocated yet (VNI/subnet)")
    pool = net.ipam.configs[0]
    sub = ipaddress.IPv4Network(pool.subnet, strict=False)
    gateway = pool.gateway or str(next(sub.hosts()))
    return NetworkConfig(id=net.id, name=net.spec.annotations.name, vni=int(vni.split(",")[0]),
                         subnet=str(sub), gateway=gateway, mtu=mtu, ingress=net.spec.ingress)


def _ip(cidr: str) -> str:
    return cidr.split("/")[0]


def host_ports(endpoint: objects_pb2.Endpoint) -> tuple[PortMap, ...]:
    """mode=host published ports of a service (for set_host_ports of its local tasks)."""
    return tuple(PortMap(_PROTO[p.protocol], p.target_port, p.published_port)
                 for p in endpoint.ports
                 if p.publish_mode == types_pb2.PortConfig.HOST and p.protocol in _PROTO
                 and p.published_port)


def _ingress_ports(endpoint: objects_pb2.Endpoint) -> tuple[PortMap, ...]:
    return tuple(PortMap(_PROTO[p.protocol], p.target_port, p.published_port)
                 for p in endpoint.ports
                 if p.publish_mode == types_pb2.PortConfig.INGRESS and p.protocol in _PROTO
                 and p.published_port)


def plan(self_node_id: str, networks: Iterable[objects_pb2.Network],
         routes: Iterable[dispatcher_pb2.ServiceRoute],
         peers: Iterable[dispatcher_pb2.NetworkPeer], mtu: int = 1450) -> Plan:
    nets = {n.id: network_config(n, mtu) for n in networks}
    ingress_id = next((nid for nid, c in nets.items() if c.ingress), None)
    routes = list(routes)
    peers = [p for p in peers if p.addr]
    me = next((p for p in peers if p.node_id == self_node_id), None)
    others = [p for p in peers if p.node_id != self_node_id]
    out: dict[str, NetworkPlan] = {}
    ingress_entries: list[ServiceEntry] = []
    for nid, cfg in nets.items():
        flood: set[str] = {p.addr for p in others} if nid == ingress_id else set()
        remote: dict[str, str] = {}
        services: list[ServiceEntry] = []
        for r in routes:
            backends = [b for b in r.backends if b.network_id == nid]
            for b in backends:
                if b.node_id != self_node_id and b.node_addr:
                    remote[_ip(b.addr)] = b.node_addr
                    flood.add(b.node_addr)
            vip = next((_ip(v.addr) for v in r.endpoint.virtual_ips if v.network_id == nid), None)
            dnsrr = r.endpoint.spec.mode == specs_pb2.EndpointSpec.DNSRR
            if vip is None and not backends:
                continue
            entry = ServiceEntry(service_id=r.service_id, name=r.name, vip=None if dnsrr else vip,
                                 backends=tuple(sorted({_ip(b.addr) for b in backends})), dnsrr=dnsrr)
            services.append(entry)
            if nid == ingress_id and not dnsrr and _ingress_ports(r.endpoint):
                ingress_entries.append(ServiceEntry(
                    service_id=entry.service_id, name=entry.name, vip=entry.vip,
                    backends=entry.backends, ports=_ingress_ports(r.endpoint)))
        if nid == ingress_id:
            remote.update({_ip(p.ingress_addr): p.addr for p in others if p.ingress_addr})
        out[nid] = NetworkPlan(cfg, tuple(sorted(flood)), tuple(sorted(remote.items())),
                               tuple(sorted(services, key=lambda s: s.service_id)))
    ingress_ip = me.ingress_addr if me is not None and me.ingress_addr and ingress_id else None
    return Plan(out, ingress_ip, tuple(sorted(ingress_entries, key=lambda s: s.service_id)))
