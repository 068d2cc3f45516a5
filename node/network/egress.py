"""Outbound access for containers: a per-node egress bridge with masquerade (docker_gwbridge).

::

    sandbox gw0 (172.18.0.N, MAC from IP, default route) --veth <stem>g<N hex>-->
      bridge <stem>gw (node namespace, 172.18.0.1) --routing + masquerade--> the node's uplink

Optional: only when NodeNetwork gets ``egress_subnet``. Without it, containers reach only
their overlays (their default route points at the first overlay's gateway, which leads
nowhere beyond the overlay). With it, the default route goes via the egress bridge, as in
Docker, and overlay traffic still uses the overlay interfaces (connected routes).

Like Docker's gwbridge (``enable_icc=false``), containers must not talk to each other across
this bridge: every container port is a bridge *isolated* port (isolated ports reach only
non-isolated ones, i.e. the bridge itself). Addresses are allocated here, per node, lowest
free first; the host-side veth is named after the address index so names never collide.

Host nft table ``<stem>_egress``: masquerade what leaves from the egress subnet through any
other interface, and host-mode published ports (``--publish mode=host``: only on nodes that
run the task, client IP kept) as DNAT from any local address to the container's egress IP.
``net.ipv4.ip_forward`` is set to 1 in the node namespace.

Limitation: a container reaching a host-mode port of ANOTHER container on the SAME node through
the node's address fails while br_netfilter is active (bridge-nf-call-iptables=1): the DNAT
happens at the bridge layer, the frame is then bridged between two isolated ports and dropped.
(Telling those frames apart at L2 needs conntrack in the bridge family, which this kernel lacks.)
Other nodes, the node itself and the ingress mesh are unaffected.
"""

from __future__ import annotations

import ipaddress
import logging
import os

from pyroute2 import IPRoute

from node.network import nft
from node.network.errors import InvalidNetworkConfigError
from node.network.model import IFNAMSIZ, PortMap, mac_from_ip, parse_subnet
from node.network.netns import NsThread, nft_apply, run_in_ns, wrap_netlink, write_sysctl
from node.network.overlay import configure_sandbox_if, delete_link

log = logging.getLogger(__name__)
SANDBOX_IF = "gw0"


class Egress:
    """The egress bridge of one node and its address book (container id -> IP)."""

    def __init__(self, host: NsThread, stem: str, subnet: str, ips: dict[str, str],
                 host_ports: dict[str, tuple[PortMap, ...]]) -> None:
        self.net = parse_subnet(subnet)
        if self.net.num_addresses < 8:
            raise InvalidNetworkConfigError(f"egress subnet {subnet} too small")
        self.host = host
        self.stem = stem
        self.bridge = f"{stem}gw"
        self.table = f"{stem}_egress"
        self.gateway = str(self.net[1])
        self.ips = ips                    # shared with the persisted state
        self.host_ports = host_ports      # container id -> host-mode published ports (ditto)
        if len(self._veth(self.net.num_addresses - 2)) > IFNAMSIZ:
            raise InvalidNetworkConfigError(f"egress subnet {subnet} too large for link names")

    def _veth(self, index: int) -> str:
        return f"{self.stem}g{index:x}"

    def setup(self) -> None:
        """Bridge + address + masquerade table; idempotent."""
        def host_side(ipr: IPRoute) -> None:
            if not ipr.link_lookup(ifname=self.bridge):
                wrap_netlink("egress bridge", lambda: ipr.link("add", ifname=self.bridge, kind="bridge"))
            idx = ipr.link_lookup(ifname=self.bridge)[0]
            wrap_netlink("egress mac", lambda: ipr.link("set", index=idx, address=mac_from_ip(self.gateway)))
            if not ipr.get_addr(index=idx, address=self.gateway):
                wrap_netlink("egress addr", lambda: ipr.addr(
                    "add", index=idx, address=self.gateway, prefixlen=self.net.prefixlen))
            wrap_netlink("egress up", lambda: ipr.link("set", index=idx, state="up"))
            write_sysctl("net.ipv4.ip_forward", "1")

        self.host.call(host_side)
        self.apply_rules()

    def apply_rules(self) -> None:
        ports = [(p.protocol, p.published_port, self.ips[cid], p.target_port)
                 for cid, ps in self.host_ports.items() if cid in self.ips for p in ps]
        script = nft.render_egress_table(self.table, str(self.net), self.bridge, ports)
        self.host.call(lambda _ipr: nft_apply(script, "egress", self.table))

    def set_host_ports(self, container_id: str, ports: tuple[PortMap, ...]) -> None:
        """Host-mode publishing: node address:published -> this container's egress IP:target."""
        if container_id not in self.ips:
            raise InvalidNetworkConfigError(f"container {container_id} has no egress interface")
        mine = {(p.protocol, p.published_port) for p in ports}
        for cid, ps in self.host_ports.items():
            clash = mine & {(p.protocol, p.published_port) for p in ps}
            if cid != container_id and clash:
                raise InvalidNetworkConfigError(f"host port {sorted(clash)} already used by {cid}")
        if ports:
            self.host_ports[container_id] = ports
        else:
            self.host_ports.pop(container_id, None)
        self.apply_rules()

    def add(self, container_id: str, sandbox_path: str) -> str:
        """Connect a sandbox (gw0 + default route); returns its egress IP."""
        ip = self.ips.get(container_id) or self._allocate(container_id)
        index = int(ipaddress.IPv4Address(ip)) - int(self.net.network_address)
        veth = self._veth(index)
        fd = os.open(sandbox_path, os.O_RDONLY | os.O_CLOEXEC)

        def host_side(ipr: IPRoute) -> None:
            if not ipr.link_lookup(ifname=veth):
                wrap_netlink(f"veth {veth}", lambda: ipr.link(
                    "add", ifname=veth, kind="veth", peer={"ifname": SANDBOX_IF, "net_ns_fd": fd}))
            idx = ipr.link_lookup(ifname=veth)[0]
            br = ipr.link_lookup(ifname=self.bridge)[0]
            wrap_netlink("enslave", lambda: ipr.link("set", index=idx, master=br, state="up"))
            wrap_netlink("isolate", lambda: ipr.brport("set", index=idx, isolated=1))

        try:
            self.host.call(host_side)
        finally:
            os.close(fd)
        run_in_ns(sandbox_path, lambda ipr: configure_sandbox_if(
            ipr, SANDBOX_IF, f"{ip}/{self.net.prefixlen}", self.gateway))
        return ip

    def remove(self, container_id: str) -> None:
        if self.host_ports.pop(container_id, None):
            self.apply_rules()
        ip = self.ips.pop(container_id, None)
        if ip is None:
            return
        veth = self._veth(int(ipaddress.IPv4Address(ip)) - int(self.net.network_address))
        self.host.call(lambda ipr: delete_link(ipr, veth))

    def teardown(self) -> None:
        for cid in list(self.ips):
            self.remove(cid)
        teardown(self.host, self.stem)

    def _allocate(self, container_id: str) -> str:
        used = set(self.ips.values()) | {self.gateway}
        for host in self.net.hosts():
            if str(host) not in used:
                self.ips[container_id] = str(host)
                return str(host)
        raise InvalidNetworkConfigError(f"egress subnet {self.net} is full")


def teardown(host: NsThread, stem: str) -> None:
    """Remove the bridge and table whatever made them (also used for leftovers)."""
    host.call(lambda _ipr: nft_apply(nft.delete_table(f"{stem}_egress"), "egress"))
    host.call(lambda ipr: delete_link(ipr, f"{stem}gw"))
