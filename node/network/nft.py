"""nftables rulesets, rendered as text (pure) and applied a whole table at a time.

There is no IPVS on the target kernels (docker-swarm lab §3), so load balancing is nftables
NAT: ``dnat to numgen inc mod N map { 0 : a, 1 : b, ... }``. NAT rules see only the first
packet of a connection (conntrack does the rest), so ``inc`` gives per-connection round
robin like IPVS ``rr``; existing connections keep their backend across rule changes.

Atomic replacement: every apply is one ``nft -f`` transaction of
``table ip T`` (create if missing) + ``delete table ip T`` + ``table ip T { ... }`` - a packet
sees the old table or the new one, never a half-built one.

Three tables:

* **vip** (in each container sandbox): ``output`` nat chain, VIP -> backend for every TCP and
  UDP port (Docker marks all traffic to the VIP too). Replies are un-NATed by conntrack in the
  same sandbox, so backends see the real client IP. A VIP with no backend gets a reject
  (immediate refusal instead of an ARP timeout for an address nobody owns).
* **ingress host** (in the node's own namespace): published ports on any local address
  (``fib daddr type local``), in prerouting and output, DNAT to the ingress sandbox's link IP.
  127.0.0.0/8 is excluded (it would need route_localnet).
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


def _replace(table: str, body: Iterable[str]) -> str:
    lines = [f"table ip {table}", f"delete table ip {table}", f"table ip {table} {{"]
    lines += [f"  {b}" for b in body]
    lines.append("}")
    return "\n".join(lines) + "\n"


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
    body = ["chain output {", f"  {NAT_OUT}", *[f"  {r}" for r in dnat], "}"]
    if dead:
        vips = ", ".join(sorted(dead, key=_ip_key))
        body += ["chain filter_output {", f"  {FILTER_OUT}",
                 f"  ip daddr {{ {vips} }} meta l4proto tcp reject with tcp reset",
                 f"  ip daddr {{ {vips} }} reject", "}"]
    return _replace(table, body)


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
    body = ["chain prerouting {", f"  {NAT_PRE}", *[f"  {r}" for r in pre], "}",
            "chain output {", f"  {NAT_OUT}", *[f"  {r}" for r in out], "}"]
    return _replace(table, body)


def render_ingress_sbox_table(table: str, link_if: str, ingress_if: str,
                              entries: Iterable[ServiceEntry]) -> str:
    """Ingress sandbox: published port -> backends' target port, SNAT on the way out."""
    rules: list[str] = []
    for (proto, published), (target, backends) in sorted(published_ports(entries).items()):
        if backends:
            rules.append(f'iifname "{link_if}" {proto} dport {published} '
                         f"dnat to {_dnat_target(backends, target)}")
    body = ["chain prerouting {", f"  {NAT_PRE}", *[f"  {r}" for r in rules], "}",
            "chain postrouting {", f"  {NAT_POST}",
            f'  oifname "{ingress_if}" ct status dnat masquerade', "}"]
    return _replace(table, body)




def render_egress_table(table: str, subnet: str, bridge: str,
                        host_ports: Iterable[tuple[str, int, str, int]] = ()) -> str:
    """Node namespace: masquerade container traffic leaving through the node's uplinks, and
    host-mode published ports: (proto, published, container egress IP, target) DNAT.

    A container reaching another one's host port through the node is masqueraded too: the
    egress bridge ports are isolated, so the reply must come back through the bridge.
    """
    dnat = [f"fib daddr type local {proto} dport {pub} dnat to {ip}:{target}"
            for proto, pub, ip, target in sorted(host_ports)]
    body = ["chain prerouting {", f"  {NAT_PRE}", *[f"  {r}" for r in dnat], "}",
            "chain output {", f"  {NAT_OUT}", *[f"  ip daddr != 127.0.0.0/8 {r}" for r in dnat], "}",
            "chain postrouting {", f"  {NAT_POST}",
            f'  ip saddr {subnet} oifname != "{bridge}" masquerade',
            f'  ip saddr {subnet} oifname "{bridge}" ct status dnat masquerade', "}"]
    return _replace(table, body)
