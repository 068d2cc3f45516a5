"""node/network: the node-side data path - VXLAN overlays, container attachment, service VIP
load balancing (nftables), the ingress routing mesh and an embedded DNS server.

Synchronous and thread-safe; every call blocks (netlink, nft, mounts), so the asyncio daemon
calls it with ``asyncio.to_thread``. Imports: stdlib + pyroute2 only; needs root, nft(8).
The two modules that drive it from the manager's assignments (netview, netsync) also take the
generated API's types.

API::

    nn = NodeNetwork(state_dir, data_path_addr="192.168.1.10", vxlan_port=4789, name_prefix="",
                     resolv_conf=Path("/etc/resolv.conf"), egress_subnet=None)  # e.g. "172.18.0.0/16"
    nn.ensure_network(NetworkConfig(id, name, vni, subnet, gateway, mtu=1450, ingress=False))
    nn.set_peers(network_id, peers=[node addrs], remote_endpoints=[(task_ip, node_addr), ...])
    path = nn.create_sandbox(container_id)       # /run/netns/<stem>c-<hash>; runtime joins it
    nn.resolv_conf_path(container_id)            # bind-mount at /etc/resolv.conf
    nn.attach(container_id, network_id, "10.0.1.5/24")   # eth0, eth1, ... in attach order
    nn.set_services(network_id, [ServiceEntry(...), ...])  # VIP tables + DNS records
    nn.set_ingress("10.0.0.3/24", [ServiceEntry(... ports=(PortMap("tcp", 80, 8080),))])
    nn.set_host_ports(container_id, [PortMap("tcp", 80, 8081)])   # mode=host; needs egress_subnet
    nn.destroy_sandbox(container_id)
    nn.prune_sandboxes(keep=[live container ids])  # after a restart
    nn.remove_network(network_id)
    nn.close(cleanup=False)                      # True: remove everything we made

Every method is idempotent and raises only ``NetworkError`` subclasses (errors.py):
``InvalidNetworkConfigError`` (bad input, permanent), ``UnknownNetworkError`` (call order:
e.g. attach before ensure_network/create_sandbox), ``NamespaceError``/``NetlinkError``/
``NftError`` (the kernel or nft refused; ``temporary`` says whether a retry may help).

Names: every netns, node-namespace link and nft table starts with ``<name_prefix>sw``
(name_prefix: 0-8 of [a-z0-9]). Netns files live in /run/netns, so ``ip netns`` shows them.

Daemon wiring (what to call when):

* on start: construct (adopts leftovers of a previous run; deletes unknown ones);
  ``ensure_network(ingress)`` + ``set_peers`` + ``set_ingress(node's ingress IP, ingress entries)``
  on EVERY node, even without tasks.
* task with networks starting: ``ensure_network`` for each network, ``set_peers`` for each,
  ``create_sandbox`` -> ContainerConfig.netns_path and a /etc/resolv.conf bind mount from
  ``resolv_conf_path``, then ``attach`` per network (the first one gives the default route
  unless egress is on), ``set_host_ports`` for mode=host ports, then start the container.
* task stopped/removed: ``destroy_sandbox`` after the container exited; ``remove_network``
  when no task on this node uses a network any more (never the ingress network).
* whenever the manager's view changes (tasks start/stop anywhere, become healthy, nodes join):
  ``set_peers`` (remote_endpoints = every task IP on that network on OTHER nodes, plus for the
  ingress network every other node's ingress IP), ``set_services`` per network (backends =
  task IPs on that network, healthy only) and ``set_ingress`` (backends = ingress-network IPs
  of the tasks, cluster-wide). Each call is a full replacement; repeat freely.
* after a restart: construct, replay the calls above from the manager's view, then
  ``prune_sandboxes(keep=containers the runtime still runs)``.

netview.py derives all of those arguments from the dispatcher's assignments (pure) and
netsync.py makes the calls (``NetSync``: one thread, debounced pushes, sandboxes). NetSync is
what ``node.exec.runtime.RuntimeExecutor`` is given as its ``network``: the executor forwards
the assignments' network items and asks it for task sandboxes; the agent never calls it.

Design notes live in the module docstrings: overlay.py (namespace-per-network, VXLAN with
proxy ARP), nft.py (numgen load balancing, atomic flush-and-refill tables, notrack for VXLAN),
ingress.py (the mesh path), egress.py (gwbridge, host-mode ports), resolver.py (DNS),
conntrack.py (UDP flows after backend changes), netns.py (threads and namespaces),
adopt.py (restart).
"""

from node.network.errors import (
    InvalidNetworkConfigError,
    NamespaceError,
    NetlinkError,
    NetworkError,
    NftError,
    UnknownNetworkError,
)
from node.network.model import NetworkConfig, PortMap, ServiceEntry, mac_from_ip
from node.network.node import NodeNetwork

__all__ = [
    "InvalidNetworkConfigError",
    "NamespaceError",
    "NetlinkError",
    "NetworkConfig",
    "NetworkError",
    "NftError",
    "NodeNetwork",
    "PortMap",
    "ServiceEntry",
    "UnknownNetworkError",
    "mac_from_ip",
]
