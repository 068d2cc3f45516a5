"""What one NodeNetwork made, persisted as JSON so a restarted daemon can adopt it.

Written atomically (temp file + rename) after every change. The kernel is the truth for
links and FDB entries (overlay.program_peers diffs against it); this file only remembers
what cannot be read back cheaply: network configs, which sandbox has which attachment, the
service tables and the ingress endpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from node.network.model import NetworkConfig, PortMap, ServiceEntry


@dataclass
class Attachment:
    network_id: str
    ifname: str
    ip_cidr: str


@dataclass
class Sandbox:
    container_id: str
    ns_name: str
    path: str
    attachments: list[Attachment] = field(default_factory=list)
    dns_servers: list[str] = field(default_factory=list)   # --dns: the embedded DNS's upstreams here


@dataclass
class Saved:
    networks: dict[str, NetworkConfig] = field(default_factory=dict)
    sandboxes: dict[str, Sandbox] = field(default_factory=dict)
    services: dict[str, tuple[ServiceEntry, ...]] = field(default_factory=dict)
    ingress_ip: str | None = None
    ingress_entries: tuple[ServiceEntry, ...] = ()
    egress_ips: dict[str, str] = field(default_factory=dict)
    host_ports: dict[str, tuple[PortMap, ...]] = field(default_factory=dict)


def entry_from_dict(d: dict[str, Any]) -> ServiceEntry:
    return ServiceEntry(
        service_id=d["service_id"], name=d["name"], aliases=tuple(d["aliases"]), vip=d["vip"],
        backends=tuple(d["backends"]), ports=tuple(PortMap(**p) for p in d["ports"]),
        dnsrr=d["dnsrr"])


def dump(s: Saved) -> dict[str, Any]:
    return {
        "networks": {k: asdict(v) for k, v in s.networks.items()},
        "sandboxes": {k: asdict(v) for k, v in s.sandboxes.items()},
        "services": {k: [asdict(e) for e in v] for k, v in s.services.items()},
        "ingress_ip": s.ingress_ip,
        "ingress_entries": [asdict(e) for e in s.ingress_entries],
        "egress_ips": dict(s.egress_ips),
        "host_ports": {k: [asdict(p) for p in v] for k, v in s.host_ports.items()},
    }


def load_dict(d: dict[str, Any]) -> Saved:
    return Saved(
        networks={k: NetworkConfig(**v) for k, v in d.get("networks", {}).items()},
        sandboxes={k: Sandbox(v["container_id"], v["ns_name"], v["path"],
                              [Attachment(**a) for a in v["attachments"]], list(v.get("dns_servers", [])))
                   for k, v in d.get("sandboxes", {}).items()},
        services={k: tuple(entry_from_dict(e) for e in v) for k, v in d.get("services", {}).items()},
        ingress_ip=d.get("ingress_ip"),
        ingress_entries=tuple(entry_from_dict(e) for e in d.get("ingress_entries", [])),
        egress_ips=dict(d.get("egress_ips", {})),
        host_ports={k: tuple(PortMap(**p) for p in v) for k, v in d.get("host_ports", {}).items()},
    )


def save(path: Path, s: Saved) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dump(s), indent=1, sort_keys=True))
    os.replace(tmp, path)


def load(path: Path) -> Saved:
    try:
        return load_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return Saved()
