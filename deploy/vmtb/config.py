"""Names, addresses and paths of the VM testbed; the state file written by `up`.

Everything lives under two directories: the image cache (`$PYSWARM_VM_CACHE`, default
/var/lib/pyswarm-vm: base root filesystems, built images keyed by the hash of their inputs,
`current` pointing at the newest) and the run directory (`$PYSWARM_VM_RUN`, default
/var/lib/pyswarm-vm/run: overlays, pid files, consoles, monitor and ssh control sockets,
vmtestbed.json). VM i (from 1) is `vm<i>` at subnet + 10 + i on tap `vmtb-t<i>`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from swtb.errors import TestbedError, UsageError

NETNS = "vmtb"
BRIDGE = "vmtb0"
SUBNET = "10.231.0.0/24"
OVERLAY_POOLS = ("10.0.0.0/8", "172.18.0.0/16")  # as deploy/swtb/config.py: routed nowhere
MAX_VMS = 9
MEMORY_MB = 1024
READY_MARK = "VMTB-READY"


def cache_dir() -> Path:
    return Path(os.environ.get("PYSWARM_VM_CACHE") or "/var/lib/pyswarm-vm")


def run_dir() -> Path:
    return Path(os.environ.get("PYSWARM_VM_RUN") or cache_dir() / "run")


def route_metric() -> int:
    """Same rule as the netns testbed's prefixes, so both sets of routes can coexist."""
    return 10000 + zlib.crc32(NETNS.encode()) % 50000


def vm_names(n: int) -> list[str]:
    if not 1 <= n <= MAX_VMS:
        raise UsageError(f"up N: N must be between 1 and {MAX_VMS}, got {n}")
    return [f"vm{i}" for i in range(1, n + 1)]


def address(subnet: str, index: int) -> str:
    return str(ipaddress.ip_network(subnet).network_address + 10 + index)


def mac_for(addr: str) -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(addr).packed[1:])


@dataclass
class VMSpec:
    name: str
    index: int
    address: str
    tap: str
    mac: str


@dataclass
class BedState:
    """What `up` made; later commands act on exactly this."""

    image: str                 # the image directory booted
    accel: str                 # kvm | tcg
    cpu: str
    memory_mb: int
    subnet: str
    infra_address: str
    vms: list[VMSpec]
    routes: list[str] = field(default_factory=list)
    route_metric: int = 0
    boot_seconds: dict[str, float] = field(default_factory=dict)

    def vm(self, name: str) -> VMSpec:
        for v in self.vms:
            if v.name == name:
                return v
        raise UsageError(f"no VM {name!r} (VMs: {', '.join(v.name for v in self.vms)})")

    @staticmethod
    def path() -> Path:
        return run_dir() / "vmtestbed.json"

    def save(self) -> None:
        p = self.path()
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(p)

    @classmethod
    def load(cls) -> BedState | None:
        try:
            raw = json.loads(cls.path().read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise TestbedError(f"cannot read {cls.path()}: {e}") from None
        raw["vms"] = [VMSpec(**v) for v in raw["vms"]]
        return cls(**raw)

    @classmethod
    def require(cls) -> BedState:
        st = cls.load()
        if st is None:
            raise TestbedError(f"the VM testbed is not up (no {cls.path()}): run `deploy/vmtestbed up N`")
        return st
