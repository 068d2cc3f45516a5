"""Network allocation decisions: which networks a task joins, its addresses, service VIPs and
every node's ingress endpoint. Pure functions over objects read from the store; the allocator
component (allocator.py) writes the results.

A task of a service with ingress-published ports joins the `ingress` network first (the routing
mesh reaches it there), then the service's own networks in spec order. A service in VIP mode gets
one virtual IP on each of those networks; in dnsrr mode none. Every node gets one address on
the ingress network: its end of the mesh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from swarm.allocator.ipam import Pool, used_addresses
from swarm.api.objects_pb2 import EndpointVirtualIP, Network, NetworkAttachment, Node, Service, Task
from swarm.api.specs_pb2 import EndpointSpec
from swarm.api.types_pb2 import PortConfig
from swarm.store.typed import Reader


def needs_ingress(svc: Service) -> bool:
    return any(p.publish_mode == PortConfig.INGRESS for p in svc.spec.endpoint.ports)


def service_networks(svc: Service, nets: Sequence[Network]) -> list[Network] | None:
    """The networks of `svc`'s tasks, or None when one of them does not exist (yet)."""
    out: list[Network] = []
    if needs_ingress(svc):
        ingress = next((n for n in nets if n.spec.ingress), None)
        if ingress is None:
            return None
        out.append(ingress)
    for att in svc.spec.task.networks:
        n = next((n for n in nets if n.id == att.target or n.spec.annotations.name == att.target), None)
        if n is None:
            return None
        if all(x.id != n.id for x in out):
            out.append(n)
    return out


class Pools:
    """Lazily built address pools for one allocation pass (see ipam.py for why this is safe)."""

    def __init__(self, reader_fn: Callable[[], Reader]) -> None:
        self.reader_fn = reader_fn
        self.pools: dict[str, Pool] = {}

    def get(self, net: Network) -> Pool:
        p = self.pools.get(net.id)
        if p is None:
            r = self.reader_fn()
            p = Pool(net, used_addresses(net.id, r.list(Task), r.list(Service), r.list(Node)))
            self.pools[net.id] = p
        return p


def allocate_task(t: Task, svc: Service | None, nets: Sequence[Network], pools: Pools) -> bool:
    """Attach `t` to its service's networks with fresh addresses. False: not possible yet."""
    if t.networks or svc is None:
        return True
    wanted = service_networks(svc, nets)
    if wanted is None:
        return False
    for n in wanted:
        addr = pools.get(n).take()
        t.networks.append(NetworkAttachment(network=n, addresses=[addr]))
    return True


def allocate_vips(svc: Service, nets: Sequence[Network], pools: Pools) -> bool:
    """Make `svc.endpoint.virtual_ips` match its networks; True when something changed."""
    wanted = service_networks(svc, nets) or []
    if svc.spec.endpoint.mode == EndpointSpec.DNSRR:
        wanted = []
    have = {v.network_id: v for v in svc.endpoint.virtual_ips}
    keep = [have[n.id] for n in wanted if n.id in have]
    changed = len(keep) != len(have)
    out = list(keep)
    for n in wanted:
        if n.id not in have:
            out.append(EndpointVirtualIP(network_id=n.id, addr=pools.get(n).take()))
            changed = True
    if changed:
        del svc.endpoint.virtual_ips[:]
        svc.endpoint.virtual_ips.extend(out)
    return changed


def allocate_node_ingress(node: Node, ingress: Network | None, pools: Pools) -> bool:
    if ingress is None or any(a.network.id == ingress.id for a in node.attachments):
        return False
    node.attachments.append(NetworkAttachment(network=ingress, addresses=[pools.get(ingress).take()]))
    return True
