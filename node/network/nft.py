"""nftables rulesets, rendered as text (pure) and applied a whole table at a time.

There is no IPVS on the target kernels (docker-swarm lab §3), so load balancing is nftables
NAT: ``dnat to numgen inc mod N map { 0 : a, 1 : b, ... }``. NAT rules see only the first
packet of a connection (conntrack does the rest), so ``inc`` gives per-connection round
robin like IPVS ``rr``; existing connections keep their backend across rule changes.

Atomic replacement: every apply is one ``nft -f`` transaction - declare the table and its
base chains (a no-op when they exist), ``flush table`` (rules only), then the new rules - so
a packet sees the old rules or the new ones, never a half-built set. The chains themselves
are never deleted on an update: registering a base chain's hook costs ~13 ms (an RCU grace
period) against ~3 ms for the whole nft run otherwise. If a chain's definition changed (a
newer version of this code adopting an old table), ``apply`` falls back to delete + create.

Three tables:

* **vip** (in each container sandbox): ``output`` nat chain, VIP -> backend for every TCP and
  UDP port (Docker marks all traffic to the VIP too). Replies are un-NATed by conntrack in the
  same sandbox, so backends see the real client IP. A VIP with no backend gets a reject
  (immediate refusal instead of an ARP timeout for an address nobody owns).
* **ingress host** (in the node's own namespace): published ports on any local address
  (``fib daddr type local``), in prerouting and output, DNAT to the ingress sandbox's link IP.
  127.0.0.0/8 is excluded (it would need route_localnet).
* **vxlan** (node namespace): ``notrack`` for this node's VXLAN packets (UDP to/from the
  data path address on the VXLAN port). Once the ingress table exists the node namespace
  tracks every packet; tracking the encapsulated overlay traffic there buys nothing (it is
  stateless, and the inner flows are tracked where NAT happens) and costs a lookup + an
  entry per flow. A host firewall must then accept the VXLAN port statelessly (it must
  anyway: every peer sends "new" packets).
* **ingress sbox** (in the ingress sandbox): published port -> numgen map of backend
  ``ip . target_port`` on the ingress network, then masquerade out of eth0 so replies come
  back to this node's ingress IP (the container does not see the client IP, as in Docker).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from node.network.model import ServiceEntry

NAT_PRE = "type nat hook prerouting priority -100; policy accept;"
NAT_OUT = "type nat hook output priority -100; policy accept;"
NAT_POST = "type nat hook postrouting priority 100; policy accept;"
FILTER_OUT = "type filter hook output priority 0; policy accept;"
FILTER_FWD = "type filter hook forward priority 0; policy accept;"
RAW_PRE = "type filter hook prerouting priority -300; policy accept;"
RAW_OUT = "type filter hook output priority -300; policy accept;"


def _dnat_target(backends: Sequence[str], port: int | None = None) -> str:
    """``dnat to`` argument spreading over backends (sorted, so renders are stable)."""
    bs = sorted(set(backends), key=_ip_key)
    if len(bs) == 1:
        return bs[0] if port is None else f"{bs[0]}:{port}"
    if port is None:
        items = ", ".join(f"{i} : {b}" for i, b in enumerate(bs))
    else:
        items = ", ".join(f"{i} : {b} . {port}" for i, b in enumerate(bs))
    return f"numgen inc mod {len(bs)} map {{ {items} }}"


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(x) for x in ip.split("."))


Chains = Sequence[tuple[str, str, Sequence[str]]]   # (name, "type ... policy ...;", rules)


def _replace(table: str, chains: Chains) -> str:
    """Flush-and-refill script for a table made of base chains (see the module docstring)."""
    lines = [f"table ip {table} {{"]
    lines += [f"  chain {name} {{ {spec} }}" for name, spec, _ in chains]
    lines += ["}", f"flush table ip {table}", f"table ip {table} {{"]
    for name, spec, rules in chains:
        lines += [f"  chain {name} {{", f"    {spec}", *[f"    {r}" for r in rules], "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def recreate(table: str, script: str) -> str:
    """The slow, always-valid variant of a rendered script: drop the table first."""
    return delete_table(table) + script


def delete_table(table: str) -> str:
    """Script removing a table whether or not it exists."""
    return f"table ip {table}\ndelete table ip {table}\n"


def render_vip_table(table: str, services: Iterable[ServiceEntry]) -> str:
    """Sandbox table: each VIP load balanced over its backends (all TCP/UDP ports)."""
    dnat: list[str] = []
    dead: list[str] = []
    seen: set[str] = set()
    for svc in sorted(services, key=lambda s: (s.vip or "", s.service_id)):
        if svc.vip is None or svc.dnsrr or svc.vip in seen:
            continue
        seen.add(svc.vip)
        if svc.backends:
            dnat.append(f"ip daddr {svc.vip} meta l4proto {{ tcp, udp }} "
                        f"dnat to {_dnat_target(svc.backends)}")
        else:
            dead.append(svc.vip)
    reject: list[str] = []
    if dead:
        vips = ", ".join(sorted(dead, key=_ip_key))
        reject = [f"ip daddr {{ {vips} }} meta l4proto tcp reject with tcp reset",
                  f"ip daddr {{ {vips} }} reject"]
    return _replace(table, [("output", NAT_OUT, dnat), ("filter_output", FILTER_OUT, reject)])


def published_ports(entries: Iterable[ServiceEntry]) -> dict[tuple[str, int], tuple[int, tuple[str, ...]]]:
    """(proto, published) -> (target port, backends); the first entry wins on a clash."""
    out: dict[tuple[str, int], tuple[int, tuple[str, ...]]] = {}
    for svc in sorted(entries, key=lambda s: s.service_id):
        for p in svc.ports:
            out.setdefault((p.protocol, p.published_port), (p.target_port, svc.backends))
    return out


def _port_set(ports: Iterable[int]) -> str:
    return "{ " + ", ".join(str(p) for p in sorted(set(ports))) + " }"


def render_ingress_host_table(table: str, sbox_link_ip: str, entries: Iterable[ServiceEntry]) -> str:
    """Node namespace: published ports on every local address -> the ingress sandbox."""
    ports = published_ports(entries)
    pre: list[str] = []
    out: list[str] = []
    for proto in ("tcp", "udp"):
        ps = [p for (pr, p) in ports if pr == proto]
        if not ps:
            continue
        match = f"fib daddr type local {proto} dport {_port_set(ps)} dnat to {sbox_link_ip}"
        pre.append(match)
        out.append(f"ip daddr != 127.0.0.0/8 {match}")
    return _replace(table, [("prerouting", NAT_PRE, pre), ("output", NAT_OUT, out)])


def render_ingress_sbox_table(table: str, link_if: str, ingress_if: str,
                              entries: Iterable[ServiceEntry]) -> str:
    """Ingress sandbox: published port -> backends' target port, SNAT on the way out.

    The sbox forwards nothing but mesh connections (ct status dnat, both directions): a task
    on the ingress network must not use the sbox as a router into the node namespace."""
    rules: list[str] = []
    for (proto, published), (target, backends) in sorted(published_ports(entries).items()):
        if backends:
            rules.append(f'iifname "{link_if}" {proto} dport {published} '
                         f"dnat to {_dnat_target(backends, target)}")
    return _replace(table, [("prerouting", NAT_PRE, rules),
                            ("postrouting", NAT_POST, [f'oifname "{ingress_if}" ct status dnat masquerade']),
                            ("forward", FILTER_FWD, ["ct status dnat accept", "drop"])])


def render_egress_table(table: str, subnet: str, bridge: str,
                        host_ports: Iterable[tuple[str, int, str, int]] = ()) -> str:
    """Node namespace: masquerade container traffic leaving through the node's uplinks, and
    host-mode published ports: (proto, published, container egress IP, target) DNAT.

    A container reaching another one's host port through the node is masqueraded too: the
    egress bridge ports are isolated, so the reply must come back through the bridge.
    """
    dnat = [f"fib daddr type local {proto} dport {pub} dnat to {ip}:{target}"
            for proto, pub, ip, target in sorted(host_ports)]
    post = [f'ip saddr {subnet} oifname != "{bridge}" masquerade',
            f'ip saddr {subnet} oifname "{bridge}" ct status dnat masquerade']
    return _replace(table, [("prerouting", NAT_PRE, dnat),
                            ("output", NAT_OUT, [f"ip daddr != 127.0.0.0/8 {r}" for r in dnat]),
                            ("postrouting", NAT_POST, post)])


def render_notrack_table(table: str, local: str, port: int) -> str:
    return _replace(table, [("raw_prerouting", RAW_PRE, [f"ip daddr {local} udp dport {port} notrack"]),
                            ("raw_output", RAW_OUT, [f"ip saddr {local} udp dport {port} notrack"])])
