"""Address management for overlay networks, as pure functions over the store's state.

Design notes
------------
Nothing is kept beside the store: the addresses in use on a network are re-derived from what
the store holds — task attachments, service VIPs, nodes' ingress endpoints, plus the gateway.
The leader's allocator is the only writer of addresses, so deriving, picking the lowest free
address and writing it (while remembering what this pass handed out) never hands one out twice,
across leader changes too: a new leader derives the same set from the same store.

Subnets come from the cluster's default address pool (10.0.0.0/8 cut into /24s unless `swarm
init` said otherwise), VNIs from 4096 up; both are unique indexes in the store, so two managers
creating networks at once cannot both take the same one (the second write is refused and
retried with the next candidate).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from swarm.api.objects_pb2 import Network, Node, Service, Task

VNI_START = 4096
VNI_MAX = (1 << 24) - 1
VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


class IPAMError(Exception):
    code = "FAILED_PRECONDITION"


def subnet_of(net: Network) -> ipaddress.IPv4Network | None:
    for cfg in net.ipam.configs:
        if cfg.subnet:
            n = ipaddress.ip_network(cfg.subnet, strict=False)
            if isinstance(n, ipaddress.IPv4Network):
                return n
    return None


def gateway_of(net: Network) -> str:
    for cfg in net.ipam.configs:
        if cfg.gateway:
            return cfg.gateway
    sub = subnet_of(net)
    return str(next(sub.hosts())) if sub else ""


def vni_of(net: Network) -> int:
    try:
        return int(net.driver_state.options.get(VXLAN_OPTION, "0").split(",")[0])
    except ValueError:
        return 0


def next_subnet(pools: Iterable[str], size: int, taken: Iterable[str]) -> str:
    used = [ipaddress.ip_network(t, strict=False) for t in taken]
    for pool in pools:
        p = ipaddress.ip_network(pool, strict=False)
        if size < p.prefixlen:
            continue
        for cand in p.subnets(new_prefix=size):
            if not any(cand.overlaps(u) for u in used):
                return str(cand)
    raise IPAMError("could not find an available, non-overlapping IPv4 address pool among the "
                    "defaults to assign to the network")


def next_vni(taken: Iterable[int]) -> int:
    used = set(taken)
    for v in range(VNI_START, VNI_MAX + 1):
        if v not in used:
            return v
    raise IPAMError("no VXLAN network ID left")


def used_addresses(net_id: str, tasks: Iterable[Task], services: Iterable[Service],
                   nodes: Iterable[Node]) -> set[str]:
    """Host addresses (no prefix length) in use on network `net_id`."""
    out: set[str] = set()
    for t in tasks:
        for a in t.networks:
            if a.network.id == net_id:
                out.update(x.split("/")[0] for x in a.addresses)
    for s in services:
        for v in s.endpoint.virtual_ips:
            if v.network_id == net_id and v.addr:
                out.add(v.addr.split("/")[0])
    for n in nodes:
        for a in n.attachments:
            if a.network.id == net_id:
                out.update(x.split("/")[0] for x in a.addresses)
    return out


class Pool:
    """Free addresses of one network during one allocation pass."""

    def __init__(self, net: Network, used: set[str]) -> None:
        sub = subnet_of(net)
        if sub is None:
            raise IPAMError(f"network {net.spec.annotations.name} has no subnet")
        self.net = net
        self.sub = sub
        self.used = set(used) | {gateway_of(net)}
        self._hosts = sub.hosts()

    def take(self) -> str:
        for h in self._hosts:
            s = str(h)
            if s not in self.used:
                self.used.add(s)
                return f"{s}/{self.sub.prefixlen}"
        raise IPAMError(f"could not find an available IP while allocating on network "
                        f"{self.net.spec.annotations.name} ({self.sub})")
