"""Turning `service create/update` flags into a ServiceSpec (docker/cli service/opts.go)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from google.protobuf.duration_pb2 import Duration

from swarm.api.specs_pb2 import EndpointSpec, NetworkAttachmentConfig, ServiceSpec
from swarm.api.types_pb2 import PlacementPreference, PortConfig, RestartPolicy, UpdateConfig
from swarm.cli.client import CLIError
from swarm.cli.durations import parse_duration

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
          "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4}


def parse_bytes(flag: str, v: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", v)
    if not m or m.group(2).lower() not in _UNITS:
        raise CLIError(f'invalid argument "{v}" for "{flag}" flag: invalid size: \'{v}\'')
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_cpus(flag: str, v: str) -> int:
    try:
        f = float(v)
    except ValueError:
        raise CLIError(f'invalid argument "{v}" for "{flag}" flag: failed to parse {v} as a rational number') from None
    if f < 0:
        raise CLIError(f'invalid argument "{v}" for "{flag}" flag: CPU count must be positive')
    return int(round(f * 1e9))


def duration(flag: str, v: str) -> Duration:
    try:
        s = parse_duration(v)
    except ValueError as e:
        raise CLIError(f'invalid argument "{v}" for "{flag}" flag: {e}') from None
    d = Duration()
    d.FromNanoseconds(int(round(s * 1e9)))
    return d


def parse_port(v: str) -> PortConfig:
    """`[published:]target[/proto]` or `published=P,target=T,protocol=..,mode=..`."""
    p = PortConfig()
    if "=" in v:
        for part in v.split(","):
            k, _, val = part.partition("=")
            k = k.strip().lower()
            if k == "target":
                p.target_port = _port_num(val, v)
            elif k == "published":
                p.published_port = _port_num(val, v)
            elif k == "protocol":
                p.protocol = _proto(val, v)  # type: ignore[assignment]
            elif k == "mode":
                if val not in ("ingress", "host"):
                    raise CLIError(f"invalid publish mode value ({val}): must be either 'ingress' or 'host'")
                p.publish_mode = PortConfig.HOST if val == "host" else PortConfig.INGRESS
            else:
                raise CLIError(f"invalid field key {k} in {v}")
        if not p.target_port:
            raise CLIError("missing mandatory field 'target'")
        return p
    body, _, proto = v.partition("/")
    if proto:
        p.protocol = _proto(proto, v)  # type: ignore[assignment]
    pub, _, tgt = body.rpartition(":")
    p.target_port = _port_num(tgt, v)
    if pub:
        p.published_port = _port_num(pub, v)
    return p


def _port_num(s: str, whole: str) -> int:
    if not s.isdigit() or not 0 < int(s) < 65536:
        raise CLIError(f"invalid port specification: {whole!r}")
    return int(s)


def _proto(s: str, whole: str) -> int:
    m = {"tcp": PortConfig.TCP, "udp": PortConfig.UDP, "sctp": PortConfig.SCTP}
    if s.lower() not in m:
        raise CLIError(f"invalid protocol {s!r} in {whole!r}")
    return m[s.lower()]


RESTART = {"any": RestartPolicy.RESTART_ON_ANY, "none": RestartPolicy.RESTART_ON_NONE,
           "on-failure": RestartPolicy.RESTART_ON_FAILURE}
FAILURE_ACTIONS = {"pause": UpdateConfig.PAUSE, "continue": UpdateConfig.CONTINUE,
                   "rollback": UpdateConfig.ROLLBACK}
ORDERS = {"stop-first": UpdateConfig.STOP_FIRST, "start-first": UpdateConfig.START_FIRST}


def apply_update_config(cfg: UpdateConfig, prefix: str, opts: dict[str, object], rollback: bool) -> None:
    flag = f"--{prefix}"
    if opts.get("parallelism") is not None:
        n = int(opts["parallelism"])  # type: ignore[call-overload]
        if n < 0:
            raise CLIError(f"{flag}-parallelism must not be negative")
        cfg.parallelism = n
    if opts.get("delay") is not None:
        cfg.delay.CopyFrom(duration(f"{flag}-delay", str(opts["delay"])))
    if opts.get("failure_action") is not None:
        fa = str(opts["failure_action"])
        allowed = ("pause", "continue") if rollback else ("pause", "continue", "rollback")
        if fa not in allowed:
            raise CLIError(f'invalid argument "{fa}" for "{flag}-failure-action" flag: must be one of '
                           + ", ".join(allowed))
        cfg.failure_action = FAILURE_ACTIONS[fa]
    if opts.get("monitor") is not None:
        cfg.monitor.CopyFrom(duration(f"{flag}-monitor", str(opts["monitor"])))
    if opts.get("max_failure_ratio") is not None:
        r = float(opts["max_failure_ratio"])  # type: ignore[arg-type]
        if not 0 <= r <= 1:
            raise CLIError(f"{prefix}-maxfailureratio cannot be less than 0 or bigger than 1")
        cfg.max_failure_ratio = r
    if opts.get("order") is not None:
        o = str(opts["order"])
        if o not in ORDERS:
            raise CLIError(f'invalid argument "{o}" for "{flag}-order" flag: must be start-first or stop-first')
        cfg.order = ORDERS[o]


def default_spec() -> ServiceSpec:
    spec = ServiceSpec()
    spec.task.restart.condition = RestartPolicy.RESTART_ON_ANY
    spec.task.restart.delay.FromSeconds(5)
    for cfg in (spec.update, spec.rollback):
        cfg.parallelism = 1
        cfg.failure_action = UpdateConfig.PAUSE
        cfg.monitor.FromSeconds(5)
        cfg.order = UpdateConfig.STOP_FIRST
    spec.task.container.stop_grace_period.FromSeconds(10)
    spec.endpoint.mode = EndpointSpec.VIP
    return spec


def set_env(env: list[str], adds: Sequence[str], removes: Sequence[str] = ()) -> list[str]:
    """Later duplicates replace earlier ones; `--env-rm KEY` drops KEY."""
    out: dict[str, str] = {}
    for e in env:
        out[e.split("=", 1)[0]] = e
    for k in removes:
        out.pop(k.split("=", 1)[0], None)
    for e in adds:
        if "=" not in e:
            raise CLIError(f"invalid environment variable: {e!r} (expected KEY=VALUE)")
        out[e.split("=", 1)[0]] = e
    return list(out.values())


def networks(names: Sequence[str]) -> list[NetworkAttachmentConfig]:
    out = []
    for n in names:
        cfg = NetworkAttachmentConfig()
        if "=" in n:
            for part in n.split(","):
                k, _, v = part.partition("=")
                if k == "name":
                    cfg.target = v
                elif k == "alias":
                    cfg.aliases.append(v)
        else:
            cfg.target = n
        out.append(cfg)
    return out


def placement_pref(v: str) -> PlacementPreference:
    k, _, val = v.partition("=")
    if k != "spread" or not val:
        raise CLIError(f"invalid placement preference {v!r}: only spread=<label> is supported")
    return PlacementPreference(spread_descriptor=val)
