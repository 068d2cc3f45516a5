"""The container options `service create/update` pass straight into the ContainerSpec (docker/cli
``cli/command/service/opts.go`` and ``update.go``): healthchecks, ``--init``, ``--read-only``,
capabilities, groups, sysctls, ulimits, the OOM score, extra hosts, the log driver, env files and
shell-style ``--entrypoint``/``--args``.

``apply_create`` sets them from `service create`'s flags; ``apply_update`` changes a stored
spec with `service update`'s (``--X-add``/``--X-rm`` pairs, and the single-valued flags set
when given). Values are checked here with Docker's CLI messages; what only a node can judge (a
log driver it lacks, a sysctl it refuses) rejects the task there.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.duration_pb2 import Duration

from swarm.api.specs_pb2 import ContainerSpec, TaskSpec
from swarm.api.types_pb2 import GenericResource, HealthConfig, Ulimit
from swarm.cli.client import CLIError
from swarm.cli.durations import parse_duration

ULIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
                "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")
_HEALTH_DURATIONS = ("interval", "timeout", "start_period", "start_interval")


def shell_words(flag: str, value: str) -> list[str]:
    """``--entrypoint``/``--args``: split as a POSIX shell would (Docker's ShellCommandOpt)."""
    try:
        return shlex.split(value)
    except ValueError as e:
        raise CLIError(f'invalid argument "{value}" for "{flag}" flag: {e}') from None


def env_from_client(items: Sequence[str]) -> list[str]:
    """``-e KEY`` takes KEY's value from the client's environment when it has one (Docker's
    ValidateEnv); otherwise it is left out (Docker passes the bare name on and the container
    ends up without the variable; our runtime refuses an entry without ``=``)."""
    out = []
    for e in items:
        if "=" in e:
            if e.startswith("="):
                raise CLIError(f'invalid argument "{e}" for "-e, --env" flag: invalid environment variable: {e}')
            out.append(e)
        elif e in os.environ:
            out.append(f"{e}={os.environ[e]}")
    return out


def read_env_files(paths: Sequence[str]) -> list[str]:
    """``--env-file``: one ``KEY=VALUE`` (or ``KEY``, from the client's environment) per line;
    blank lines and ``#`` comments skipped (Docker's opts.ParseEnvFile)."""
    out: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise CLIError(f"open {path}: {e.strerror.lower() if e.strerror else e}") from None
        except UnicodeDecodeError:
            raise CLIError(f"env file {path} contains invalid utf8 bytes") from None
        for n, line in enumerate(lines, 1):
            line = line.lstrip()
            if not line or line.startswith("#"):
                continue
            key = line.split("=", 1)[0]
            if not key or any(c.isspace() for c in key):
                raise CLIError(f"invalid environment variable at {path}:{n}: variable '{key}' contains whitespaces")
            out += env_from_client([line])
    return out


def _duration(flag: str, v: str) -> Duration:
    try:
        s = parse_duration(v)
    except ValueError as e:
        raise CLIError(f'invalid argument "{v}" for "{flag}" flag: {e}') from None
    d = Duration()
    d.FromNanoseconds(int(round(s * 1e9)))
    return d


def _health_given(o: Mapping[str, Any]) -> list[str]:
    return [k for k in ("health_cmd", "health_interval", "health_timeout", "health_retries",
                        "health_start_period", "health_start_interval") if o.get(k) is not None]


def _set_health_fields(h: HealthConfig, o: Mapping[str, Any]) -> None:
    for name in _HEALTH_DURATIONS:
        v = o.get(f"health_{name}")
        if v is not None:
            getattr(h, name).CopyFrom(_duration(f"--health-{name.replace('_', '-')}", v))
    if o.get("health_retries") is not None:
        if o["health_retries"] < 0:
            raise CLIError("--health-retries cannot be negative")
        h.retries = o["health_retries"]
    if o.get("health_cmd") is not None:
        del h.test[:]
        if o["health_cmd"]:
            h.test.extend(["CMD-SHELL", o["health_cmd"]])


def _apply_health(c: ContainerSpec, o: Mapping[str, Any], update: bool) -> None:
    """docker/cli's healthcheck options: ``--no-healthcheck`` (None: not given) alone sets the
    ``NONE`` test; on update, ``--no-healthcheck=false`` or any ``--health-*`` flag lifts it."""
    given = _health_given(o)
    no_check = o.get("no_healthcheck")
    if no_check:
        if given:
            raise CLIError("--no-healthcheck conflicts with --health-* options")
        c.healthcheck.CopyFrom(HealthConfig(test=["NONE"]))
        return
    if not update:
        if given:
            c.healthcheck.CopyFrom(HealthConfig())
            _set_health_fields(c.healthcheck, o)
        return
    if not given and no_check is None:
        return
    c.healthcheck.SetInParent()
    if list(c.healthcheck.test[:1]) == ["NONE"]:
        del c.healthcheck.test[:]
    _set_health_fields(c.healthcheck, o)


def parse_ulimit(v: str) -> Ulimit:
    """``name=soft[:hard]`` (docker/go-units ParseUlimit)."""
    name, sep, limits = v.partition("=")
    if not sep:
        raise CLIError(f'invalid argument "{v}" for "--ulimit" flag: invalid ulimit argument: {v}')
    if name not in ULIMIT_NAMES:
        raise CLIError(f'invalid argument "{v}" for "--ulimit" flag: invalid ulimit type: {name}')
    soft_s, _, hard_s = limits.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        raise CLIError(f'invalid argument "{v}" for "--ulimit" flag: invalid ulimit argument: {v}') from None
    if soft > hard:
        raise CLIError(f'invalid argument "{v}" for "--ulimit" flag: ulimit soft limit must be less than '
                       f"or equal to hard limit: {soft} > {hard}")
    return Ulimit(name=name, soft=soft, hard=hard)


def parse_host(v: str) -> str:
    """``--host name:ip`` (or ``name=ip``) as the API's ``"ip name"`` entry."""
    m = re.fullmatch(r"([^:=\s]+)[:=](\S+)", v)
    if not m:
        raise CLIError(f'invalid argument "{v}" for "--host" flag: bad format for add-host: "{v}"')
    name, ip = m.groups()
    return f"{ip} {name}"


def parse_sysctl(v: str) -> tuple[str, str]:
    k, sep, val = v.partition("=")
    if not sep or not k:
        raise CLIError(f'invalid argument "{v}" for "--sysctl" flag: {v} is not a valid key=value pair')
    return k, val


def _nameserver(v: str, flag: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(v.strip()))
    except ValueError:
        raise CLIError(f'invalid argument "{v}" for "{flag}" flag: IP address is not correctly formatted: {v}') from None


def parse_nameserver(path: str, v: str) -> str:
    """A Compose ``dns:`` entry (the key path in the error)."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(v.strip()))
    except ValueError:
        raise CLIError(f"{path}: IP address is not correctly formatted: {v}") from None


def _update_list(current: Any, remove: Sequence[str], add: Sequence[str]) -> None:
    """A ``--X-rm`` / ``--X-add`` pair on a repeated string field: kept in order, no duplicates."""
    out = [x for x in current if x not in remove]
    out += [x for x in add if x not in out]
    del current[:]
    current.extend(out)


def parse_generic_resource(v: str, flag: str = "--generic-resource") -> GenericResource:
    """``KIND=COUNT`` (a service reserves counts; named resources are a node's)."""
    kind, sep, count = v.partition("=")
    if not sep or not kind or not count.isdigit():
        raise CLIError(f'invalid argument "{v}" for "{flag}" flag: invalid generic resource specification: {v}')
    return GenericResource(discrete=GenericResource.Discrete(kind=kind, value=int(count)))


def _caps(names: Sequence[str]) -> list[str]:
    """Docker normalises capability names: upper case, ``CAP_`` prefix (``ALL`` stays)."""
    out = []
    for n in names:
        n = n.strip().upper()
        n = n if n == "ALL" or n.startswith("CAP_") else "CAP_" + n
        if n not in out:
            out.append(n)
    return out


def _log_driver(t: TaskSpec, o: Mapping[str, Any]) -> None:
    if o.get("log_driver") is None:
        if o.get("log_opt"):
            raise CLIError("--log-opt needs --log-driver")
        return
    t.log_driver.name = o["log_driver"]
    t.log_driver.options.clear()
    for kv in o.get("log_opt") or ():
        k, sep, v = kv.partition("=")
        if not sep:
            raise CLIError(f'invalid argument "{kv}" for "--log-opt" flag: invalid key value pair format')
        t.log_driver.options[k] = v


# the boolean flags that set a ContainerSpec field of their name: None = not given (kept on
# update), otherwise the value, so ``--read-only=false`` clears it (docker/cli's flags.Changed)
_BOOL_FIELDS = ("init", "read_only", "tty")


def _scalars(c: ContainerSpec, o: Mapping[str, Any]) -> None:
    for name in _BOOL_FIELDS:
        if o.get(name) is not None:
            setattr(c, name, bool(o[name]))
    if o.get("oom_score_adj") is not None:
        if not -1000 <= o["oom_score_adj"] <= 1000:
            raise CLIError(f"Invalid value {o['oom_score_adj']}, range for oom score adj is [-1000, 1000]")
        c.oom_score_adj = o["oom_score_adj"]


def apply_create(t: TaskSpec, o: Mapping[str, Any]) -> None:
    c = t.container
    _apply_health(c, o, update=False)
    _scalars(c, o)
    c.capability_add.extend(_caps(o.get("cap_add") or ()))
    c.capability_drop.extend(_caps(o.get("cap_drop") or ()))
    c.groups.extend(o.get("group") or ())
    for v in o.get("sysctl") or ():
        k, val = parse_sysctl(v)
        c.sysctls[k] = val
    by_name = {u.name: u for u in (parse_ulimit(v) for v in o.get("ulimit") or ())}
    c.ulimits.extend(by_name.values())
    c.hosts.extend(parse_host(v) for v in o.get("host") or ())
    t.resources.reservations.generic.extend(parse_generic_resource(v) for v in o.get("generic_resource") or ())
    d = c.dns_config
    d.nameservers.extend(_nameserver(v, "--dns") for v in o.get("dns") or ())
    d.search.extend(o.get("dns_search") or ())
    d.options.extend(o.get("dns_option") or ())
    if not (d.nameservers or d.search or d.options):
        c.ClearField("dns_config")
    _log_driver(t, o)


def apply_update(t: TaskSpec, o: Mapping[str, Any]) -> None:
    c = t.container
    _apply_health(c, o, update=True)
    _scalars(c, o)
    if o.get("cap_add") or o.get("cap_drop"):
        add, drop = _caps(o.get("cap_add") or ()), _caps(o.get("cap_drop") or ())
        adds = [x for x in c.capability_add if x not in drop] + [x for x in add if x not in c.capability_add]
        drops = [x for x in c.capability_drop if x not in add] + [x for x in drop if x not in c.capability_drop]
        del c.capability_add[:], c.capability_drop[:]
        c.capability_add.extend(adds)
        c.capability_drop.extend(drops)
    if o.get("group_add") or o.get("group_rm"):
        groups = [g for g in c.groups if g not in (o.get("group_rm") or ())]
        groups += [g for g in o.get("group_add") or () if g not in groups]
        del c.groups[:]
        c.groups.extend(groups)
    for k in o.get("sysctl_rm") or ():
        c.sysctls.pop(k.split("=", 1)[0], None)
    for v in o.get("sysctl_add") or ():
        k, val = parse_sysctl(v)
        c.sysctls[k] = val
    if o.get("ulimit_add") or o.get("ulimit_rm"):
        rm = {v.split("=", 1)[0] for v in o.get("ulimit_rm") or ()}
        by_name = {u.name: u for u in c.ulimits if u.name not in rm}
        for v in o.get("ulimit_add") or ():
            u = parse_ulimit(v)
            by_name[u.name] = u
        kept = [Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in by_name.values()]
        del c.ulimits[:]
        c.ulimits.extend(kept)
    if o.get("host_add") or o.get("host_rm"):
        hosts = list(c.hosts)
        for v in o.get("host_rm") or ():             # `name:ip` removes that entry, `name` every one
            if ":" in v or "=" in v:
                entry = parse_host(v)
                hosts = [h for h in hosts if h != entry]
            else:
                hosts = [h for h in hosts if v not in h.split()[1:]]
        hosts += [e for e in (parse_host(v) for v in o.get("host_add") or ()) if e not in hosts]
        del c.hosts[:]
        c.hosts.extend(hosts)
    if o.get("generic_resource_add") or o.get("generic_resource_rm"):
        res = t.resources.reservations
        rm = {v.split("=", 1)[0] for v in o.get("generic_resource_rm") or ()}
        by_kind = {g.discrete.kind: g for g in res.generic if g.discrete.kind not in rm}
        for v in o.get("generic_resource_add") or ():
            g = parse_generic_resource(v, "--generic-resource-add")
            by_kind[g.discrete.kind] = g
        generic = [GenericResource(discrete=GenericResource.Discrete(kind=g.discrete.kind, value=g.discrete.value))
                   for g in by_kind.values()]
        del res.generic[:]
        res.generic.extend(generic)
    if any(o.get(f"dns{k}_{op}") for k in ("", "_search", "_option") for op in ("add", "rm")):
        d = c.dns_config
        _update_list(d.nameservers, [_nameserver(v, "--dns-rm") for v in o.get("dns_rm") or ()],
                     [_nameserver(v, "--dns-add") for v in o.get("dns_add") or ()])
        _update_list(d.search, o.get("dns_search_rm") or (), o.get("dns_search_add") or ())
        _update_list(d.options, o.get("dns_option_rm") or (), o.get("dns_option_add") or ())
        if not (d.nameservers or d.search or d.options):
            c.ClearField("dns_config")
    _log_driver(t, o)
