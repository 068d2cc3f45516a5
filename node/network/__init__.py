"""node/network: the node-side data path - VXLAN overlays, container attachment, service VIP
load balancing (nftables), the ingress routing mesh and an embedded DNS server.

Synchronous and thread-safe; every call blocks (netlink, nft, mounts), so the asyncio daemon
calls it with ``asyncio.to_thread``. Imports: stdlib + pyroute2 only; needs root, nft(8).

API::

    nn = NodeNetwork(state_dir, data_path_addr="192.168.1.10", vxlan_port=4789, name_prefix="")
    nn.ensure_network(NetworkConfig(id, name, vni, subnet, gateway, mtu=1450, ingress=False))
    nn.set_peers(network_id, peers=[node addrs], remote_endpoints=[(task_ip, node_addr), ...])
    path = nn.create_sandbox(container_id)       # /run/netns/<stem>c-<hash>; runtime joins it
    nn.resolv_conf_path(container_id)            # bind-mount at /etc/resolv.conf
    nn.attach(container_id, network_id, "10.0.1.5/24")   # eth0, eth1, ... in attach order
    nn.set_services(network_id, [ServiceEntry(...), ...])  # VIP tables + DNS records
    nn.set_ingress("10.0.0.3/24", [ServiceEntry(... ports=(PortMap("tcp", 80, 8080),))])
    nn.destroy_sandbox(container_id)
    nn.prune_sandboxes(keep=[live container ids])  # after a restart
    nn.remove_network(network_id)
    nn.close(cleanup=False)                      # True: remove everything we made

Names: every netns, node-namespace link and nft table starts with ``<name_prefix>sw``.

Daemon wiring (what to call when):

* on start: construct (adopts leftovers of a previous run; deletes unknown ones);
  ``ensure_network(ingress)`` + ``set_peers`` + ``set_ingress(node's ingress IP, ingress entries)``
  on EVERY node, even without tasks.
* task with networks starting: ``ensure_network`` for each network, ``set_peers`` for each,
  ``create_sandbox`` -> ContainerConfig.netns_path and a /etc/resolv.conf bind mount from
  ``resolv_conf_path``, then ``attach`` per network (first one gives the default route), then
  start the container.
* task stopped/removed: ``destroy_sandbox``; ``remove_network`` when no task on this node uses a
  network any more (never the ingress network).
* whenever the manager's view changes (tasks start/stop anywhere, become healthy, nodes join):
  ``set_peers`` (remote_endpoints = every task IP on that network on OTHER nodes, plus for the
  ingress network every other node's ingress IP), ``set_services`` per network (backends =
  task IPs on that network, healthy only) and ``set_ingress`` (backends = ingress-network IPs
  of the tasks, cluster-wide). Each call is a full replacement; repeat freely.

Design notes live in the module docstrings: overlay.py (namespace-per-network, VXLAN with
proxy ARP), nft.py (numgen load balancing, atomic tables), ingress.py (the mesh path),
resolver.py (DNS), netns.py (threads and namespaces).
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
