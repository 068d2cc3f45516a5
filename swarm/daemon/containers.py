"""The node's task containers as Docker shows them: `docker ps`, `docker inspect`, `docker logs`.

The runtime executor lists what the runtime holds (``RuntimeExecutor.containers``: state,
``config.json``, health); this module renders Docker's ``ContainerSummary`` and
``ContainerInspectResponse`` from it, and finds a container the way dockerd does (full id, then
name with or without its ``/``, then a unique id prefix). A node without the runtime executor
(the fake one of the loopback tests) or not in a swarm has no containers.

``ls`` filters are dockerd's names: ``id`` (prefix), ``name`` (substring), ``label=k[=v]``,
``status``, ``health``, ``is-task``; any other key is refused naming it. Every container here is
a task's, so ``is-task=false`` matches none.

Networking as dockerd shows a swarm task's container (moby ``daemon/cluster/executor/container``,
``container/view.go``): ``NetworkSettings.Networks`` keyed by network name, one entry per
interface of the task's sandbox as the network layer reports it (``RuntimeExecutor`` puts them in
the view), with no ``Aliases`` (swarm's executor sets none: service aliases resolve to the VIP)
and dockerd's ``DNSNames`` (name, short id, hostname); ``SandboxKey`` the netns path; ``Ports``
the task's host-mode published ports only (ingress-mode ones are the routing mesh's, never the
container's, in Docker too). The list's ``Networks`` carry what moby's view copies (no
``Aliases``/``DNSNames``).

What Docker has and pyswarm does not is reported as Docker reports its absence (no restart
policy on the container: the orchestrator restarts tasks), never invented.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from swarm.api import daemon_pb2 as d
from swarm.daemon.errors import DaemonError, InvalidRequestError
from swarm.shapes.units import human_duration

LIST_FILTERS = ("id", "name", "label", "status", "health", "is-task")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTHS = ("starting", "healthy", "unhealthy", "none")
ZERO_TIME = "0001-01-01T00:00:00Z"
TASK_ID_LABEL = "com.docker.swarm.task.id"


class NoSuchContainerError(DaemonError):
    code = "NOT_FOUND"

    def __init__(self, ref: str) -> None:
        super().__init__(f"No such container: {ref}")


class AmbiguousContainerError(DaemonError):
    code = "INVALID_ARGUMENT"

    def __init__(self, ref: str) -> None:
        super().__init__(f"multiple IDs found with provided prefix: {ref}")


def _views(daemon: Any) -> Callable[[], Any] | None:
    executor = getattr(getattr(daemon, "agent", None), "executor", None)
    return getattr(executor, "container_views", None)


async def all_views(daemon: Any) -> list[Any]:
    """Every task container of the node (none without the runtime executor)."""
    views = _views(daemon)
    return list(await views()) if views is not None else []


def _epoch(ts: str | None) -> float | None:
    """An RFC 3339 time with up to nanoseconds (what the shim writes) as seconds."""
    if not ts:
        return None
    head, _, frac = ts.rstrip("Z").partition(".")
    try:
        base = datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return None
    return base + (float("0." + frac) if frac.isdigit() else 0.0)


def _health_status(v: Any) -> str:
    return str(v.health["Status"]) if v.health else ""


def status_text(v: Any, now: float | None = None) -> str:
    """moby's ``State.String()``: "Up 3 minutes (healthy)", "Exited (0) 5 seconds ago"."""
    now = time.time() if now is None else now
    st = v.state
    if st.status == "running":
        started = _epoch(st.started_at) or now
        health = {"starting": " (health: starting)", "healthy": " (healthy)",
                  "unhealthy": " (unhealthy)"}.get(_health_status(v), "")
        return f"Up {human_duration(now - started)}{health}"
    if st.status == "removing":
        return "Removal In Progress"
    if st.status == "exited":
        finished = _epoch(st.finished_at)
        if finished is None:
            return f"Exited ({st.exit_code or 0})"
        return f"Exited ({st.exit_code or 0}) {human_duration(now - finished)} ago"
    return "Created"


def _process(v: Any) -> dict[str, Any]:
    p = v.config.get("process")
    return p if isinstance(p, dict) else {}


def _argv(v: Any) -> list[str]:
    return [str(a) for a in _process(v).get("argv") or []]


def _mount(m: dict[str, Any]) -> dict[str, Any]:
    """One ``config.json`` mount entry as Docker's ``MountPoint`` (a volume is bound from its
    ``_data`` directory, so the entry names it in ``volume``)."""
    rw = not m.get("read_only", False)
    if m.get("volume"):
        return {"Type": "volume", "Name": m["volume"], "Source": m.get("source", ""),
                "Destination": m.get("target", ""), "Driver": "local", "Mode": "z", "RW": rw,
                "Propagation": ""}
    kind = m.get("type", "bind")
    return {"Type": kind, "Source": m.get("source", "") if kind != "tmpfs" else "",
            "Destination": m.get("target", ""), "Mode": "", "RW": rw,
            "Propagation": m.get("propagation", "") if kind == "bind" else ""}


def _mounts(v: Any) -> list[dict[str, Any]]:
    return [_mount(m) for m in v.config.get("mounts") or []]


def container_name(v: Any) -> str:
    """Docker's container name, ``svc.slot.taskID``: unique, unlike the task's own name (``web.2``,
    which an old task of the same slot shares)."""
    name = v.state.name or v.state.id
    task_id = v.state.labels.get(TASK_ID_LABEL, "")
    return f"{name}.{task_id}" if task_id and not name.endswith(task_id) else name


def _dns_names(v: Any) -> list[str]:
    """moby's ``buildEndpointDNSNames``: the name, (aliases: none), the short id, the hostname."""
    names = [container_name(v), v.state.id[:12], str(_process(v).get("hostname") or "")]
    return list(dict.fromkeys(n for n in names if n))


def _endpoint(v: Any, e: Any, inspect: bool) -> dict[str, Any]:
    """One ``EndpointSettings`` from a ``SandboxEndpoint`` (the list has moby's view's subset)."""
    ip, _, prefix = e.ip_cidr.partition("/")
    return {
        "IPAMConfig": {"IPv4Address": ip},
        "Links": None,
        "Aliases": None,
        "MacAddress": e.mac_address,
        "DriverOpts": None,
        "NetworkID": e.network_id,
        "EndpointID": e.endpoint_id,
        "Gateway": e.gateway,
        "IPAddress": ip,
        "IPPrefixLen": int(prefix) if prefix.isdigit() else 32,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": _dns_names(v) if inspect else None,
    }


def _networks(v: Any, inspect: bool) -> dict[str, Any]:
    """Keyed by network name, in name order (as Go marshals a map)."""
    ordered = sorted(v.endpoints, key=lambda e: e.network_name)
    return {e.network_name: _endpoint(v, e, inspect) for e in ordered}


def _port_key(p: Any) -> str:
    return f"{p.target}/{p.protocol}"


def _port_list(v: Any) -> list[dict[str, Any]]:
    """``ContainerSummary.Ports`` (moby's ``container/view.go``): one entry per binding, the bare
    container port for an unbound one."""
    return [{"IP": p.host_ip, "PrivatePort": p.target, "PublicPort": p.published, "Type": p.protocol}
            if p.published else {"PrivatePort": p.target, "Type": p.protocol} for p in v.ports]


def _port_map(v: Any, host_ip: bool) -> dict[str, Any]:
    """``NetworkSettings.Ports`` (the bound address) or ``HostConfig.PortBindings`` (as asked:
    no address); an unbound port is ``null`` there."""
    return {_port_key(p): [{"HostIp": p.host_ip if host_ip else "", "HostPort": str(p.published)}]
            if p.published else None for p in v.ports}


def summary(v: Any, now: float | None = None) -> dict[str, Any]:
    """Docker's ``ContainerSummary`` (GET /containers/json)."""
    st = v.state
    argv = _argv(v)
    return {
        "Id": st.id,
        "Names": ["/" + container_name(v)],
        "Image": v.config.get("image") or v.config.get("image_id") or "",
        "ImageID": v.config.get("image_id") or "",
        "Command": " ".join(argv),
        "Created": int(_epoch(st.created_at) or _epoch(st.started_at) or 0),
        "Ports": _port_list(v),
        "Labels": dict(st.labels),
        "State": str(st.status),
        "Status": status_text(v, now),
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": _networks(v, inspect=False)},
        "Mounts": _mounts(v),
    }


def inspect_doc(v: Any) -> dict[str, Any]:
    """Docker's ``ContainerInspectResponse`` (GET /containers/{id}/json)."""
    st, cfg, proc = v.state, v.config, _process(v)
    argv = _argv(v)
    running = st.status == "running"
    state: dict[str, Any] = {
        "Status": str(st.status), "Running": running, "Paused": False, "Restarting": False,
        "OOMKilled": st.oom_killed, "Dead": False, "Pid": st.pid if running and st.pid else 0,
        "ExitCode": st.exit_code or 0, "Error": st.error or "",
        "StartedAt": st.started_at or ZERO_TIME, "FinishedAt": st.finished_at or ZERO_TIME,
    }
    if v.health:
        state["Health"] = v.health
    limits = cfg.get("limits") or {}
    rootfs = str(cfg.get("rootfs") or "")
    return {
        "Id": st.id,
        "Created": st.created_at or st.started_at or ZERO_TIME,
        "Path": argv[0] if argv else "",
        "Args": argv[1:],
        "State": state,
        "Image": cfg.get("image_id") or "",
        "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "",
        "LogPath": str(rootfs.rsplit("/", 1)[0] + "/container.log") if rootfs else "",
        "Name": "/" + container_name(v),
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {
            "NetworkMode": "default",
            "PortBindings": _port_map(v, host_ip=False),
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "LogConfig": {"Type": cfg.get("log_driver") or "json-file", "Config": _log_opts(cfg)},
            "ReadonlyRootfs": bool(cfg.get("read_only")),
            "Init": None,
            "Memory": limits.get("memory_bytes") or 0,
            "NanoCpus": limits.get("nano_cpus") or 0,
            "PidsLimit": limits.get("pids") or None,
            "Sysctls": dict(cfg.get("sysctls") or {}) or None,
            "OomScoreAdj": proc.get("oom_score_adj") or 0,
            "GroupAdd": list(proc.get("groups") or []) or None,
            "Ulimits": [{"Name": n, "Soft": s, "Hard": h} for n, s, h in proc.get("rlimits") or []] or None,
        },
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": ":".join(cfg.get("lowers") or []), "UpperDir": cfg.get("upper", ""),
            "WorkDir": cfg.get("work", ""), "MergedDir": rootfs}},
        "Mounts": _mounts(v),
        "Config": {
            "Hostname": proc.get("hostname", ""), "Domainname": "", "User": proc.get("user", ""),
            "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
            "Tty": bool(cfg.get("tty")), "OpenStdin": False, "StdinOnce": False,
            "ExposedPorts": {_port_key(p): {} for p in v.ports} or None,
            "Env": list(proc.get("env") or []),
            "Cmd": argv,
            "Image": cfg.get("image") or "",
            "Volumes": None,
            "WorkingDir": proc.get("cwd", ""),
            "Entrypoint": None,
            "OnBuild": None,
            "Labels": dict(st.labels),
            "StopSignal": cfg.get("stop_signal") or "SIGTERM",
        },
        "NetworkSettings": {"Bridge": "", "SandboxID": "", "SandboxKey": cfg.get("netns_path") or "",
                            "Ports": _port_map(v, host_ip=True), "Networks": _networks(v, inspect=True)},
    }


def _log_opts(cfg: dict[str, Any]) -> dict[str, str]:
    out = {}
    if cfg.get("log_max_bytes"):
        out["max-size"] = str(cfg["log_max_bytes"])
    if (cfg.get("log_max_files") or 1) > 1:
        out["max-file"] = str(cfg["log_max_files"])
    return out


def _filters(raw: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in raw:
        k, sep, val = f.partition("=")
        if not sep or k not in LIST_FILTERS:
            raise InvalidRequestError(f"invalid filter '{k if sep else f}'")
        if k == "status" and val not in STATUSES:
            raise InvalidRequestError(f"invalid filter 'status={val}'")
        if k == "health" and val not in HEALTHS:
            raise InvalidRequestError(f"Unrecognised filter value for health: {val}")
        if k == "is-task" and val not in ("true", "false", "1", "0"):
            raise InvalidRequestError(f"invalid filter 'is-task={val}'")
        out.setdefault(k, []).append(val)
    return out


def _matches(v: Any, f: dict[str, list[str]]) -> bool:
    st = v.state
    if "id" in f and not any(st.id.startswith(x) for x in f["id"]):
        return False
    if "name" in f and not any(x.lstrip("/") in container_name(v) for x in f["name"]):
        return False
    for want in f.get("label", []):
        k, sep, val = want.partition("=")
        if k not in st.labels or (sep and st.labels[k] != val):
            return False
    if "status" in f and str(st.status) not in f["status"]:
        return False
    if "health" in f and (_health_status(v) or "none") not in f["health"]:
        return False
    return not ("is-task" in f and not any(x in ("true", "1") for x in f["is-task"]))


async def list_containers(daemon: Any, req: d.ContainerListRequest) -> d.ContainerListResponse:
    f = _filters(req.filters)
    views = await all_views(daemon)
    now = time.time()
    found = [v for v in views
             if (req.all or v.state.status == "running" or "status" in f) and _matches(v, f)]
    found.sort(key=lambda v: _epoch(v.state.created_at) or 0.0, reverse=True)   # newest first
    return d.ContainerListResponse(containers_json=[json.dumps(summary(v, now)) for v in found])


def find(views: list[Any], ref: str) -> Any:
    """dockerd's lookup: full id, then name, then a unique id prefix."""
    if not ref:
        raise NoSuchContainerError(ref)
    for v in views:
        if v.state.id == ref:
            return v
    for v in views:
        if container_name(v) == ref.lstrip("/"):
            return v
    hits = [v for v in views if v.state.id.startswith(ref)]
    if len(hits) > 1:
        raise AmbiguousContainerError(ref)
    if not hits:
        raise NoSuchContainerError(ref)
    return hits[0]


async def inspect(daemon: Any, req: d.ContainerInspectRequest) -> d.ContainerInspectResponse:
    v = find(await all_views(daemon), req.id)
    return d.ContainerInspectResponse(container_json=json.dumps(inspect_doc(v)))


async def logs(daemon: Any, req: d.ContainerLogsRequest) -> AsyncIterator[d.ContainerLogLine]:
    v = find(await all_views(daemon), req.id)
    task_id = v.state.labels.get(TASK_ID_LABEL, "")
    if not task_id:
        raise NoSuchContainerError(req.id)
    async for rec in daemon.agent.executor.logs(task_id, follow=req.follow, tail=req.tail):
        yield d.ContainerLogLine(timestamp=rec.timestamp, stream=rec.stream, data=rec.data)
