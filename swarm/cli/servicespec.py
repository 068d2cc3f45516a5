"""Turning `service create/update` flags into a ServiceSpec (docker/cli service/opts.go).

Parsers of single flag values (sizes, CPUs, durations, ports, networks, placement preferences)
first; then the flag appliers: ``apply_common_flags`` (what create and update share) and
``updated_spec`` (a service's spec changed by `service update`'s flags).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.duration_pb2 import Duration

from swarm.api.specs_pb2 import ContainerSpec, EndpointSpec, NetworkAttachmentConfig, ServiceSpec, TaskSpec
from swarm.api.types_pb2 import (
    Placement,
    PlacementPreference,
    PortConfig,
    ResourceRequirements,
    RestartPolicy,
    UpdateConfig,
)
from swarm.cli import mountspec, passthrough
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


# ----------------------------------------------------------------------------- flags -> spec
# ``o`` is the options dict click gives the create/update commands (every flag present, None,
# False or () when not given). The appliers run in a fixed order, so with several bad flags the
# first one in that order is the one reported.

def labels(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` (or ``KEY``, value empty) items; a later key wins."""
    out = {}
    for kv in items:
        k, _, v = kv.partition("=")
        out[k] = v
    return out


def apply_common_flags(spec: ServiceSpec, o: Mapping[str, Any]) -> None:
    """The flags create and update share (``--replicas``, ``--restart-*``, ``--limit-*``, ...)."""
    _apply_replicas(spec, o.get("replicas"))
    _apply_job(spec, o)
    _apply_process(spec.task.container, o)
    _apply_restart(spec.task.restart, o)
    _apply_resources(spec.task.resources, o)
    _apply_stop(spec.task.container, o)
    _apply_endpoint_mode(spec, o.get("endpoint_mode"))
    if o.get("replicas_max_per_node") is not None:
        spec.task.placement.max_replicas = o["replicas_max_per_node"]
    for kind in ("update", "rollback"):
        cfg = spec.update if kind == "update" else spec.rollback
        apply_update_config(cfg, kind, {k[len(kind) + 1:]: v for k, v in o.items() if k.startswith(kind + "_")},
                            rollback=kind == "rollback")


def _apply_replicas(spec: ServiceSpec, replicas: int | None) -> None:
    if replicas is None:
        return
    if replicas < 0:
        raise CLIError(f'invalid argument "{replicas}" for "--replicas" flag: replicas must not be negative')
    if spec.HasField("replicated_job"):
        spec.replicated_job.total_completions = replicas
        return
    if not spec.HasField("replicated"):
        raise CLIError("replicas can only be used with replicated or replicated-job mode")
    spec.replicated.replicas = replicas


JOB_MODES = ("replicated_job", "global_job")


def _apply_job(spec: ServiceSpec, o: Mapping[str, Any]) -> None:
    """``--max-concurrent`` (replicated jobs only) and Docker's refusal of update/rollback flags
    for jobs (they are never rolled)."""
    n = o.get("max_concurrent")
    if n is not None:
        if not spec.HasField("replicated_job"):
            raise CLIError("max-concurrent can only be used with replicated-job mode")
        if n < 0:
            raise CLIError(f'invalid argument "{n}" for "--max-concurrent" flag: must not be negative')
        spec.replicated_job.max_concurrent = n
    if spec.WhichOneof("mode") in JOB_MODES and any(
            v is not None for k, v in o.items() if k.startswith(("update_", "rollback_"))):
        raise CLIError("update and rollback configuration is not supported for jobs")


def job_mode(spec: ServiceSpec, mode: str, o: Mapping[str, Any]) -> None:
    """``create --mode replicated-job|global-job`` as Docker: MaxConcurrent defaults to
    ``--replicas``, then 1; TotalCompletions to MaxConcurrent; no update or rollback config."""
    if mode == "global-job":
        if o.get("replicas") is not None:
            raise CLIError("replicas can only be used with replicated or replicated-job mode")
        spec.global_job.SetInParent()
    else:
        reps, conc = o.get("replicas"), o.get("max_concurrent")
        rj = spec.replicated_job
        rj.max_concurrent = conc if conc is not None else reps if reps is not None else 1
        rj.total_completions = reps if reps is not None else rj.max_concurrent
    spec.ClearField("update")
    spec.ClearField("rollback")


def _apply_process(c: ContainerSpec, o: Mapping[str, Any]) -> None:
    if o.get("workdir") is not None:
        c.dir = o["workdir"]
    if o.get("user") is not None:
        c.user = o["user"]
    if o.get("hostname") is not None:
        c.hostname = o["hostname"]
    if o.get("entrypoint") is not None:
        del c.command[:]
        c.command.extend(passthrough.shell_words("--entrypoint", o["entrypoint"]))


def _apply_restart(rp: RestartPolicy, o: Mapping[str, Any]) -> None:
    if o.get("restart_condition") is not None:
        if o["restart_condition"] not in RESTART:
            raise CLIError(f'invalid restart condition "{o["restart_condition"]}"')
        rp.condition = RESTART[o["restart_condition"]]
    if o.get("restart_delay") is not None:
        rp.delay.CopyFrom(duration("--restart-delay", o["restart_delay"]))
    if o.get("restart_max_attempts") is not None:
        if o["restart_max_attempts"] < 0:
            raise CLIError("--restart-max-attempts must not be negative")
        rp.max_attempts = o["restart_max_attempts"]
    if o.get("restart_window") is not None:
        rp.window.CopyFrom(duration("--restart-window", o["restart_window"]))


def _apply_resources(r: ResourceRequirements, o: Mapping[str, Any]) -> None:
    if o.get("limit_cpu") is not None:
        r.limits.nano_cpus = parse_cpus("--limit-cpu", o["limit_cpu"])
    if o.get("limit_memory") is not None:
        r.limits.memory_bytes = parse_bytes("--limit-memory", o["limit_memory"])
    if o.get("limit_pids") is not None:
        r.limits.pids = o["limit_pids"]
    if o.get("reserve_cpu") is not None:
        r.reservations.nano_cpus = parse_cpus("--reserve-cpu", o["reserve_cpu"])
    if o.get("reserve_memory") is not None:
        r.reservations.memory_bytes = parse_bytes("--reserve-memory", o["reserve_memory"])


def _apply_stop(c: ContainerSpec, o: Mapping[str, Any]) -> None:
    if o.get("stop_grace_period") is not None:
        c.stop_grace_period.CopyFrom(duration("--stop-grace-period", o["stop_grace_period"]))
    if o.get("stop_signal") is not None:
        c.stop_signal = o["stop_signal"]


def _apply_endpoint_mode(spec: ServiceSpec, mode: str | None) -> None:
    if mode is None:
        return
    if mode not in ("vip", "dnsrr"):
        raise CLIError(f'invalid endpoint mode "{mode}"')
    spec.endpoint.mode = EndpointSpec.DNSRR if mode == "dnsrr" else EndpointSpec.VIP


def updated_spec(current: ServiceSpec, o: Mapping[str, Any]) -> ServiceSpec:
    """``current`` changed by the flags of ``service update`` (a new message; ``current`` is left
    as it was)."""
    spec = ServiceSpec()
    spec.CopyFrom(current)
    _update_container(spec.task.container, o)
    mountspec.apply_update(spec.task.container, o)
    passthrough.apply_update(spec.task, o)
    _update_placement(spec.task.placement, o)
    _update_ports(spec.endpoint, o["publish_rm"], o["publish_add"])
    _update_networks(spec.task, o["network_rm"], o["network_add"])
    _update_labels(spec, o)
    apply_common_flags(spec, o)
    if o["force"]:
        spec.task.force_update += 1
    return spec


def _update_container(c: ContainerSpec, o: Mapping[str, Any]) -> None:
    """``--image``, ``--args``, ``--env-add``/``--env-rm``."""
    if o["image"] is not None:
        c.image = o["image"]
    if o["args_"] is not None:
        del c.args[:]
        c.args.extend(passthrough.shell_words("--args", o["args_"]))
    if o["env_add"] or o["env_rm"]:
        env = set_env(list(c.env), passthrough.env_from_client(o["env_add"]), o["env_rm"])
        del c.env[:]
        c.env.extend(env)


def _update_placement(placement: Placement, o: Mapping[str, Any]) -> None:
    """``--constraint-add/-rm`` (kept in order, no duplicates), ``--placement-pref-add/-rm``."""
    cons = [x for x in placement.constraints if x not in o["constraint_rm"]]
    cons += [x for x in o["constraint_add"] if x not in cons]
    del placement.constraints[:]
    placement.constraints.extend(cons)
    _update_prefs(placement, o["placement_pref_rm"], o["placement_pref_add"])


def _update_prefs(placement: Placement, remove: Sequence[str], add: Sequence[str]) -> None:
    if not remove and not add:
        return
    rm = {placement_pref(p).spread_descriptor for p in remove}
    prefs = [p for p in placement.preferences if p.spread_descriptor not in rm]
    prefs += [placement_pref(p) for p in add]
    del placement.preferences[:]
    placement.preferences.extend(prefs)


def _update_ports(endpoint: EndpointSpec, remove: Sequence[str], add: Sequence[str]) -> None:
    """``--publish-rm TARGET[/PROTO]`` drops the ports with that target or published port;
    ``--publish-add`` appends."""
    if not remove and not add:
        return
    rm_targets = set()
    for p in remove:
        t, _, proto = p.partition("/")
        rm_targets.add((int(t) if t.isdigit() else -1, proto or "tcp"))
    ports = [p for p in endpoint.ports
             if (p.target_port, PortConfig.Protocol.Name(p.protocol).lower()) not in rm_targets
             and (p.published_port, PortConfig.Protocol.Name(p.protocol).lower()) not in rm_targets]
    ports += [parse_port(p) for p in add]
    del endpoint.ports[:]
    endpoint.ports.extend(ports)


def _update_networks(task: TaskSpec, remove: Sequence[str], add: Sequence[str]) -> None:
    if not remove and not add:
        return
    nets = [n for n in task.networks if n.target not in remove]
    nets += networks(add)
    del task.networks[:]
    task.networks.extend(nets)


def _update_labels(spec: ServiceSpec, o: Mapping[str, Any]) -> None:
    """``--label-add/-rm`` on the service, ``--container-label-add/-rm`` on its containers."""
    for k, v in labels(o["label_add"]).items():
        spec.annotations.labels[k] = v
    for k in o["label_rm"]:
        spec.annotations.labels.pop(k, None)
    c = spec.task.container
    for k, v in labels(o["container_label_add"]).items():
        c.labels[k] = v
    for k in o["container_label_rm"]:
        c.labels.pop(k, None)
