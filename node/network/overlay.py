"""Per-network namespace plumbing: bridge + VXLAN, FDB/neighbour programming, endpoints.

Layout of one overlay on one node (Docker's, swarm-behavior §8.5)::

    node netns                     network netns <stem>n-<hash>          sandbox netns
    UDP :4789 socket  <-----+      br0  (gateway IP, MAC from IP)
                            +----  vxlan0 (VNI, learning off, proxy)
                                   ve<hash> ------------------------ veth ---> ethN

Why a namespace per network rather than bridges in the node namespace: overlay subnets
never enter the node's routing table (no clash with the host's LAN, no host reachability
of tasks, overlapping subnets between networks possible), and removing a network is
deleting one namespace.

The VXLAN device is created by the node namespace's netlink socket with ``net_ns_fd`` set
to the network namespace: the device lives in the network namespace, but its UDP socket is
opened in the node namespace (the kernel keeps the creating namespace as the link-net) -
so it talks on the node's underlay address without any device of ours in the node namespace.

``proxy`` (ARP suppression) makes vxlan0 answer ARP from the neighbour entries we program
and never flood ARP: remote task IPs get a permanent neighbour entry + a static FDB entry
(MAC -> node address); BUM traffic (broadcast, unknown unicast) goes to all-zero FDB entries,
one per peer. The gateway IP lives on br0 of every node; proxy keeps the nodes' gateways
from answering each other's ARP.

All functions take the ``IPRoute`` of the namespace they act in (run via ``NsThread``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError as PyNetlinkError

from node.network import nft
from node.network.errors import NetlinkError
from node.network.model import NetworkConfig, mac_from_ip, parse_ip_cidr, parse_subnet
from node.network.netns import NsThread, nft_apply, wrap_netlink

log = logging.getLogger(__name__)
BRIDGE = "br0"
VXLAN = "vxlan0"
ZERO_MAC = "00:00:00:00:00:00"
NUD_PERMANENT = 0x80
EEXIST = 17
ENOENT = 2
ESRCH = 3
ENODEV = 19


def _idx(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def vxlan_matches(ipr: IPRoute, cfg: NetworkConfig, local: str, port: int) -> bool:
    """True if vxlan0 exists in this namespace with the wanted VNI/port/local address."""
    idx = _idx(ipr, VXLAN)
    if idx is None:
        return False
    info = ipr.get_links(idx)[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
    if info is None:
        return False
    return (info.get_attr("IFLA_VXLAN_ID") == cfg.vni and info.get_attr("IFLA_VXLAN_PORT") == port
            and info.get_attr("IFLA_VXLAN_LOCAL") == local)


def delete_link(ipr: IPRoute, name: str) -> None:
    idx = _idx(ipr, name)
    if idx is not None:
        wrap_netlink(f"delete {name}", lambda: ipr.link("del", index=idx))


def create_vxlan_into(host_ipr: IPRoute, cfg: NetworkConfig, local: str, port: int, ns_fd: int) -> None:
    """Run in the NODE namespace: vxlan0 appears in the namespace behind ns_fd."""
    wrap_netlink(f"create vxlan VNI {cfg.vni}", lambda: host_ipr.link(
        "add", ifname=VXLAN, kind="vxlan", vxlan_id=cfg.vni, vxlan_port=port, vxlan_learning=0,
        vxlan_proxy=1, vxlan_local=local, mtu=cfg.mtu, net_ns_fd=ns_fd))


def ensure_vxlan(host: NsThread, net: NsThread, path: str, cfg: NetworkConfig, local: str,
                 port: int) -> None:
    """vxlan0 with the wanted parameters in the network namespace (recreated if it differs)."""
    if net.call(lambda ipr: vxlan_matches(ipr, cfg, local, port)):
        return
    net.call(lambda ipr: delete_link(ipr, VXLAN))
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        host.call(lambda ipr: create_vxlan_into(ipr, cfg, local, port, fd))
    finally:
        os.close(fd)


def set_notrack(host: NsThread, table: str, local: str | None, port: int) -> None:
    """Node namespace: VXLAN packets of this node skip conntrack (None removes the table)."""
    script = nft.delete_table(table) if local is None else nft.render_notrack_table(table, local, port)
    host.call(lambda _ipr: nft_apply(script, "in node namespace", table if local else None))


def setup_bridge(ipr: IPRoute, cfg: NetworkConfig) -> None:
    """Run in the network namespace (vxlan0 already there): br0 + gateway, vxlan0 enslaved."""
    net = parse_subnet(cfg.subnet)
    lo = _idx(ipr, "lo")
    wrap_netlink("lo up", lambda: ipr.link("set", index=lo, state="up"))
    br = _idx(ipr, BRIDGE)
    if br is None:
        wrap_netlink("create br0", lambda: ipr.link("add", ifname=BRIDGE, kind="bridge", mtu=cfg.mtu))
        br = _idx(ipr, BRIDGE)
    assert br is not None
    wrap_netlink("br0 mac", lambda: ipr.link("set", index=br, address=mac_from_ip(cfg.gateway)))
    try:
        ipr.addr("add", index=br, address=cfg.gateway, prefixlen=net.prefixlen)
    except PyNetlinkError as e:  # EEXIST means adopted
        if e.code != EEXIST:
            raise NetlinkError(f"br0 address {cfg.gateway}: {e}", e.code) from e
    wrap_netlink("br0 up", lambda: ipr.link("set", index=br, state="up"))
    vx = _idx(ipr, VXLAN)
    assert vx is not None
    wrap_netlink("vxlan0 enslave", lambda: ipr.link("set", index=vx, master=br, state="up"))


def program_peers(ipr: IPRoute, peers: Iterable[str], endpoints: Iterable[tuple[str, str]]) -> None:
    """Make vxlan0's flood list and remote endpoints exactly ``peers`` / ``endpoints``.

    Diffs against the kernel (so it also adopts whatever a previous daemon left).
    """
    vx = _idx(ipr, VXLAN)
    if vx is None:
        raise NetlinkError("vxlan0 missing in network namespace", ENODEV)
    want_flood = set(peers)
    want_ep = {mac_from_ip(ip): (ip, node) for ip, node in endpoints}
    have_flood: set[str] = set()
    have_fdb: dict[str, str] = {}
    for m in ipr.fdb("dump", ifindex=vx):
        mac, dst = _text(m.get_attr("NDA_LLADDR")), _text(m.get_attr("NDA_DST"))
        if dst is None:
            continue
        if mac == ZERO_MAC:
            have_flood.add(dst)
        else:
            have_fdb[mac] = dst
    have_neigh = {_text(m.get_attr("NDA_DST")): _text(m.get_attr("NDA_LLADDR"))
                  for m in ipr.neigh("dump", ifindex=vx) if m["state"] & NUD_PERMANENT}

    for dst in have_flood - want_flood:
        _quiet(ipr.fdb, "del", ifindex=vx, lladdr=ZERO_MAC, dst=dst)
    for dst in want_flood - have_flood:
        wrap_netlink(f"flood entry {dst}", ipr.fdb, "append", ifindex=vx, lladdr=ZERO_MAC, dst=dst)
    for mac, dst in have_fdb.items():
        if want_ep.get(mac, (None, None))[1] != dst:
            _quiet(ipr.fdb, "del", ifindex=vx, lladdr=mac, dst=dst)
    for ip, lladdr in have_neigh.items():
        if mac_from_ip(ip) != lladdr or lladdr not in want_ep:
            _quiet(ipr.neigh, "del", dst=ip, ifindex=vx)
    for mac, (ip, node) in want_ep.items():
        if have_fdb.get(mac) != node:
            wrap_netlink(f"fdb {mac} -> {node}", ipr.fdb, "add", ifindex=vx, lladdr=mac, dst=node,
                         state=NUD_PERMANENT)
        if have_neigh.get(ip) != mac:
            wrap_netlink(f"neigh {ip}", ipr.neigh, "replace", dst=ip, lladdr=mac, ifindex=vx,
                         state="permanent")


def current_peers(ipr: IPRoute) -> set[str]:
    """Run in the network namespace: node addresses vxlan0 sends to (flood list and remote
    endpoints), i.e. what the last program_peers left; empty without vxlan0."""
    vx = _idx(ipr, VXLAN)
    if vx is None:
        return set()
    return {dst for m in ipr.fdb("dump", ifindex=vx) if (dst := _text(m.get_attr("NDA_DST")))}


def _text(v: Any) -> Any:
    """pyroute2 hands some dumped addresses back as raw bytes (bridge-family fdb entries):
    normalise them to the text form the rest of this module and pyroute2's encoder use."""
    if isinstance(v, str) and v and any(ord(c) < 32 for c in v):
        v = v.encode("latin-1")   # raw address bytes decoded as text by pyroute2
    if isinstance(v, bytes) and len(v) in (8, 20) and int.from_bytes(v[:2], "little") == len(v):
        v = v[4:]                 # a whole attribute (4-byte header + address) seen on fdb dumps
    if isinstance(v, bytes):
        import socket

        if len(v) == 4:
            return socket.inet_ntop(socket.AF_INET, v)
        if len(v) == 16:
            return socket.inet_ntop(socket.AF_INET6, v)
        if len(v) == 6:
            return ":".join(f"{b:02x}" for b in v)
        return v.decode(errors="replace")
    return v


def _quiet(fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """Deletion where 'already gone' is fine."""
    try:
        fn(*args, **kwargs)
    except ValueError as e:   # an entry the dump returned in a form pyroute2 cannot encode back
        import logging

        logging.getLogger(__name__).warning("skipping delete of an unencodable entry %r: %s", kwargs, e)
    except PyNetlinkError as e:
        if e.code not in (ENOENT, ESRCH, ENODEV):
            raise NetlinkError(f"delete: {e}", e.code) from e


def add_endpoint(ipr: IPRoute, veth: str, peer_name: str, mtu: int, sandbox_fd: int) -> None:
    """Run in the network namespace: veth into the sandbox (named peer_name), enslaved to br0."""
    if _idx(ipr, veth) is None:
        wrap_netlink(f"veth {veth}", lambda: ipr.link(
            "add", ifname=veth, kind="veth", mtu=mtu,
            peer={"ifname": peer_name, "net_ns_fd": sandbox_fd, "mtu": mtu}))
    idx = _idx(ipr, veth)
    br = _idx(ipr, BRIDGE)
    wrap_netlink(f"enslave {veth}", lambda: ipr.link("set", index=idx, master=br, state="up"))


def configure_sandbox_if(ipr: IPRoute, ifname: str, ip_cidr: str, gateway: str | None) -> None:
    """Run in the sandbox: MAC from IP, address, up; default route if gateway given."""
    iface = parse_ip_cidr(ip_cidr)
    lo = _idx(ipr, "lo")
    wrap_netlink("lo up", lambda: ipr.link("set", index=lo, state="up"))
    idx = _idx(ipr, ifname)
    if idx is None:
        raise NetlinkError(f"{ifname} missing in sandbox", ENODEV)
    mac = mac_from_ip(str(iface.ip))
    wrap_netlink(f"{ifname} mac", lambda: ipr.link("set", index=idx, address=mac))
    try:
        ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    except PyNetlinkError as e:  # EEXIST = already configured
        if e.code != EEXIST:
            raise NetlinkError(f"{ifname} address {ip_cidr}: {e}", e.code) from e
    wrap_netlink(f"{ifname} up", lambda: ipr.link("set", index=idx, state="up"))
    if gateway is not None:
        wrap_netlink("default route", lambda: ipr.route("replace", dst="0.0.0.0/0", gateway=gateway))


def next_ifname(ipr: IPRoute) -> str:
    """First free ethN in the sandbox."""
    names = {m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
    n = 0
    while f"eth{n}" in names:
        n += 1
    return f"eth{n}"
