"""Names, addresses and paths of one testbed, all derived from its prefix; the state file.

Naming (prefix P, default "swtb", must match `swtb[a-z0-9]{0,4}` so every root-namespace name
starts with "swtb" and fits IFNAMSIZ):

    bridge            P0                 (root netns, no address)
    netns / veth      P-<host>           (root-side veth end has the same name as the netns)
    infra netns       P-infra            (subnet .1, for a registry or other test services)
    routes            unreachable <subnet and overlay pools> proto 231 metric <from P>
    state dir         $SWTB_RUN or /run/P       testbed.json, <host>.sock/.log/.pid/.holder.pid
    data roots        $SWTB_LIB or /var/lib/P   <host>/

Host number i (managers first, then workers, from 1) gets address subnet + 10 + i.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from swtb.errors import TestbedError, UsageError

DEFAULT_PREFIX = "swtb"
DEFAULT_SUBNET = "10.231.0.0/24"
# the overlay address pool, and the egress subnet each node uses for host-mode ports and
# outbound traffic (swarm/daemon/executors.py EGRESS_SUBNET)
DEFAULT_OVERLAY_POOLS = ("10.0.0.0/8", "172.18.0.0/16")
INFRA = "infra"
RT_PROTO = 231  # marks our unreachable routes (rt_protos has nothing there)
MAX_PER_ROLE = 99

PREFIX_RE = re.compile(r"^swtb[a-z0-9]{0,4}$")
HOST_RE = re.compile(r"^(mgr|wkr)[1-9][0-9]?$")


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise UsageError(f"bad prefix {prefix!r}: must match swtb[a-z0-9]{{0,4}} (e.g. swtb, swtbt1)")
    return prefix


def host_names(managers: int, workers: int) -> list[str]:
    if managers < 0 or workers < 0:
        raise UsageError("--managers and --workers must not be negative")
    if managers + workers < 1:
        raise UsageError("need at least one host: --managers M --workers W with M+W >= 1")
    if managers > MAX_PER_ROLE or workers > MAX_PER_ROLE:
        raise UsageError(f"at most {MAX_PER_ROLE} managers and {MAX_PER_ROLE} workers")
    return [f"mgr{i}" for i in range(1, managers + 1)] + [f"wkr{i}" for i in range(1, workers + 1)]


def parse_net(text: str, what: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise UsageError(f"bad {what} {text!r}: {e}") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise UsageError(f"bad {what} {text!r}: only IPv4 networks are supported")
    return net


@dataclass(frozen=True)
class Paths:
    """Where one testbed's names and files live; computable without any state file."""

    prefix: str
    run_dir: Path
    lib_dir: Path

    @classmethod
    def make(cls, prefix: str, run_dir: str | None = None, lib_dir: str | None = None) -> Paths:
        check_prefix(prefix)
        run = Path(run_dir or os.environ.get("SWTB_RUN") or f"/run/{prefix}")
        lib = Path(lib_dir or os.environ.get("SWTB_LIB") or f"/var/lib/{prefix}")
        for p in (run, lib):
            if not p.is_absolute() or len(p.parts) < 3:
                raise UsageError(f"state directory {str(p)!r} must be an absolute path at least two deep")
        return cls(prefix, run, lib)

    @property
    def bridge(self) -> str:
        return f"{self.prefix}0"

    def netns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def veth(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    @property
    def name_stem(self) -> str:
        """Every netns and veth of this testbed starts with this."""
        return f"{self.prefix}-"

    @property
    def route_metric(self) -> int:
        return 10000 + zlib.crc32(self.prefix.encode()) % 50000

    @property
    def state_file(self) -> Path:
        return self.run_dir / "testbed.json"

    def socket(self, host: str) -> Path:
        return self.run_dir / f"{host}.sock"

    def api_socket(self, host: str) -> Path:
        """The host's Docker Engine API socket (swarmd --api-host; DOCKER_HOST in `exec`)."""
        return self.run_dir / f"{host}.docker.sock"

    def log(self, host: str) -> Path:
        return self.run_dir / f"{host}.log"

    def pidfile(self, host: str) -> Path:
        return self.run_dir / f"{host}.pid"

    def holder_pidfile(self, host: str) -> Path:
        return self.run_dir / f"{host}.holder.pid"

    def cgroup_keep(self, host: str) -> Path:
        return self.run_dir / f"{host}.cgroup-keep"

    def data_root(self, host: str) -> Path:
        return self.lib_dir / host

    def infra_pidfile(self, n: int) -> Path:
        return self.run_dir / f"infra-{n}.pid"

    def infra_log(self, n: int) -> Path:
        return self.run_dir / f"infra-{n}.log"


@dataclass
class HostSpec:
    name: str
    address: str


@dataclass
class BedConfig:
    """What `up` decided; saved as testbed.json so later commands act on the same testbed."""

    prefix: str
    subnet: str
    overlay_pools: list[str]
    hosts: list[HostSpec]
    infra_address: str
    swarmd: str
    daemon_args: list[str] = field(default_factory=list)
    daemon_env: dict[str, str] = field(default_factory=dict)
    log_level: str = "info"
    route_metric: int = 0
    routes: list[str] = field(default_factory=list)

    @classmethod
    def plan(cls, paths: Paths, managers: int, workers: int, subnet: str,
             overlay_pools: list[str], swarmd: str, daemon_args: list[str],
             daemon_env: dict[str, str], log_level: str) -> BedConfig:
        names = host_names(managers, workers)
        net = parse_net(subnet, "subnet")
        pools = [parse_net(p, "overlay pool") for p in overlay_pools]
        if net.num_addresses < 10 + len(names) + 2:
            raise UsageError(f"subnet {net} is too small for {len(names)} hosts (host i is .{10}+i)")
        base = net.network_address
        hosts = [HostSpec(n, str(base + 10 + i)) for i, n in enumerate(names, start=1)]
        routes = list(dict.fromkeys([str(net)] + [str(p) for p in pools]))
        return cls(prefix=paths.prefix, subnet=str(net), overlay_pools=[str(p) for p in pools],
                   hosts=hosts, infra_address=str(base + 1), swarmd=swarmd,
                   daemon_args=daemon_args, daemon_env=daemon_env, log_level=log_level,
                   route_metric=paths.route_metric, routes=routes)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        known = ", ".join(h.name for h in self.hosts)
        raise UsageError(f"no host {name!r} in testbed {self.prefix} (hosts: {known})")

    def save(self, paths: Paths) -> None:
        paths.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = paths.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(paths.state_file)

    @classmethod
    def load(cls, paths: Paths) -> BedConfig | None:
        try:
            raw = json.loads(paths.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise TestbedError(f"cannot read {paths.state_file}: {e}") from None
        try:
            raw["hosts"] = [HostSpec(**h) for h in raw["hosts"]]
            return cls(**raw)
        except (KeyError, TypeError) as e:
            raise TestbedError(f"{paths.state_file} is not a testbed state file: {e}") from None

    @classmethod
    def require(cls, paths: Paths) -> BedConfig:
        cfg = cls.load(paths)
        if cfg is None:
            raise TestbedError(f"testbed {paths.prefix} is not up (no {paths.state_file})")
        return cfg
