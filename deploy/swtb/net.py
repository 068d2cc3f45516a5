"""Underlay bridge, per-host netns + veth, and the root-namespace safety routes.

Safety rule (architecture.md, "Testbed safety"): every subnet the testbed uses (underlay and
overlay pools) gets an `unreachable` route in the ROOT namespace for the testbed's lifetime, so
a request sent there by mistake fails at once instead of leaving the machine. Our routes carry
`proto 231` and a metric derived from the prefix, which identifies them without a state file
and lets several testbeds (different prefixes) hold routes for the same subnet at once.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from swtb.config import RT_PROTO, Paths
from swtb.errors import TestbedError
from swtb.sh import ip, ip_json, link_names, netns_list


def _no_ipv6(ifname: str) -> None:
    """Keep root-namespace links address-free: no IPv6 link-local address either."""
    p = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
    if p.exists():
        p.write_text("1\n")


def mac_for(address: str) -> str:
    """02:42:<ip bytes>, as Docker does: a reused address never meets a stale neighbour entry."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)


def create_bridge(paths: Paths) -> None:
    if paths.bridge in link_names():
        raise TestbedError(f"link {paths.bridge} already exists: run `deploy/testbed down` first")
    ip("link", "add", paths.bridge, "type", "bridge")
    _no_ipv6(paths.bridge)
    ip("link", "set", paths.bridge, "up")


def add_node(paths: Paths, name: str, address: str, prefixlen: int) -> None:
    """netns P-name with eth0 (address/prefixlen, MAC from the address) on the bridge; lo up."""
    ns, veth = paths.netns(name), paths.veth(name)
    ip("netns", "add", ns)
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", mac_for(address),
       "netns", ns)
    _no_ipv6(veth)
    ip("link", "set", veth, "master", paths.bridge, "up")
    ip("-n", ns, "addr", "add", f"{address}/{prefixlen}", "dev", "eth0")
    ip("-n", ns, "link", "set", "eth0", "up")
    ip("-n", ns, "link", "set", "lo", "up")


# ---- safety routes -------------------------------------------------------------------------

def _ours(route: dict[str, object], metric: int | None = None) -> bool:
    if route.get("type") not in ("unreachable", "blackhole", "prohibit"):
        return False
    if str(route.get("protocol")) != str(RT_PROTO):
        return False
    return metric is None or route.get("metric") == metric


def check_no_overlap(subnets: list[str]) -> None:
    """Refuse subnets that overlap anything the machine itself uses (addresses, routes)."""
    ours = [ipaddress.ip_network(s) for s in subnets]
    used: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
    for link in ip_json("-4", "addr", "show"):
        for a in link.get("addr_info", []):
            net = ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
            used.append((net, f"address {a['local']}/{a['prefixlen']} on {link['ifname']}"))
    for r in ip_json("-4", "route", "show", "table", "all"):
        dst = r.get("dst", "default")
        # safety routes (ours or other tests') send nothing anywhere: they never conflict
        if dst == "default" or r.get("type") in ("unreachable", "blackhole", "prohibit"):
            continue
        net = ipaddress.ip_network(dst, strict=False)
        if net.prefixlen == 0:
            continue
        used.append((net, f"route {dst} dev {r.get('dev', '?')} ({r.get('type', 'unicast')})"))
    for mine in ours:
        for net, what in used:
            if net.version == 4 and mine.overlaps(net):
                raise TestbedError(
                    f"testbed subnet {mine} overlaps the machine's {what}; "
                    "pick others with --subnet / --overlay-pool")


def add_routes(routes: list[str], metric: int) -> None:
    added: list[str] = []
    try:
        for dst in routes:
            ip("route", "add", "unreachable", dst, "proto", str(RT_PROTO), "metric", str(metric))
            added.append(dst)
        check_connectivity()
    except TestbedError:
        delete_routes(added, metric)
        raise


def check_connectivity() -> None:
    """After adding our routes the machine must still reach its gateways and own networks."""
    targets = [r["gateway"] for r in ip_json("-4", "route", "show", "default") if "gateway" in r]
    for link in ip_json("-4", "addr", "show"):
        targets += [a["local"] for a in link.get("addr_info", [])]
    for t in targets:
        cp = ip("route", "get", t, check=False)
        if cp.returncode != 0 or cp.stdout.startswith(("unreachable", "blackhole", "prohibit")):
            raise TestbedError(f"safety routes would cut the machine off from {t}; not adding them")


def our_routes(metric: int) -> list[str]:
    return [r["dst"] for r in ip_json("-4", "route", "show", "table", "main") if _ours(r, metric)]


def delete_routes(routes: list[str], metric: int) -> list[str]:
    deleted = []
    for dst in routes:
        cp = ip("route", "del", "unreachable", dst, "proto", str(RT_PROTO), "metric", str(metric),
                check=False)
        if cp.returncode == 0:
            deleted.append(dst)
    return deleted


# ---- finding and removing what is ours ------------------------------------------------------

def our_netns(paths: Paths) -> list[str]:
    return [n for n in netns_list() if n.startswith(paths.name_stem)]


def our_links(paths: Paths) -> list[str]:
    return [n for n in link_names() if n.startswith(paths.name_stem) or n == paths.bridge]


def netns_inode(name: str) -> str | None:
    """The netns identity as /proc/PID/ns/net shows it ("net:[INODE]")."""
    try:
        return f"net:[{Path('/run/netns', name).stat().st_ino}]"
    except OSError:
        return None


def delete_netns(name: str) -> None:
    ip("netns", "del", name, check=False)


def delete_link(name: str) -> None:
    ip("link", "del", name, check=False)
