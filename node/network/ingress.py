"""The ingress routing mesh on one node (swarm-behavior §8.3), without IPVS.

::

    client --> node addr:P --[node ns: nat prerouting/output, fib daddr type local, P]-->
      DNAT 169.254.77.2:P --veth <stem>igh/eth1--> ingress-sbox netns
      --[sbox: nat prerouting, numgen over backends]--> DNAT task_ingress_ip:target
      --[sbox: postrouting masquerade on eth0 = this node's ingress IP]--> ingress overlay
      --> VXLAN --> the task on whichever node

Replies retrace the path through both conntrack entries. Every node runs this, with or
without tasks, so every node answers every published port. The task sees the sbox's
ingress IP as the client (Docker behaves the same).

Why a separate sandbox and not the node namespace: the ingress subnet (10.0.0.0/24 by
default) never appears in the node's routing table, so it cannot clash with a real LAN;
the only route the node gets is a /30 link-local one (``LINK_CIDR``) to the sbox - the role
docker_gwbridge plays for Docker's ingress-sbox.

Other nodes must know this node's ingress IP as a remote endpoint on the ingress network
(``set_peers(ingress_id, ..., [(ingress_ip, this_node_addr), ...])`` on every node),
otherwise replies from their tasks cannot find their way back.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Sequence

from pyroute2 import IPRoute

from node.network import nft
from node.network.conntrack import flush_udp_to, removed_backends
from node.network.errors import InvalidNetworkConfigError
from node.network.model import NetworkConfig, ServiceEntry, parse_ip_cidr
from node.network.netns import NsThread, delete_netns, nft_apply, wrap_netlink, write_sysctl
from node.network.overlay import configure_sandbox_if, delete_link

log = logging.getLogger(__name__)
LINK_CIDR = ipaddress.IPv4Network("169.254.77.0/30")
HOST_LINK_IP = str(LINK_CIDR[1])
SBOX_LINK_IP = str(LINK_CIDR[2])
SBOX_INGRESS_IF = "eth0"
SBOX_LINK_IF = "eth1"


def setup_link(host: NsThread, sbox: NsThread, sbox_path: str, host_if: str) -> None:
    """veth host_if (node ns, HOST_LINK_IP) <-> eth1 (sbox, SBOX_LINK_IP), routes, forwarding."""

    def host_side(ipr: IPRoute) -> None:
        if not ipr.link_lookup(ifname=host_if):
            fd = os.open(sbox_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                wrap_netlink(f"veth {host_if}", lambda: ipr.link(
                    "add", ifname=host_if, kind="veth", peer={"ifname": SBOX_LINK_IF, "net_ns_fd": fd}))
            finally:
                os.close(fd)
        idx = ipr.link_lookup(ifname=host_if)[0]
        if not ipr.get_addr(index=idx, address=HOST_LINK_IP):
            wrap_netlink("link addr", lambda: ipr.addr(
                "add", index=idx, address=HOST_LINK_IP, prefixlen=LINK_CIDR.prefixlen))
        wrap_netlink(f"{host_if} up", lambda: ipr.link("set", index=idx, state="up"))
        write_sysctl("net.ipv4.ip_forward", "1")

    def sbox_side(ipr: IPRoute) -> None:
        configure_sandbox_if(ipr, SBOX_LINK_IF, f"{SBOX_LINK_IP}/{LINK_CIDR.prefixlen}", HOST_LINK_IP)
        write_sysctl("net.ipv4.ip_forward", "1")

    host.call(host_side)
    sbox.call(sbox_side)


def configure_ingress_if(sbox: NsThread, ingress_ip_cidr: str) -> None:
    sbox.call(lambda ipr: configure_sandbox_if(ipr, SBOX_INGRESS_IF, ingress_ip_cidr, None))


def apply_rules(host: NsThread, sbox: NsThread, host_table: str, sbox_table: str,
                entries: list[ServiceEntry], old: Sequence[ServiceEntry] = ()) -> None:
    """Sbox first (backends ready), then the node's DNAT into it; each one transaction.
    UDP flows to backends that left are forgotten (conntrack.py)."""
    live = [e for e in entries if not e.dnsrr]
    gone = removed_backends([e.backends for e in old], [e.backends for e in live])

    def in_sbox(_ipr: IPRoute) -> None:
        nft_apply(nft.render_ingress_sbox_table(sbox_table, SBOX_LINK_IF, SBOX_INGRESS_IF, live),
                  "in ingress sbox", sbox_table)
        flush_udp_to(gone)

    sbox.call(in_sbox)
    host.call(lambda _ipr: nft_apply(nft.render_ingress_host_table(host_table, SBOX_LINK_IP, live),
                                     "in node namespace", host_table))


def teardown_host(host: NsThread, host_table: str, host_if: str) -> None:
    host.call(lambda _ipr: nft_apply(nft.delete_table(host_table), "in node namespace"))
    host.call(lambda ipr: delete_link(ipr, host_if))


def teardown(host: NsThread, sbox: NsThread | None, net: NsThread | None, host_table: str,
             host_if: str, sbox_ns: str, sbox_veth: str) -> None:
    """Everything set_ingress made: node table + link, the sbox's veth on the ingress net, the sbox."""
    teardown_host(host, host_table, host_if)
    if sbox is not None:
        sbox.close()
    if net is not None:
        net.call(lambda ipr: delete_link(ipr, sbox_veth))
    delete_netns(sbox_ns)


def check_ip(cfg: NetworkConfig, ingress_ip_cidr: str) -> None:
    iface = parse_ip_cidr(ingress_ip_cidr)
    if iface.network != ipaddress.IPv4Network(cfg.subnet):
        raise InvalidNetworkConfigError(f"ingress IP {ingress_ip_cidr} not in {cfg.subnet}")
