"""Service and network spec validation and defaults, with the reference's exact messages (§0,
§1.10). Checks of the spec alone: what it conflicts with in the store is checked by the caller,
and what it is given (ports, subnets, VNIs) is decided by swarm.allocator."""

from __future__ import annotations

import ipaddress
import re

from swarm.api.specs_pb2 import EndpointSpec, NetworkSpec, ServiceSpec
from swarm.api.types_pb2 import PortConfig, RestartPolicy, UpdateConfig
from swarm.controlapi.errors import InvalidArgumentError

NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
MIN_MEMORY_RESERVATION = 4 * 1024 * 1024
MIN_NANO_CPUS = 1_000_000  # 0.001 CPU


def validate_name(name: str) -> None:
    if not name:
        raise InvalidArgumentError("name must be provided")
    if len(name) > 63:
        raise InvalidArgumentError("name must be 63 characters or fewer")
    if not NAME_RE.match(name):
        raise InvalidArgumentError("name must be valid as a DNS name component")


def validate_spec(spec: ServiceSpec) -> None:
    validate_name(spec.annotations.name)
    c = spec.task.container
    if not c.image:
        raise InvalidArgumentError("ContainerSpec: image reference must be provided")
    if spec.WhichOneof("mode") is None:
        raise InvalidArgumentError("service mode must be replicated or global")
    _validate_job(spec)
    _validate_resources(spec)
    _validate_restart(spec.task.restart)
    for name, cfg in (("UpdateConfig", spec.update), ("RollbackConfig", spec.rollback)):
        _validate_update(name, cfg, rollback=name == "RollbackConfig")
    from swarm.scheduler.constraint import ConstraintError, parse_constraints

    try:
        parse_constraints(list(spec.task.placement.constraints))
    except ConstraintError as e:
        raise InvalidArgumentError(str(e)) from None
    for pref in spec.task.placement.preferences:
        if not pref.spread_descriptor:
            raise InvalidArgumentError("placement preference: spread descriptor must be provided")
    _validate_endpoint(spec.endpoint)
    if spec.task.container.HasField("stop_grace_period") and \
            spec.task.container.stop_grace_period.ToNanoseconds() < 0:
        raise InvalidArgumentError("ContainerSpec: stop grace period must not be negative")
    seccomp = spec.task.container.privileges.seccomp
    if seccomp.mode == seccomp.CUSTOM or seccomp.profile:
        raise InvalidArgumentError("ContainerSpec: a custom seccomp profile is not supported by pyswarm "
                                   "(modes: default, unconfined)")
    mounts: set[str] = set()
    del mounts


def _validate_job(spec: ServiceSpec) -> None:
    """swarmkit's ``validateJob``: jobs are never rolled, so they take no update/rollback config."""
    if spec.WhichOneof("mode") not in ("replicated_job", "global_job"):
        return
    if spec.HasField("update"):
        raise InvalidArgumentError("Jobs may not have an update config")
    if spec.HasField("rollback"):
        raise InvalidArgumentError("Jobs may not have a rollback config")


def _validate_resources(spec: ServiceSpec) -> None:
    r = spec.task.resources
    if r.reservations.memory_bytes and r.reservations.memory_bytes < MIN_MEMORY_RESERVATION:
        raise InvalidArgumentError(
            f"invalid memory value {r.reservations.memory_bytes}: Must be at least 4MiB")
    if r.limits.memory_bytes and r.limits.memory_bytes < MIN_MEMORY_RESERVATION:
        raise InvalidArgumentError(f"invalid memory value {r.limits.memory_bytes}: Must be at least 4MiB")
    for what, v in (("reservation", r.reservations.nano_cpus), ("limit", r.limits.nano_cpus)):
        if v < 0 or (v and v < MIN_NANO_CPUS):
            raise InvalidArgumentError(f"invalid cpu {what} value {v / 1e9}: Must be at least 0.001")
    if r.limits.pids < 0:
        raise InvalidArgumentError("invalid pids limit: must not be negative")
    if r.limits.generic:
        raise InvalidArgumentError("generic resources can only be reserved, not limited")
    for g in r.reservations.generic:
        if g.WhichOneof("resource") != "discrete":
            # swarmkit's validateResources drops genericresource.ValidateTask's error, so dockerd
            # stores a named reservation; its scheduler never finds a node for it
            # (HasEnough: "task should only hold Discrete type"): pyswarm does the same
            if not g.named.kind or not g.named.value:
                raise InvalidArgumentError(f"invalid generic resource {g.named.kind}={g.named.value}: "
                                           "want a kind and a value")
            continue
        d = g.discrete
        if not d.kind or not all(c.isalnum() or c in "-_." for c in d.kind) or d.value <= 0:
            raise InvalidArgumentError(f"invalid generic resource {d.kind}={d.value}: want KIND=COUNT "
                                       "with a count above 0")


def _validate_restart(rp: RestartPolicy) -> None:
    if rp.HasField("delay") and rp.delay.ToNanoseconds() < 0:
        raise InvalidArgumentError("TaskSpec: restart-delay cannot be negative")
    if rp.HasField("window") and rp.window.ToNanoseconds() < 0:
        raise InvalidArgumentError("TaskSpec: restart-window cannot be negative")


def _validate_update(name: str, cfg: UpdateConfig, rollback: bool) -> None:
    if cfg.HasField("delay") and cfg.delay.ToNanoseconds() < 0:
        raise InvalidArgumentError(f"{name}: delay cannot be negative")
    if cfg.HasField("monitor") and cfg.monitor.ToNanoseconds() < 0:
        raise InvalidArgumentError(f"{name}: monitor cannot be negative")
    if not 0 <= cfg.max_failure_ratio <= 1:
        raise InvalidArgumentError("update-maxfailureratio cannot be less than 0 or bigger than 1")
    if rollback and cfg.failure_action == UpdateConfig.ROLLBACK:
        raise InvalidArgumentError(f"{name}: rollback is not a valid failure action for a rollback")


def _validate_endpoint(ep: EndpointSpec) -> None:
    seen: set[tuple[int, int, int]] = set()
    for p in ep.ports:
        if not 0 < p.target_port < 65536:
            raise InvalidArgumentError("EndpointSpec: target port must be between 1 and 65535")
        if p.published_port > 65535:
            raise InvalidArgumentError("EndpointSpec: published port must be 65535 or lower")
        if p.published_port:
            key = (p.published_port, p.protocol, p.publish_mode)
            if key in seen:
                raise InvalidArgumentError("EndpointSpec: duplicate published ports provided")
            seen.add(key)
        if ep.mode == EndpointSpec.DNSRR and p.publish_mode == PortConfig.INGRESS:
            raise InvalidArgumentError(
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode")


def validate_network_spec(spec: NetworkSpec) -> None:
    """`network create`: a DNS-label name, the overlay driver, IPv4 subnets of /29 or larger
    with their gateway inside."""
    name = spec.annotations.name
    if not name or not NAME_RE.match(name):
        raise InvalidArgumentError("network name must be valid as a DNS name component")
    driver = spec.driver_config.name or "overlay"
    if driver != "overlay":
        raise InvalidArgumentError(f"network driver {driver!r} is not supported: only overlay")
    for cfg in spec.ipam.configs:
        try:
            sub = ipaddress.ip_network(cfg.subnet, strict=False)
        except ValueError:
            raise InvalidArgumentError(f"invalid subnet {cfg.subnet!r}") from None
        if not isinstance(sub, ipaddress.IPv4Network) or sub.prefixlen > 29:
            raise InvalidArgumentError(f"invalid subnet {cfg.subnet}: IPv4, /29 or larger")
        try:
            gateway = ipaddress.ip_address(cfg.gateway) if cfg.gateway else None
        except ValueError:
            raise InvalidArgumentError(f"invalid gateway {cfg.gateway}") from None
        if gateway is not None and gateway not in sub:
            raise InvalidArgumentError(f"gateway {cfg.gateway} is not in subnet {cfg.subnet}")
