"""The verdict: the history against what every manager shows after the faults are healed.

Each object is owned by one client, so its operations are sequential and a set of possible states
can be carried through them: an acknowledged operation replaces the set by its result, an unknown
one adds its result to the set (it may or may not have happened), a refused one changes nothing
(a "not found" / "already exists" refusal narrows the set to the states where that is true; if
none is left, an earlier acknowledged write was lost). What a manager shows must be in the set.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.history import History, Op

SERVICE_NAME = re.compile(r"^c\d+s\d+$")
NETWORK_NAME = re.compile(r"^c\d+n\d+$")
BUILTIN_NETWORKS = {"ingress", "chaos-net"}
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"

Svc = tuple[bool, int, int]          # exists, replicas, chaos.v label
ABSENT: Svc = (False, 0, 0)


@dataclass
class Verdict:
    violations: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def add(self, what: str, hist: History, op: Op | None = None, **detail: Any) -> None:
        v: dict[str, Any] = {"what": what, **detail}
        if op is not None:
            fault = hist.fault_around(op.start)
            v["op"] = {"index": op.index, "kind": op.kind, "key": op.key, "host": op.host,
                       "start": op.start, "end": op.end, "status": op.status, "answer": op.answer}
            v["fault_around"] = None if fault is None else {
                "kind": fault.kind, "target": fault.target, "start": fault.start, "healed": fault.healed}
        self.violations.append(v)

    @property
    def ok(self) -> bool:
        return not self.violations


def _narrow(states: set[Any], keep: Any) -> set[Any] | None:
    out = {s for s in states if keep(s)}
    return out or None


def service_model(ops: list[Op], hist: History, verdict: Verdict) -> set[Svc]:
    states: set[Svc] = {ABSENT}
    for op in ops:
        if op.kind == "service.create":
            new = {(True, int(op.args["replicas"]), 0)}
        elif op.kind == "service.rm":
            new = {ABSENT}
        elif op.kind == "service.update":
            new = {(True, s[1], int(op.args["version"])) for s in states if s[0]}
        elif op.kind == "service.scale":
            new = {(True, int(op.args["replicas"]), s[2]) for s in states if s[0]}
        else:
            continue
        if op.status == "ok":
            if not new:
                verdict.add("acknowledged update of a service that cannot exist", hist, op)
                continue
            states = new
        elif op.status == "unknown":
            states = states | new
        else:
            low = op.answer.lower()
            keep = None
            if "not found" in low or "no such" in low:
                keep = _narrow(states, lambda s: not s[0])
            elif "already exists" in low:
                keep = _narrow(states, lambda s: s[0])
            else:
                continue
            if keep is None:
                verdict.add("refused with an answer that contradicts acknowledged writes (lost write?)",
                            hist, op)
            else:
                states = keep
    return states


def simple_model(ops: list[Op], initial: Any, hist: History, verdict: Verdict) -> set[Any]:
    """Networks (value True/False) and node fields (value = the op's value)."""
    states: set[Any] = {initial}
    for op in ops:
        if op.kind == "network.create":
            value: Any = True
        elif op.kind == "network.rm":
            value = False
        else:
            value = op.args.get("value")
        if op.status == "ok":
            states = {value}
        elif op.status == "unknown":
            states = states | {value}
        elif op.kind.startswith("network."):
            low = op.answer.lower()
            keep = None
            if "not found" in low or "no such" in low:
                keep = _narrow(states, lambda s: s is False)
            elif "already exists" in low:
                keep = _narrow(states, lambda s: s is True)
            else:
                continue
            if keep is None:
                verdict.add("refused with an answer that contradicts acknowledged writes (lost write?)",
                            hist, op)
            else:
                states = keep
    return states


def last_acked(ops: list[Op]) -> Op | None:
    return next((o for o in reversed(ops) if o.status == "ok"), ops[-1] if ops else None)


def observe(bed: Any, host: str) -> dict[str, Any]:
    """What one manager shows (Engine API on its socket)."""
    return {"services": bed.api(host, "/services"), "networks": bed.api(host, "/networks"),
            "nodes": bed.api(host, "/nodes"), "tasks": bed.api(host, "/tasks")}


def check(hist: History, views: dict[str, dict[str, Any]], verdict: Verdict | None = None) -> Verdict:
    verdict = verdict or Verdict()
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in sorted(hist.ops, key=lambda o: o.start):
        if op.kind != "read":
            by_key[op.key].append(op)
    created_services = {o.key for o in hist.ops if o.kind == "service.create"}
    created_networks = {o.key for o in hist.ops if o.kind == "network.create"}

    services = {k: service_model(v, hist, verdict) for k, v in by_key.items() if SERVICE_NAME.match(k)}
    networks = {k: simple_model(v, False, hist, verdict) for k, v in by_key.items() if NETWORK_NAME.match(k)}
    node_fields = {k: simple_model(v, "active" if k.endswith(":availability") else None, hist, verdict)
                   for k, v in by_key.items() if ":" in k}

    for host, view in views.items():
        seen: dict[str, Svc] = {}
        for s in view["services"]:
            name = s["Spec"]["Name"]
            if not SERVICE_NAME.match(name) or name not in created_services:
                verdict.add("a service exists that no client made", hist, host=host, service=name)
                continue
            reps = int(((s["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0))
            ver = int((s["Spec"].get("Labels") or {}).get("chaos.v", "-1"))
            seen[name] = (True, reps, ver)
        for name, possible in services.items():
            got = seen.get(name, ABSENT)
            if got not in possible:
                verdict.add("service state not allowed by the history", hist, last_acked(by_key[name]),
                            host=host, service=name, seen=got, allowed=sorted(possible))
        nets = {n["Name"] for n in view["networks"]}
        for n in nets - BUILTIN_NETWORKS:
            if not NETWORK_NAME.match(n) or n not in created_networks:
                verdict.add("a network exists that no client made", hist, host=host, network=n)
        for name, possible in networks.items():
            if (name in nets) not in possible:
                verdict.add("network state not allowed by the history", hist, last_acked(by_key[name]),
                            host=host, network=name, seen=name in nets, allowed=sorted(possible))
        nodes = {n["Description"]["Hostname"]: n for n in view["nodes"]}
        for key, possible in node_fields.items():
            node, fld = key.split(":", 1)
            spec = nodes[node]["Spec"] if node in nodes else {}
            value = spec.get("Availability") if fld == "availability" else (spec.get("Labels") or {}).get(fld)
            if value not in possible:
                verdict.add("node field not allowed by the history", hist, last_acked(by_key[key]),
                            host=host, node=node, field=fld, seen=value, allowed=sorted(map(str, possible)))
        check_allocations(view, host, hist, verdict)
    check_same_everywhere(views, hist, verdict)
    check_reads(hist, verdict)
    acked = [o for o in hist.ops if o.kind != "read" and o.status == "ok"]
    verdict.stats.update({
        "ops": len([o for o in hist.ops if o.kind != "read"]), "acknowledged": len(acked),
        "refused": len([o for o in hist.ops if o.kind != "read" and o.status == "refused"]),
        "unknown": len([o for o in hist.ops if o.kind != "read" and o.status == "unknown"]),
        "reads": len([o for o in hist.ops if o.kind == "read"]),
        "lost": len([v for v in verdict.violations if "allowed by the history" in v["what"]
                     or "lost write" in v["what"]]),
    })
    return verdict


def check_reads(hist: History, verdict: Verdict) -> None:
    """A client's read (``service ls``) must show its own services as its finished operations
    left them. Served by the manager that acknowledged the last of them, anything else is a stale
    read (a violation); served by another manager it is counted: every manager answers from its
    own replica, which may apply a commit a moment after the one that acknowledged it (README)."""
    other = 0
    ops = sorted((o for o in hist.ops if o.kind.startswith("service.")), key=lambda o: o.start)
    for r in hist.ops:
        if r.kind != "read" or r.status != "ok" or not isinstance(r.value, list):
            continue
        mine = [o for o in ops if o.client == r.client and o.end <= r.start]
        keys = {o.key for o in mine}
        for key in keys:
            done = [o for o in mine if o.key == key]
            if any(o.status == "unknown" for o in done):
                continue                           # may still be applied later: nothing to say
            possible = {s[0] for s in service_model(done, hist, Verdict())}
            if (key in r.value) in possible:
                continue
            acked = [o for o in done if o.status == "ok"]
            if acked and acked[-1].host == r.host:
                verdict.add("stale read: a manager did not show a write it had acknowledged", hist, r,
                            service=key, acknowledged=acked[-1].index)
            else:
                other += 1
    verdict.stats["stale_reads_other_manager"] = other


def check_allocations(view: dict[str, Any], host: str, hist: History, verdict: Verdict) -> None:
    """No subnet, VNI, VIP or task address given twice."""
    subnets: dict[str, str] = {}
    vnis: dict[str, str] = {}
    for n in view["networks"]:
        for c in (n.get("IPAM") or {}).get("Config") or []:
            sub = c.get("Subnet")
            if sub:
                for other, name in subnets.items():
                    if ipaddress.ip_network(other).overlaps(ipaddress.ip_network(sub)):
                        verdict.add("a subnet allocated twice", hist, host=host, networks=[name, n["Name"]],
                                    subnet=sub)
                subnets[sub] = n["Name"]
        vni = (n.get("Options") or {}).get(VNI_OPTION)
        if vni:
            if vni in vnis:
                verdict.add("a VNI allocated twice", hist, host=host, networks=[vnis[vni], n["Name"]],
                            vni=vni)
            vnis[vni] = n["Name"]
    addrs: dict[str, str] = {}

    def claim(addr: str, who: str) -> None:
        ip = addr.split("/")[0]
        if ip in addrs and addrs[ip] != who:
            verdict.add("an address allocated twice", hist, host=host, address=ip, holders=[addrs[ip], who])
        addrs[ip] = who

    for s in view["services"]:
        for vip in (s.get("Endpoint") or {}).get("VirtualIPs") or []:
            claim(vip.get("Addr", ""), f"vip:{s['Spec']['Name']}:{vip.get('NetworkID')}")
    for t in view["tasks"]:
        if (t.get("Status") or {}).get("State") not in ("running", "starting", "preparing", "assigned"):
            continue
        for att in t.get("NetworksAttachments") or []:
            for a in att.get("Addresses") or []:
                claim(a, f"task:{t['ID']}")


def check_same_everywhere(views: dict[str, dict[str, Any]], hist: History, verdict: Verdict) -> None:
    """Every manager shows the same services (ids and versions) and networks."""
    def digest(view: dict[str, Any]) -> tuple[Any, ...]:
        return (sorted((s["ID"], s["Version"]["Index"]) for s in view["services"]),
                sorted(n["Id"] if "Id" in n else n.get("ID", n["Name"]) for n in view["networks"]))
    ds = {h: digest(v) for h, v in views.items()}
    if len(set(map(repr, ds.values()))) > 1:
        verdict.add("managers disagree after the settle period", hist,
                    digests={h: repr(d)[:300] for h, d in ds.items()})


def converged(view: dict[str, Any]) -> list[str]:
    """Services whose running tasks are not their replica count (empty when all converged)."""
    running: dict[str, int] = defaultdict(int)
    for t in view["tasks"]:
        if (t.get("Status") or {}).get("State") == "running" and t.get("DesiredState") == "running":
            running[t["ServiceID"]] += 1
    out = []
    for s in view["services"]:
        want = int(((s["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0))
        if running[s["ID"]] != want:
            out.append(f"{s['Spec']['Name']} {running[s['ID']]}/{want}")
    return out
