"""One Compose service -> a ServiceSpec (docker/cli ``cli/compose/convert/service.go``).

:func:`convert_service` takes the validated service mapping and a :class:`StackContext` (what
the stack's top level declares: networks, volumes, secrets, configs, and their real names) and
builds the spec (mounts, references, ports and networks in ``attachments.py``); every refusal
names its key path (``services.web.ports.0: ...``). Keys Swarm ignores are collected by
:func:`classify_keys` for the warning Docker's CLI prints.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf.duration_pb2 import Duration

from swarm.api.specs_pb2 import ContainerSpec, ServiceSpec
from swarm.api.types_pb2 import (
    GenericResource,
    HealthConfig,
    PlacementPreference,
    RestartPolicy,
    Ulimit,
    UpdateConfig,
)
from swarm.cli import passthrough
from swarm.cli import servicespec as ss
from swarm.cli.client import CLIError
from swarm.cli.durations import parse_duration
from swarm.cli.stack import attachments
from swarm.cli.stack.context import IMAGE_LABEL, NAMESPACE_LABEL, StackContext
from swarm.cli.stack.load import kv_mapping

#: keys Swarm does not use: warned about ("Ignoring unsupported options: ...")
IGNORED = ("build", "cgroupns_mode", "cgroup_parent", "devices", "domainname", "external_links", "ipc",
           "links", "mac_address", "network_mode", "pid", "privileged", "security_opt", "shm_size",
           "userns_mode")
#: keys Docker calls deprecated, with its explanation
DEPRECATED = {"container_name": "Setting the container name is not supported.",
              "expose": "Exposing ports is unnecessary - services on the same network can access each "
                        "other's containers on any port."}
#: keys Docker refuses, with its reason
FORBIDDEN = {"extends": "Support for `extends` is not implemented yet.",
             "volume_driver": "Instead of setting the volume driver on the service, define a volume using "
                              "the top-level `volumes` option and specify the driver there.",
             "volumes_from": "To share a volume between services, define it using the top-level `volumes` "
                             "option and reference it from each service that shares it using the "
                             "service-level `volumes` option.",
             "cpu_quota": "Set resource limits using deploy.resources",
             "cpu_shares": "Set resource limits using deploy.resources",
             "cpuset": "Set resource limits using deploy.resources",
             "mem_limit": "Set resource limits using deploy.resources",
             "memswap_limit": "Set resource limits using deploy.resources"}
#: keys a later issue brings
NOT_YET: tuple[str, ...] = ()
#: keys mapped here
SUPPORTED = ("image", "command", "entrypoint", "environment", "env_file", "labels", "ports", "networks",
             "secrets", "configs", "volumes", "tmpfs", "healthcheck", "user", "working_dir", "hostname",
             "extra_hosts", "cap_add", "cap_drop", "read_only", "init", "stop_grace_period", "stop_signal",
             "ulimits", "sysctls", "deploy", "logging", "group_add", "oom_score_adj", "restart", "depends_on",
             "dns", "dns_search", "dns_opt", "tty")


def classify_keys(name: str, svc: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(ignored keys, deprecated keys) of one service; refuses forbidden and unknown keys."""
    path = f"services.{name}"
    forbidden = [k for k in svc if k in FORBIDDEN]
    if forbidden:
        raise CLIError("Compose file contains unsupported options: "
                       + "; ".join(f"{path}.{k}: {FORBIDDEN[k]}" for k in forbidden))
    for k in svc:
        if k in NOT_YET:
            raise CLIError(f"{path}.{k}: not supported yet")
        known = k in SUPPORTED or k in IGNORED or k in DEPRECATED or k in NOT_YET or k.startswith("x-")
        if not known:
            raise CLIError(f"{path}.{k}: not supported in a swarm stack")
    ignored = [k for k in svc if k in IGNORED]
    if "restart" in svc and isinstance(svc.get("deploy"), dict) and "restart_policy" in svc["deploy"]:
        ignored.append("restart")
    return ignored, [k for k in svc if k in DEPRECATED]


# ---------------------------------------------------------------------------------- helpers
def duration(path: str, v: Any) -> Duration:
    try:
        seconds = parse_duration(str(v))
    except ValueError as e:
        raise CLIError(f"{path}: invalid duration {v!r}: {e}") from None
    d = Duration()
    d.FromNanoseconds(int(round(seconds * 1e9)))
    return d


def _words(path: str, v: Any) -> list[str]:
    if isinstance(v, list):
        return [str(x) for x in v]
    try:
        return shlex.split(str(v))
    except ValueError as e:
        raise CLIError(f"{path}: {e}") from None


def _bytes(path: str, v: Any) -> int:
    try:
        return ss.parse_bytes(path, str(v))
    except CLIError:
        raise CLIError(f"{path}: invalid size {v!r}") from None


def _cpus(path: str, v: Any) -> int:
    try:
        f = float(v)
    except ValueError:
        raise CLIError(f"{path}: invalid number of CPUs {v!r}") from None
    if f < 0:
        raise CLIError(f"{path}: must not be negative")
    return int(round(f * 1e9))


def _map(v: Any) -> dict[str, Any]:
    return kv_mapping(v)


# ------------------------------------------------------------------------------- the service
def convert_service(name: str, svc: Mapping[str, Any], ctx: StackContext) -> ServiceSpec:
    path = f"services.{name}"
    if not svc.get("image"):
        raise CLIError(f"{path}.image: every service of a stack needs an image (build is not supported)")
    spec = ss.default_spec()
    spec.annotations.name = ctx.scoped(name)
    deploy = svc.get("deploy") or {}
    spec.annotations.labels.update({k: "" if v is None else str(v) for k, v in _map(deploy.get("labels")).items()})
    spec.annotations.labels[NAMESPACE_LABEL] = ctx.namespace
    spec.annotations.labels[IMAGE_LABEL] = str(svc["image"])
    _container(spec.task.container, path, svc, ctx)
    _mode(spec, path, deploy)
    _resources(spec, path, deploy.get("resources") or {})
    _restart(spec.task.restart, path, svc, deploy)
    for kind in ("update_config", "rollback_config"):
        if kind in deploy and spec.HasField(kind.split("_")[0]):
            _update_config(getattr(spec, kind.split("_")[0]), f"{path}.deploy.{kind}", deploy[kind],
                           rollback=kind == "rollback_config")
    _placement(spec, path, deploy.get("placement") or {})
    attachments.endpoint(spec.endpoint, path, svc, deploy)
    spec.task.networks.extend(attachments.networks(name, path, svc, ctx))
    if "logging" in svc:
        lg = svc["logging"] or {}
        if lg.get("driver"):
            spec.task.log_driver.name = lg["driver"]
        for k, v in (lg.get("options") or {}).items():
            spec.task.log_driver.options[k] = "" if v is None else str(v)
    return spec


def _container(c: ContainerSpec, path: str, svc: Mapping[str, Any], ctx: StackContext) -> None:
    c.image = str(svc["image"])
    if "entrypoint" in svc and svc["entrypoint"] is not None:
        c.command.extend(_words(f"{path}.entrypoint", svc["entrypoint"]))
    if "command" in svc and svc["command"] is not None:
        c.args.extend(_words(f"{path}.command", svc["command"]))
    c.env.extend(_environment(path, svc, ctx))
    c.labels.update({k: "" if v is None else str(v) for k, v in _map(svc.get("labels")).items()})
    c.labels[NAMESPACE_LABEL] = ctx.namespace
    for key, attr in (("hostname", "hostname"), ("working_dir", "dir"), ("user", "user"),
                      ("stop_signal", "stop_signal")):
        if svc.get(key) is not None:
            setattr(c, attr, str(svc[key]))
    c.groups.extend(str(g) for g in svc.get("group_add") or [])
    c.read_only = bool(svc.get("read_only"))
    c.init = bool(svc.get("init"))
    c.tty = bool(svc.get("tty"))
    for key, field in (("dns", "nameservers"), ("dns_search", "search"), ("dns_opt", "options")):
        value = svc.get(key)
        values = [value] if isinstance(value, str) else list(value or [])
        if key == "dns":
            values = [passthrough.parse_nameserver(f"{path}.dns", str(v)) for v in values]
        getattr(c.dns_config, field).extend(str(v) for v in values)
    if not (c.dns_config.nameservers or c.dns_config.search or c.dns_config.options):
        c.ClearField("dns_config")
    if svc.get("oom_score_adj") is not None:
        v = int(svc["oom_score_adj"])
        if not -1000 <= v <= 1000:
            raise CLIError(f"{path}.oom_score_adj: must be between -1000 and 1000")
        c.oom_score_adj = v
    if svc.get("stop_grace_period") is not None:
        c.stop_grace_period.CopyFrom(duration(f"{path}.stop_grace_period", svc["stop_grace_period"]))
    c.capability_add.extend(_caps(svc.get("cap_add")))
    c.capability_drop.extend(_caps(svc.get("cap_drop")))
    for k, v in sorted(_map(svc.get("sysctls")).items()):
        c.sysctls[k] = "" if v is None else str(v)
    c.ulimits.extend(_ulimits(path, svc.get("ulimits") or {}))
    c.hosts.extend(_extra_hosts(path, svc.get("extra_hosts")))
    if "healthcheck" in svc:
        c.healthcheck.CopyFrom(_healthcheck(f"{path}.healthcheck", svc["healthcheck"] or {}))
    c.mounts.extend(attachments.mounts(path, svc, ctx))
    c.secrets.extend(attachments.secret_refs(path, svc.get("secrets") or [], ctx))
    c.configs.extend(attachments.config_refs(path, svc.get("configs") or [], ctx))


def _environment(path: str, svc: Mapping[str, Any], ctx: StackContext) -> list[str]:
    env: dict[str, str] = {}
    files = svc.get("env_file")
    for f in [files] if isinstance(files, str) else files or []:
        p = Path(os.path.expanduser(str(f)))
        p = p if p.is_absolute() else ctx.project_dir / p
        for line in passthrough.read_env_files([str(p)]):
            k, _, v = line.partition("=")
            env[k] = v
    for k, v in _map(svc.get("environment")).items():
        if v is None:                   # `- KEY` / `KEY:`: from the deploying shell, if it has it
            if k in ctx.environ:
                env[k] = ctx.environ[k]
            else:
                env.pop(k, None)
        else:
            env[k] = str(v).lower() if isinstance(v, bool) else str(v)
    return [f"{k}={v}" for k, v in sorted(env.items())]


def _caps(names: Any) -> list[str]:
    out: list[str] = []
    for n in names or []:
        n = str(n).strip().upper()
        n = n if n == "ALL" or n.startswith("CAP_") else "CAP_" + n
        if n not in out:
            out.append(n)
    return out


def _ulimits(path: str, ulimits: Mapping[str, Any]) -> list[Ulimit]:
    out = []
    for name, v in sorted(ulimits.items()):
        if name not in passthrough.ULIMIT_NAMES:
            raise CLIError(f"{path}.ulimits.{name}: invalid ulimit type")
        soft, hard = (v, v) if isinstance(v, int) else (v.get("soft"), v.get("hard"))
        if soft is None or hard is None:
            raise CLIError(f"{path}.ulimits.{name}: soft and hard are both required")
        if soft > hard:
            raise CLIError(f"{path}.ulimits.{name}: soft limit must be less than or equal to hard limit")
        out.append(Ulimit(name=name, soft=soft, hard=hard))
    return out


def _extra_hosts(path: str, hosts: Any) -> list[str]:
    items = [f"{k}:{v}" for k, v in hosts.items()] if isinstance(hosts, dict) else list(hosts or [])
    out = []
    for i, h in enumerate(items):
        try:
            out.append(passthrough.parse_host(str(h)))
        except CLIError:
            raise CLIError(f"{path}.extra_hosts.{i}: bad format for a host entry: {h!r} (HOST:IP)") from None
    return out


def _healthcheck(path: str, hc: Mapping[str, Any]) -> HealthConfig:
    if hc.get("disable"):
        if any(k in hc for k in ("test", "interval", "timeout", "retries", "start_period", "start_interval")):
            raise CLIError(f"{path}: disable: true cannot be combined with other options")
        return HealthConfig(test=["NONE"])
    h = HealthConfig()
    test = hc.get("test")
    if isinstance(test, str):
        h.test.extend(["CMD-SHELL", test])
    elif test is not None:
        if test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise CLIError(f"{path}.test: must start with CMD, CMD-SHELL or NONE")
        h.test.extend(test)
    for k in ("interval", "timeout", "start_period", "start_interval"):
        if hc.get(k) is not None:
            getattr(h, k).CopyFrom(duration(f"{path}.{k}", hc[k]))
    if hc.get("retries") is not None:
        if hc["retries"] < 0 or int(hc["retries"]) != hc["retries"]:
            raise CLIError(f"{path}.retries: must be a whole number, not negative")
        h.retries = int(hc["retries"])
    return h


# --------------------------------------------------------------------------- deploy section
def _mode(spec: ServiceSpec, path: str, deploy: Mapping[str, Any]) -> None:
    mode = deploy.get("mode") or "replicated"
    replicas = deploy.get("replicas")
    if replicas is not None and replicas < 0:
        raise CLIError(f"{path}.deploy.replicas: must not be negative")
    if mode == "replicated":
        spec.replicated.replicas = 1 if replicas is None else replicas
    elif mode in ("global", "global-job") and replicas is not None:
        raise CLIError(f"{path}.deploy.replicas: replicas can only be used with replicated or replicated-job mode")
    elif mode == "global":
        getattr(spec, "global").SetInParent()
    elif mode in ("replicated-job", "global-job"):
        if any(k in deploy for k in ("update_config", "rollback_config")):
            raise CLIError(f"{path}.deploy: update and rollback configuration is not supported for jobs")
        ss.job_mode(spec, mode, {"replicas": replicas})
    else:
        raise CLIError(f"{path}.deploy.mode: unknown mode {mode!r} (replicated, global, replicated-job or "
                       "global-job)")


def _resources(spec: ServiceSpec, path: str, res: Mapping[str, Any]) -> None:
    r = spec.task.resources
    for kind, target in (("limits", r.limits), ("reservations", r.reservations)):
        part = res.get(kind) or {}
        p = f"{path}.deploy.resources.{kind}"
        if part.get("cpus") is not None:
            target.nano_cpus = _cpus(f"{p}.cpus", part["cpus"])
        if part.get("memory") is not None:
            target.memory_bytes = _bytes(f"{p}.memory", part["memory"])
        if kind == "limits" and part.get("pids") is not None:
            target.pids = part["pids"]
        for i, g in enumerate(part.get("generic_resources") or []):
            d = g.get("discrete_resource_spec") if isinstance(g, dict) else None
            if kind != "reservations" or not isinstance(d, dict) or not d.get("kind") \
                    or not isinstance(d.get("value"), int) or d["value"] <= 0:
                raise CLIError(f"{p}.generic_resources.{i}: want a discrete_resource_spec with a kind and a "
                               "count above 0 (a service reserves counts)")
            target.generic.add().discrete.CopyFrom(GenericResource.Discrete(kind=str(d["kind"]),
                                                                            value=d["value"]))
        if part.get("devices"):
            raise CLIError(f"{p}.devices: not supported yet")


_CONDITIONS = {"none": RestartPolicy.RESTART_ON_NONE, "on-failure": RestartPolicy.RESTART_ON_FAILURE,
               "any": RestartPolicy.RESTART_ON_ANY}


def _restart(rp: RestartPolicy, path: str, svc: Mapping[str, Any], deploy: Mapping[str, Any]) -> None:
    pol = deploy.get("restart_policy")
    if pol is None:
        _restart_from_compose(rp, path, svc.get("restart"))
        return
    p = f"{path}.deploy.restart_policy"
    if pol.get("condition") is not None:
        if pol["condition"] not in _CONDITIONS:
            raise CLIError(f"{p}.condition: must be none, on-failure or any")
        rp.condition = _CONDITIONS[pol["condition"]]
    if pol.get("delay") is not None:
        rp.delay.CopyFrom(duration(f"{p}.delay", pol["delay"]))
    if pol.get("max_attempts") is not None:
        if pol["max_attempts"] < 0:
            raise CLIError(f"{p}.max_attempts: must not be negative")
        rp.max_attempts = pol["max_attempts"]
    if pol.get("window") is not None:
        rp.window.CopyFrom(duration(f"{p}.window", pol["window"]))


def _restart_from_compose(rp: RestartPolicy, path: str, restart: Any) -> None:
    """Top-level ``restart:`` when ``deploy.restart_policy`` is absent (Docker's convertRestartPolicy)."""
    if restart is None or restart == "no":
        return
    r = str(restart)
    if r in ("always", "unless-stopped"):
        rp.condition = RestartPolicy.RESTART_ON_ANY
    elif r == "on-failure" or r.startswith("on-failure:"):
        rp.condition = RestartPolicy.RESTART_ON_FAILURE
        n = r.partition(":")[2]
        if n:
            if not n.isdigit():
                raise CLIError(f"{path}.restart: invalid maximum retry count {n!r}")
            rp.max_attempts = int(n)
    else:
        raise CLIError(f"{path}.restart: unknown restart policy {r!r} (no, always, unless-stopped, on-failure[:N])")


def _update_config(cfg: UpdateConfig, path: str, uc: Mapping[str, Any], rollback: bool) -> None:
    if uc.get("parallelism") is not None:
        if uc["parallelism"] < 0:
            raise CLIError(f"{path}.parallelism: must not be negative")
        cfg.parallelism = uc["parallelism"]
    for k in ("delay", "monitor"):
        if uc.get(k) is not None:
            getattr(cfg, k).CopyFrom(duration(f"{path}.{k}", uc[k]))
    if uc.get("failure_action") is not None:
        allowed = ("pause", "continue") if rollback else ("pause", "continue", "rollback")
        if uc["failure_action"] not in allowed:
            raise CLIError(f"{path}.failure_action: must be one of {', '.join(allowed)}")
        cfg.failure_action = ss.FAILURE_ACTIONS[uc["failure_action"]]
    if uc.get("max_failure_ratio") is not None:
        r = float(uc["max_failure_ratio"])
        if not 0 <= r <= 1:
            raise CLIError(f"{path}.max_failure_ratio: must be between 0 and 1")
        cfg.max_failure_ratio = r
    if uc.get("order") is not None:
        if uc["order"] not in ss.ORDERS:
            raise CLIError(f"{path}.order: must be start-first or stop-first")
        cfg.order = ss.ORDERS[uc["order"]]


def _placement(spec: ServiceSpec, path: str, pl: Mapping[str, Any]) -> None:
    p = spec.task.placement
    p.constraints.extend(str(c) for c in pl.get("constraints") or [])
    for i, pref in enumerate(pl.get("preferences") or []):
        if not pref.get("spread"):
            raise CLIError(f"{path}.deploy.placement.preferences.{i}: only spread: <label> is supported")
        p.preferences.append(PlacementPreference(spread_descriptor=pref["spread"]))
    if pl.get("max_replicas_per_node") is not None:
        if pl["max_replicas_per_node"] < 0:
            raise CLIError(f"{path}.deploy.placement.max_replicas_per_node: must not be negative")
        p.max_replicas = pl["max_replicas_per_node"]
