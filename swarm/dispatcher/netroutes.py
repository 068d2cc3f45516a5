"""What the agents need for the data path, derived from the store: service routes (VIPs, ports,
running backends with their addresses), peers (every node's data path address and ingress
endpoint) and the networks each node needs. Computed once per store index and shared by every
assignment stream; each stream sends only what changed for its node.

Services with no network (no virtual IP, no published port, no attached task) produce no route:
a plain service costs the streams nothing.
"""

from __future__ import annotations

from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Network, Node, Service
from swarm.api.types_pb2 import RUNNING
from swarm.store import ObjectStore
from swarm.store.typed import Reader


def node_addr(n: Node) -> str:
    return n.data_path_addr or n.status.addr


class RouteTable:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.index = -1
        self.routes: dict[str, tuple[bytes, d.ServiceRoute]] = {}
        self.peers: dict[str, tuple[bytes, d.NetworkPeer]] = {}
        self.networks: dict[str, Network] = {}

    def refresh(self) -> None:
        idx = self.store.index
        if idx == self.index:
            return
        r = Reader(self.store)
        nodes = {n.id: n for n in r.list(Node)}
        self.networks = {n.id: n for n in r.list(Network)}
        ingress = next((n.id for n in self.networks.values() if n.spec.ingress), "")
        peers: dict[str, tuple[bytes, d.NetworkPeer]] = {}
        for n in nodes.values():
            p = d.NetworkPeer(node_id=n.id, addr=node_addr(n))
            for a in n.attachments:
                if a.network.id == ingress and a.addresses:
                    p.ingress_addr = a.addresses[0]
            peers[n.id] = (p.SerializeToString(deterministic=True), p)
        routes: dict[str, tuple[bytes, d.ServiceRoute]] = {}
        for svc in r.list(Service):
            route = self._route(r, svc, nodes)
            if route is not None:
                routes[svc.id] = (route.SerializeToString(deterministic=True), route)
        self.routes, self.peers, self.index = routes, peers, idx

    @staticmethod
    def _route(r: Reader, svc: Service, nodes: dict[str, Node]) -> d.ServiceRoute | None:
        if not svc.spec.task.networks and not svc.endpoint.ports and not svc.endpoint.virtual_ips:
            return None   # no network: nothing to route, and no need to look at its tasks
        route = d.ServiceRoute(service_id=svc.id, name=svc.spec.annotations.name)
        route.endpoint.CopyFrom(svc.endpoint)
        attached = False
        aliases: dict[str, list[str]] = {}
        for t in r.tasks_of_service(svc.id):
            if not t.networks:
                continue
            attached = True
            for a in t.networks:
                names = aliases.setdefault(a.network.id, [])
                for cfg in svc.spec.task.networks:
                    if cfg.target in (a.network.id, a.network.spec.annotations.name):
                        names += [n for n in cfg.aliases if n not in names]
                names += [n for n in a.aliases if n not in names]
            if t.status.state != RUNNING or t.desired_state != RUNNING:
                continue
            n = nodes.get(t.node_id)
            for a in t.networks:
                for addr in a.addresses:
                    route.backends.add(task_id=t.id, node_id=t.node_id, node_addr=node_addr(n) if n else "",
                                       network_id=a.network.id, addr=addr)
        if not attached and not svc.endpoint.virtual_ips and not svc.endpoint.ports:
            return None
        route.backends.sort(key=lambda b: (b.network_id, b.task_id))
        for nid in sorted(aliases):
            if aliases[nid]:
                route.aliases.add(network_id=nid, names=aliases[nid])
        return route

    def networks_for(self, node_id: str) -> dict[str, Network]:
        """Ingress (always) and every network a live task on the node is attached to."""
        out = {nid: n for nid, n in self.networks.items() if n.spec.ingress}
        for t in Reader(self.store).tasks_on_node(node_id):
            if t.status.state > RUNNING and t.desired_state > RUNNING:
                continue
            for a in t.networks:
                out[a.network.id] = self.networks.get(a.network.id, a.network)
        return out


class StreamState:
    """What one node's assignment stream has sent of the network items."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.peers: dict[str, bytes] = {}
        self.networks: dict[str, bytes] = {}

    def diff(self, table: RouteTable, node_id: str, msg: d.AssignmentsMessage, complete: bool) -> None:
        table.refresh()
        if complete:
            self.routes.clear()
            self.peers.clear()
            self.networks.clear()
        nets = {k: (v.SerializeToString(deterministic=True), v)
                for k, v in table.networks_for(node_id).items()}
        items = (("route", table.routes, self.routes), ("peer", table.peers, self.peers),
                 ("network", nets, self.networks))
        for kind, current, sent in items:
            for key, (blob, obj) in current.items():
                if sent.get(key) != blob:
                    sent[key] = blob
                    msg.changes.add(assignment=d.Assignment(**{kind: obj}))  # type: ignore[arg-type]
            for key in [k for k in sent if k not in current]:
                del sent[key]
                gone = {"route": lambda k: d.Assignment(route=d.ServiceRoute(service_id=k)),
                        "peer": lambda k: d.Assignment(peer=d.NetworkPeer(node_id=k)),
                        "network": lambda k: d.Assignment(network=Network(id=k))}[kind](key)
                msg.changes.add(assignment=gone, action=d.AssignmentChange.REMOVE)
