"""Container configuration and state types, and Docker's rules for merging them with an image.

Merge rules (moby ``daemon/create.go`` + swarmkit's container adapter):
* ``command`` (swarm ``--entrypoint``/ContainerSpec.Command) replaces the image entrypoint
  and then the image ``Cmd`` is **not** used; ``args`` replaces ``Cmd``. With neither, the
  image's entrypoint + cmd run. Empty result -> :class:`InvalidConfigError` ("no command").
* env: image env, then the task's ``KEY=VALUE`` entries override by key; ``PATH`` defaults to
  Docker's; ``HOSTNAME`` is set; ``HOME`` is added inside the container from ``/etc/passwd``.
* workdir: task, else image, else ``/`` (created if missing, like Docker).
* user: task, else image, else root; resolved inside the container against its own
  ``/etc/passwd``/``/etc/group`` (``name``, ``uid``, ``uid:gid``, ``name:group``).
* limits: memory >= 6 MiB (Docker's minimum), nano_cpus >= 0.01 CPU, pids >= 1; 0/None means
  unlimited; anything else is an :class:`InvalidConfigError` (a ``ValueError``).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.runtime.errors import InvalidConfigError
from node.runtime.mounts import File, Mount, check_runtime_mount, validate_file

__all__ = [
    "DEFAULT_PATH",
    "MIN_MEMORY",
    "ContainerConfig",
    "ContainerState",
    "ExecResult",
    "File",
    "Limits",
    "LogLine",
    "Mount",
    "Status",
    "image_parts",
    "merge_process",
    "validate",
]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIN_MEMORY = 6 * 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$")
_SYSCTL = re.compile(r"^[a-z0-9_]+(?:\.[A-Za-z0-9_-]+)+$")


class Status(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    REMOVING = "removing"


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = None
    nano_cpus: int | None = None
    pids: int | None = None

    def validate(self) -> None:
        m, c, p = self.memory_bytes, self.nano_cpus, self.pids
        if m is not None and m != 0 and (not isinstance(m, int) or m < MIN_MEMORY):
            raise InvalidConfigError(f"invalid memory limit {m!r}: minimum is 6 MiB ({MIN_MEMORY} bytes)")
        if c is not None and c != 0 and (not isinstance(c, int) or c < 10_000_000):
            raise InvalidConfigError(f"invalid nano_cpus {c!r}: minimum is 0.01 CPU (10000000)")
        if p is not None and p != 0 and (not isinstance(p, int) or p < 1):
            raise InvalidConfigError(f"invalid pids limit {p!r}: must be >= 1")


#: setrlimit resources by Docker's --ulimit names.
ULIMITS = {"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
           "fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
           "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
           "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
           "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK"}
#: The sysctls Docker lets a container set (they are per namespace: ipc, mqueue, net).
SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                     "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})
SYSCTL_PREFIXES = ("fs.mqueue.", "net.")


@dataclass(frozen=True)
class Ulimit:
    name: str           # a key of ULIMITS
    soft: int           # -1 = unlimited
    hard: int


@dataclass(frozen=True)
class ContainerConfig:
    """What to run. ``image`` is an ``node.images.Image`` or a ``(layer_dirs, ImageConfig)``
    pair (layer dirs bottom -> top)."""

    id: str
    image: Any
    name: str = ""
    image_ref: str = ""                            # what the user asked for (Docker's Config.Image)
    command: Sequence[str] | None = None
    args: Sequence[str] | None = None
    env: Sequence[str] = ()
    workdir: str = ""
    user: str = ""
    hostname: str = ""
    limits: Limits = field(default_factory=Limits)
    netns_path: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    mounts: Sequence[Mount] = ()                   # node.runtime.mounts
    files: Sequence[File] = ()                     # secrets/configs: on a tmpfs, bound read-only
    read_only: bool = False
    tty: bool = False                              # -t: stdin/stdout/stderr on a pseudo-terminal
    capabilities: Sequence[str] | None = None      # None = Docker's default set
    seccomp: bool = True
    log_max_bytes: int = 0                         # json-file max-size; 0 = unlimited (Docker)
    log_max_files: int = 1                         # json-file max-file (incl. the current one)
    log_driver: str = "json-file"                  # or "none": the output is dropped
    init: bool = False                             # Docker's --init: tini as pid 1 (reaps, forwards)
    groups: Sequence[str] = ()                     # --group: extra groups (names or gids, in the image)
    sysctls: dict[str, str] = field(default_factory=dict)   # namespaced ones only (Docker's list)
    ulimits: Sequence[Ulimit] = ()                 # --ulimit nofile=1024:2048
    oom_score_adj: int | None = None               # --oom-score-adj, -1000..1000
    extra_hosts: Sequence[tuple[str, str]] = ()    # --host name:ip -> /etc/hosts


@dataclass(frozen=True)
class ContainerState:
    id: str
    status: Status
    pid: int | None = None
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    oom_killed: bool = False
    error: str | None = None
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    shim_pid: int | None = None
    created_at: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ContainerState:
        return cls(id=d["id"], status=Status(d["status"]), pid=d.get("pid"), exit_code=d.get("exit_code"),
                   started_at=d.get("started_at"), finished_at=d.get("finished_at"),
                   oom_killed=bool(d.get("oom_killed")), error=d.get("error"), name=d.get("name", ""),
                   labels=dict(d.get("labels") or {}), shim_pid=d.get("shim_pid"),
                   created_at=d.get("created_at"))


@dataclass(frozen=True)
class LogLine:
    ts: str           # RFC 3339 with nanoseconds, UTC
    stream: str       # "stdout" | "stderr"
    data: str         # the line including its trailing newline (if it had one)


def image_parts(image: Any) -> tuple[list[Path], Any]:
    """Return (layer dirs bottom->top, image config) from an Image or a (layers, config) pair."""
    if isinstance(image, tuple | list) and len(image) == 2:
        layers, cfg = image
    else:
        layers, cfg = getattr(image, "layers", None), getattr(image, "config", None)
    if not layers:
        raise InvalidConfigError("image has no layers")
    return [Path(p) for p in layers], cfg


def merge_process(cfg: ContainerConfig, image_cfg: Any) -> dict[str, Any]:
    """Docker's entrypoint/cmd/env/workdir/user merge; returns the shim's ``process`` dict."""
    img_ep = list(getattr(image_cfg, "entrypoint", ()) or ())
    img_cmd = list(getattr(image_cfg, "cmd", ()) or ())
    if cfg.command:
        argv = list(cfg.command) + list(cfg.args or ())
    else:
        argv = img_ep + (list(cfg.args) if cfg.args else img_cmd)
    if not argv:
        raise InvalidConfigError("no command specified (image has no entrypoint or cmd)")
    hostname = cfg.hostname or cfg.id[:12]
    if not _HOSTNAME.match(hostname):
        raise InvalidConfigError(f"invalid hostname {hostname!r}")
    env: dict[str, str] = {"HOSTNAME": hostname}
    for item in [*(getattr(image_cfg, "env", ()) or ()), *cfg.env]:
        k, sep, v = item.partition("=")
        if not k or not sep:
            raise InvalidConfigError(f"invalid environment entry {item!r} (want KEY=VALUE)")
        env[k] = v
    env.setdefault("PATH", DEFAULT_PATH)
    workdir = cfg.workdir or getattr(image_cfg, "workdir", "") or "/"
    if not workdir.startswith("/"):
        raise InvalidConfigError(f"workdir {workdir!r} must be absolute")
    user = cfg.user or getattr(image_cfg, "user", "") or "0"
    return {"argv": argv, "env": [f"{k}={v}" for k, v in env.items()], "cwd": workdir,
            "user": user, "hostname": hostname, "groups": list(cfg.groups),
            "rlimits": [[u.name, u.soft, u.hard] for u in cfg.ulimits],
            "oom_score_adj": cfg.oom_score_adj}


def validate(cfg: ContainerConfig) -> None:
    if not _ID.match(cfg.id or ""):
        raise InvalidConfigError(f"invalid container id {cfg.id!r}")
    cfg.limits.validate()
    for m in cfg.mounts:
        if not m.target.startswith("/") or ".." in m.target.split("/"):
            raise InvalidConfigError(f"mount target {m.target!r} must be an absolute path without '..'")
        if m.type == "bind" and not Path(m.source).exists():
            raise InvalidConfigError(f"bind source {m.source!r} does not exist")
        check_runtime_mount(m)
    for f in cfg.files:
        validate_file(f)
        if ".." in f.target.split("/"):
            raise InvalidConfigError(f"file target {f.target!r} must not contain '..'")
    if cfg.netns_path is not None and not Path(cfg.netns_path).exists():
        raise InvalidConfigError(f"netns path {cfg.netns_path!r} does not exist")
    if cfg.log_driver not in ("json-file", "none"):
        raise InvalidConfigError(f"log driver {cfg.log_driver!r} is not supported (json-file or none)")
    for key, value in cfg.sysctls.items():
        if (key not in SYSCTLS and not key.startswith(SYSCTL_PREFIXES)) or not _SYSCTL.match(key):
            raise InvalidConfigError(f"sysctl '{key}' is not allowed")
        if "\n" in value or not value:
            raise InvalidConfigError(f"sysctl '{key}': invalid value {value!r}")
    seen: set[str] = set()
    for u in cfg.ulimits:
        if u.name not in ULIMITS:
            raise InvalidConfigError(f"invalid ulimit type: {u.name}")
        if u.name in seen:
            raise InvalidConfigError(f"ulimit {u.name} given twice")
        seen.add(u.name)
        if u.soft < -1 or u.hard < -1:
            raise InvalidConfigError(f"invalid ulimit {u.name}: limits must be -1 (unlimited) or more")
        if u.hard != -1 and (u.soft == -1 or u.soft > u.hard):
            raise InvalidConfigError(f"ulimit soft limit must be less than or equal to hard limit: "
                                     f"{u.soft} > {u.hard}")
    if cfg.oom_score_adj is not None and not -1000 <= cfg.oom_score_adj <= 1000:
        raise InvalidConfigError(f"Invalid value {cfg.oom_score_adj}, range for oom score adj is "
                                 "[-1000, 1000]")
    for g in cfg.groups:
        if not g or ":" in g or "\n" in g:
            raise InvalidConfigError(f"invalid group {g!r}")
    for host, ip in cfg.extra_hosts:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidConfigError(f"invalid IP address in add-host: {ip!r}") from None
        if not host or any(c.isspace() for c in host):
            raise InvalidConfigError(f"invalid host name in add-host: {host!r}")


@dataclass(frozen=True)
class ExecResult:
    """What :meth:`node.runtime.Runtime.exec` reports of a process run in a container."""

    exit_code: int                  # 128+N if killed by signal N; 126/127 if it could not exec
    output: bytes                   # stdout and stderr, interleaved, up to ``max_output`` bytes
    timed_out: bool = False         # killed at the timeout
    truncated: bool = False         # more output than ``max_output`` was written
    error: str = ""                 # why the exec itself failed (``exec: "x": not found``)
