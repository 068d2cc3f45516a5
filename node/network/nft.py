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

Tables:

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
* **vxgate** (node namespace): UDP to the VXLAN port accepted only from a named set of the
  current peers' data-path addresses (every overlay network's peers, ingress included), dropped
  otherwise; the set is replaced in the same transaction that flushes it (``render_gate_table``).
* **raftgate** (node namespace, managers): the same for the Raft TCP port and the managers'
  addresses, plus loopback (``node.network.gates.set_raft_allow``).
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


GATE_SET = "allowed"
FILTER_IN = "type filter hook input priority 0; policy accept;"


def render_gate_table(table: str, proto: str, port: int, allowed: Iterable[str],
                      accept_loopback: bool = False) -> str:
    """Node namespace: ``<proto> dport <port>`` accepted only from ``ip saddr`` in the named set
    ``allowed``, dropped otherwise (other traffic untouched; an accept here loosens nothing
    another table drops).

    One transaction: declare table, set and chain (no-ops when they exist), flush the chain's
    rules and the set's elements, refill both. Packets see the old set or the new one, never an
    empty one in between, and the input hook is registered only once (see the module docstring).
    ``accept_loopback``: connections from this namespace itself (``iif lo``) pass too.
    """
    if proto not in ("tcp", "udp"):
        raise ValueError(f"gate protocol must be tcp or udp, got {proto!r}")
    addrs = sorted(set(allowed), key=_ip_key)
    rules = ([f'iif "lo" {proto} dport {port} accept'] if accept_loopback else []) + [
        f"{proto} dport {port} ip saddr @{GATE_SET} accept",
        f"{proto} dport {port} drop"]
    lines = [f"table ip {table} {{",
             f"  set {GATE_SET} {{ type ipv4_addr; }}",
             f"  chain input {{ {FILTER_IN} }}",
             "}",
             f"flush chain ip {table} input",
             f"flush set ip {table} {GATE_SET}",
             f"table ip {table} {{",
             "  chain input {",
             f"    {FILTER_IN}",
             *[f"    {r}" for r in rules],
             "  }",
             "}"]
    if addrs:
        lines.append(f"add element ip {table} {GATE_SET} {{ {', '.join(addrs)} }}")
    return "\n".join(lines) + "\n"


def render_vxlan_gate_table(table: str, port: int, peers: Iterable[str]) -> str:
    """Node namespace: VXLAN (UDP ``port``) only from the current peers' data-path addresses."""
    return render_gate_table(table, "udp", port, peers)


def render_raft_gate_table(table: str, port: int, managers: Iterable[str]) -> str:
    """Node namespace: the Raft port (TCP) only from the managers' addresses and from this
    node itself (loopback)."""
    return render_gate_table(table, "tcp", port, managers, accept_loopback=True)
