"""NetView: the manager's network assignments, and what this node's data path should look like.

Pure (no I/O, no asyncio): :class:`~node.network.netsync.NetSync` feeds it every
``AssignmentsMessage`` (tasks are ignored here) and pushes what :meth:`NetView.desired` derives
into ``node.network.NodeNetwork``.

Design notes:

* State is three maps keyed like the REMOVE items: networks by ``network.id``, routes by
  ``route.service_id``, peers by ``peer.node_id``. A COMPLETE message replaces all three (an
  item missing from it is gone); INCREMENTAL ones upsert (UPDATE) or delete (REMOVE).
* "Other node" is decided by node id, never by address: two simulated nodes may share an
  address in tests, and a backend's ``node_addr`` is only used as the VXLAN destination
  (falling back to that node's ``NetworkPeer.addr`` when the route left it empty).
* Per network (see node/network's "Daemon wiring"):

  - ``peers`` = data path addresses of other nodes with a backend on the network (for the
    ingress network: every other node, whether it has a backend or not, since every node
    forwards published ports into the mesh);
  - ``remote_endpoints`` = ``(task ip, node addr)`` of backends on other nodes, plus for the
    ingress network every other node's ingress IP (their ingress-sbox answers replies);
  - ``services`` = one ServiceEntry per route with a VIP or a backend on the network: its VIP
    there (``None`` in DNSRR mode, or when the manager gave none on that network), the task
    IPs there (routes carry running tasks only), the ingress-published ports, and aliases.

* Aliases come with the route (``ServiceRoute.aliases``, per network, from the spec's attachment
  aliases), so every node on the network answers them; those learnt from local tasks
  (``NetworkAttachment.aliases`` and the spec's ``NetworkAttachmentConfig.aliases``, through
  :meth:`NetView.learn_aliases`) are added to them.
* Ingress: entries for every route with ingress-mode published ports; backends are the tasks'
  addresses on the ingress network, cluster-wide (the mesh forwards over the overlay). This
  node's own ingress IP is ``ingress_addr`` of its own NetworkPeer; until it is allocated the
  ingress sandbox is not set up (``ingress_ip`` None).
* Malformed networks (no VNI, bad CIDR) are logged and left out rather than failing the
  whole view; one bad object must not take the node's other networks down.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from node.network.errors import NetworkError as _NetErr
from node.network.model import NetworkConfig, PortMap, ServiceEntry
from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Network, Task
from swarm.api.types_pb2 import PortConfig

log = logging.getLogger(__name__)
_T = TypeVar("_T")

VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
MTU_OPTION = "com.docker.network.driver.mtu"
DEFAULT_MTU = 1450



@dataclass(frozen=True)
class NetState:
    """What one network should look like on this node."""

    config: NetworkConfig
    peers: tuple[str, ...] = ()
    remote_endpoints: tuple[tuple[str, str], ...] = ()
    services: tuple[ServiceEntry, ...] = ()


@dataclass(frozen=True)
class Desired:
    """The whole data path of this node: networks to have, and the ingress mesh."""

    networks: Mapping[str, NetState] = field(default_factory=dict)
    ingress_id: str | None = None
    ingress_ip: str | None = None                   # this node's CIDR on the ingress network
    ingress_entries: tuple[ServiceEntry, ...] = ()


def _ip(cidr: str) -> str:
    """``10.0.1.5/24`` -> ``10.0.1.5`` (a bare address is returned as is)."""
    return cidr.split("/", 1)[0]


def network_config(net: Network) -> NetworkConfig:
    """The NodeNetwork config of a manager ``Network``; raises ``ValueError`` if malformed.

    VNI: the first id of the driver state's ``vxlanid_list`` (decimal). Subnet/gateway: the
    first IPAM config; a missing gateway is the subnet's first host, like Docker's IPAM.
    MTU: ``com.docker.network.driver.mtu`` in the driver state or spec options, else 1450.
    """
    opts = dict(net.spec.driver_config.options)
    opts.update(net.driver_state.options)
    raw = opts.get(VNI_OPTION, "").split(",")[0].strip()
    if not raw.isdigit():
        raise ValueError(f"network {net.id}: no VNI in driver state ({VNI_OPTION}={raw!r})")
    if not net.ipam.configs or not net.ipam.configs[0].subnet:
        raise ValueError(f"network {net.id}: no IPAM subnet")
    ipam = net.ipam.configs[0]
    try:
        subnet = ipaddress.IPv4Network(ipam.subnet, strict=False)
    except ValueError as e:
        raise ValueError(f"network {net.id}: bad subnet {ipam.subnet!r}") from e
    gateway = _ip(ipam.gateway) if ipam.gateway else str(next(subnet.hosts()))
    mtu_raw = opts.get(MTU_OPTION, "")
    mtu = int(mtu_raw) if mtu_raw.isdigit() else DEFAULT_MTU
    try:
        return NetworkConfig(id=net.id, name=net.spec.annotations.name or net.id, vni=int(raw),
                             subnet=str(subnet), gateway=gateway, mtu=mtu, ingress=net.spec.ingress)
    except _NetErr as e:
        raise ValueError(str(e)) from e


def _port_maps(ports: Iterable[PortConfig]) -> tuple[PortMap, ...]:
    """Ingress-mode published TCP/UDP ports (SCTP, host mode and unpublished are skipped)."""
    out: list[PortMap] = []
    for p in ports:
        if p.publish_mode != PortConfig.INGRESS or not p.published_port or not p.target_port:
            continue
        if p.protocol not in (PortConfig.TCP, PortConfig.UDP):
            continue
        pm = PortMap("tcp" if p.protocol == PortConfig.TCP else "udp", p.target_port, p.published_port)
        if pm not in out:
            out.append(pm)
    return tuple(out)


def _route_ports(route: d.ServiceRoute) -> tuple[PortMap, ...]:
    """Allocated ports (``endpoint.ports``), else the spec's."""
    ep = route.endpoint
    return _port_maps(ep.ports if ep.ports else ep.spec.ports)


def task_attachments(task: Task) -> list[tuple[Network, str]]:
    """(network, first address) per attachment of ``task``, in order; address-less ones skipped."""
    return [(a.network, a.addresses[0]) for a in task.networks if a.network.id and a.addresses]


def task_aliases(task: Task) -> dict[str, tuple[str, ...]]:
    """network id -> aliases of ``task`` there (attachment aliases + spec aliases by id/name)."""
    out: dict[str, tuple[str, ...]] = {}
    for a in task.networks:
        names = list(a.aliases)
        for cfg in task.spec.networks:
            if cfg.target in (a.network.id, a.network.spec.annotations.name):
                names += list(cfg.aliases)
        if names:
            out[a.network.id] = tuple(dict.fromkeys(names))
    return out


class NetView:
    """The manager's networks, routes and peers as this node last heard them."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.networks: dict[str, Network] = {}
        self.routes: dict[str, d.ServiceRoute] = {}
        self.peers: dict[str, d.NetworkPeer] = {}
        self.aliases: dict[tuple[str, str], tuple[str, ...]] = {}   # (service, network) -> names
        self._bad: set[str] = set()  # network ids already warned about

    # ---- input ---------------------------------------------------------------------------
    def apply(self, msg: d.AssignmentsMessage) -> bool:
        """Apply one assignments message (task items ignored); True if anything changed."""
        before = (dict(self.networks), dict(self.routes), dict(self.peers))
        if msg.type == d.AssignmentsMessage.COMPLETE:
            self.networks, self.routes, self.peers = {}, {}, {}
        for ch in msg.changes:
            a = ch.assignment
            kind = a.WhichOneof("item")
            remove = ch.action == d.AssignmentChange.REMOVE
            if kind == "network":
                self._put(self.networks, a.network.id, a.network, remove)
            elif kind == "route":
                self._put(self.routes, a.route.service_id, a.route, remove)
            elif kind == "peer":
                self._put(self.peers, a.peer.node_id, a.peer, remove)
        return (self.networks, self.routes, self.peers) != before

    @staticmethod
    def _put(where: dict[str, _T], key: str, item: _T, remove: bool) -> None:
        if not key:
            return
        if remove:
            where.pop(key, None)
        else:
            where[key] = item

    def learn_aliases(self, task: Task) -> bool:
        """Remember the DNS aliases of ``task``'s service on its networks; True if new."""
        changed = False
        for nid, names in task_aliases(task).items():
            key = (task.service_id, nid)
            if task.service_id and self.aliases.get(key) != names:
                self.aliases[key] = names
                changed = True
        return changed

    # ---- derived ---------------------------------------------------------------------------
    def config(self, network_id: str) -> NetworkConfig | None:
        net = self.networks.get(network_id)
        if net is None:
            return None
        try:
            cfg = network_config(net)
        except ValueError as e:
            if network_id not in self._bad:
                log.warning("network %s: ignored, %s", network_id, e)
                self._bad.add(network_id)
            return None
        self._bad.discard(network_id)
        return cfg

    def ingress_network(self) -> Network | None:
        for nid in sorted(self.networks):
            if self.networks[nid].spec.ingress:
                return self.networks[nid]
        return None

    def own_ingress_ip(self) -> str | None:
        me = self.peers.get(self.node_id)
        return me.ingress_addr if me is not None and me.ingress_addr else None

    def _node_addr(self, b: d.ServiceBackend) -> str:
        if b.node_addr:
            return b.node_addr
        p = self.peers.get(b.node_id)
        return p.addr if p is not None else ""

    def peers_for(self, network_id: str, ingress: bool = False) -> tuple[tuple[str, ...],
                                                                         tuple[tuple[str, str], ...]]:
        """(peer node addrs, remote (task ip, node addr) endpoints) of one network, sorted."""
        peers: set[str] = set()
        eps: set[tuple[str, str]] = set()
        for route in self.routes.values():
            for b in route.backends:
                if b.network_id != network_id or b.node_id == self.node_id or not b.addr:
                    continue
                addr = self._node_addr(b)
                if not addr:
                    continue
                peers.add(addr)
                eps.add((_ip(b.addr), addr))
        if ingress:
            for p in self.peers.values():
                if p.node_id == self.node_id or not p.addr:
                    continue
                peers.add(p.addr)
                if p.ingress_addr:
                    eps.add((_ip(p.ingress_addr), p.addr))
        return tuple(sorted(peers)), tuple(sorted(eps))

    def services_for(self, network_id: str) -> tuple[ServiceEntry, ...]:
        """ServiceEntry per route with a VIP or a backend on ``network_id`` (by service id).

        None on the ingress network: it carries the routing mesh only; names resolve (and VIPs
        balance) on the service's own networks, as in Docker."""
        out: list[ServiceEntry] = []
        net = self.networks.get(network_id)
        if net is not None and net.spec.ingress:
            return ()
        for sid in sorted(self.routes):
            r = self.routes[sid]
            vips = [_ip(v.addr) for v in r.endpoint.virtual_ips if v.network_id == network_id and v.addr]
            backends = tuple(sorted({_ip(b.addr) for b in r.backends
                                     if b.network_id == network_id and b.addr}, key=_ip_key))
            if not vips and not backends:
                continue
            dnsrr = r.endpoint.spec.mode == r.endpoint.spec.DNSRR
            routed = next((tuple(a.names) for a in r.aliases if a.network_id == network_id), ())
            learned = self.aliases.get((sid, network_id), ())
            entry = self._entry(r, None if dnsrr or not vips else vips[0], backends, dnsrr,
                                tuple(dict.fromkeys((*routed, *learned))))
            if entry is not None:
                out.append(entry)
        return tuple(out)

    def ingress_entries(self) -> tuple[ServiceEntry, ...]:
        """Published ingress ports: backends = every task's ingress-network IP, cluster-wide."""
        ing = self.ingress_network()
        if ing is None:
            return ()
        out: list[ServiceEntry] = []
        for sid in sorted(self.routes):
            r = self.routes[sid]
            ports = _route_ports(r)
            if not ports:
                continue
            vips = [_ip(v.addr) for v in r.endpoint.virtual_ips if v.network_id == ing.id and v.addr]
            backends = tuple(sorted({_ip(b.addr) for b in r.backends if b.network_id == ing.id and b.addr},
                                    key=_ip_key))
            entry = self._entry(r, vips[0] if vips else None, backends, False, (), ports)
            if entry is not None:
                out.append(entry)
        return tuple(out)

    def _entry(self, r: d.ServiceRoute, vip: str | None, backends: tuple[str, ...], dnsrr: bool,
               aliases: tuple[str, ...], ports: tuple[PortMap, ...] | None = None) -> ServiceEntry | None:
        try:
            return ServiceEntry(service_id=r.service_id, name=r.name or r.service_id, aliases=aliases,
                                vip=vip, backends=backends,
                                ports=_route_ports(r) if ports is None else ports, dnsrr=dnsrr)
        except _NetErr as e:
            log.warning("service %s: route ignored, %s", r.service_id, e)
            return None

    def desired(self, in_use: Iterable[str],
                fallback: Mapping[str, NetworkConfig] | None = None) -> Desired:
        """The data path for networks ``in_use`` by local sandboxes, plus the ingress network.

        ``fallback`` gives configs for in-use networks the view does not (or no longer)
        know, e.g. the copy of the Network carried by a running task.
        """
        fallback = fallback or {}
        nets: dict[str, NetState] = {}
        ing = self.ingress_network()
        ids = set(in_use)
        if ing is not None:
            ids.add(ing.id)
        for nid in sorted(ids):
            cfg = self.config(nid) or fallback.get(nid)
            if cfg is None:
                continue
            peers, eps = self.peers_for(nid, ingress=cfg.ingress)
            nets[nid] = NetState(cfg, peers, eps, self.services_for(nid))
        ing_id = ing.id if ing is not None and ing.id in nets else None
        ing_ip = self.own_ingress_ip() if ing_id else None
        return Desired(networks=nets, ingress_id=ing_id, ingress_ip=ing_ip,
                       ingress_entries=self.ingress_entries() if ing_ip else ())


def _ip_key(ip: str) -> tuple[int, ...]:
    try:
        return tuple(ipaddress.IPv4Address(ip).packed)
    except ValueError:
        return (256,)
