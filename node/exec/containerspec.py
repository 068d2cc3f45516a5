"""From a swarm ``Task`` to a ``node.runtime.ContainerConfig`` (moby's ``container adapter``).

* The container id is derived from the task id (``sha256("pyswarm-task:" + id)``, cut to 32
  hex digits: the runtime's ``<root>/containers/<id>/shim.sock`` must fit AF_UNIX's 107
  bytes, and 64 digits under ``/var/lib/swarm/runtime`` do not), so a restarted agent finds a
  task's container by computing its id -- no scan, and a crash between "create" and
  "record it" cannot leave a twin behind.
  The hostname defaults to the first 12 digits, as Docker's does.
* The name is Docker's ``<service>.<slot>.<taskID>`` (``<service>.<nodeID>.<taskID>`` for
  global services), the labels Docker's ``com.docker.swarm.*`` ones.
* Image config merging (``command`` replaces the entrypoint and drops the image's ``Cmd``;
  ``args`` replace ``Cmd``; env merged by key; ``dir``; ``user``) is done by
  ``node.runtime.spec.merge_process``, which implements Docker's rules; we pass the spec's
  fields through unchanged and leave unset ones empty.
* Templates in ``hostname`` and ``env`` (``{{.Service.Name}}``, ``{{.Node.Hostname}}``,
  ``{{.Task.Slot}}`` ...) are expanded here; an unknown placeholder rejects the task, as a
  template error does in Docker.
* Capabilities: Docker's default set, then ``capability_drop`` (``ALL`` drops every one),
  then ``capability_add``; names with or without ``CAP_``.
* Networks: a task with networks joins the sandbox netns the executor had ``node.network``
  create (``netns_path``) and gets that sandbox's resolv.conf bind-mounted read-only.
* Mounts (:func:`mounts`): ``ContainerSpec.mounts`` become ``node.runtime.mounts.Mount`` (type,
  source, target, readonly, bind propagation, volume nocopy/labels/driver, tmpfs size/mode);
  secrets and configs (:func:`files`) become files on the container's tmpfs
  (``/run/secrets/<target>``, ``/<target>``) with their values from the node's in-memory store.
  A referenced one the node does not hold rejects the task with Docker's words (``unable to get
  secret from secret store: secret <id> not found``), unless no COMPLETE assignment set has
  arrived yet (a task resumed before the first session): then it is a temporary error, retried.
  Everything the user asked for goes through ``validate_mounts`` with the node's data root
  protected, so a bad bind rejects the task with Docker's message; the resolv.conf bind the
  network layer adds (under the data root) is added after that check.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from node.exec.errors import DependencyNotReceivedError, InvalidSpecError
from node.exec.executor import Dependencies, task_labels, task_name
from node.runtime.errors import InvalidConfigError
from node.runtime.mounts import File, Mount, VolumeOptions, config_file, secret_file, validate_mounts
from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import FileTarget
from swarm.api.types_pb2 import Mount as MountSpec

_TEMPLATE = re.compile(r"\{\{\s*\.(\w+)\.(\w+)\s*\}\}")


def container_id(task_id: str) -> str:
    return hashlib.sha256(f"pyswarm-task:{task_id}".encode()).hexdigest()[:32]


def expand(text: str, task: Task, node_hostname: str) -> str:
    """Expand Docker's service templates in ``text``."""
    from node.exec.templates import context

    # the scalar fields of the templates' context (.Service.Name, .Task.Slot, ...)
    values = {(kind, key): v for kind, fields in context(task, node_hostname).items()
              for key, v in fields.items() if isinstance(v, str)}

    def sub(m: re.Match[str]) -> str:
        key = (m.group(1), m.group(2))
        if key not in values:
            raise InvalidSpecError(f"template: unsupported placeholder {m.group(0)!r} in {text!r}")
        return values[key]

    return _TEMPLATE.sub(sub, text) if "{{" in text else text


def capabilities(default: tuple[str, ...], add: list[str], drop: list[str]) -> list[str] | None:
    """The capability set for the spec's add/drop lists; ``None`` = the runtime's default."""
    if not add and not drop:
        return None

    def norm(c: str) -> str:
        c = c.strip().upper()
        return c[4:] if c.startswith("CAP_") else c

    caps = set(default)
    drops = {norm(c) for c in drop}
    caps = set() if "ALL" in drops else caps - drops
    adds = {norm(c) for c in add}
    if "ALL" in adds:
        raise InvalidSpecError("capability_add ALL is not supported")
    return sorted(caps | adds)


_TYPES = {MountSpec.BIND: "bind", MountSpec.VOLUME: "volume", MountSpec.TMPFS: "tmpfs"}


def mount(m: MountSpec) -> Mount:
    """One ``ContainerSpec.mounts`` entry as the runtime's :class:`Mount` (not validated; options
    given for another type are kept, so validation names them as Docker does)."""
    volume = None
    if m.HasField("volume_options") or m.type == MountSpec.VOLUME:
        v = m.volume_options
        volume = VolumeOptions(nocopy=v.nocopy, labels=dict(v.labels),
                               driver=v.driver_config.name or "local",
                               driver_options=dict(v.driver_config.options))
    return Mount(target=m.target, source=m.source, type=_TYPES.get(m.type, f"unknown({m.type})"),
                 read_only=m.readonly, propagation=m.bind_options.propagation,
                 tmpfs_size=m.tmpfs_options.size_bytes, tmpfs_mode=m.tmpfs_options.mode,
                 volume=volume)


def mounts(task: Task) -> list[Mount]:
    return [mount(m) for m in task.spec.container.mounts]


def _owner(what: str, field: str, value: str) -> int:
    if value == "":
        return 0
    if not value.isascii() or not value.isdigit():
        raise InvalidSpecError(f"{what}: invalid {field} {value!r}: must be a non-negative number")
    return int(value)


def _file_args(what: str, f: FileTarget, default_name: str) -> tuple[str, int, int, int]:
    """(target, uid, gid, mode) of a reference's file; mode 0 (unset in proto3) = 0444."""
    mode = f.mode or 0o444
    if mode > 0o7777:
        raise InvalidSpecError(f"{what}: invalid file mode {mode:o}")
    return (f.name or default_name, _owner(what, "uid", f.uid), _owner(what, "gid", f.gid), mode)


def _value(deps: Dependencies, kind: str, oid: str) -> bytes:
    data = deps.get(kind, oid)
    if data is not None:
        return data
    msg = f"unable to get {kind} from {kind} store: {kind} {oid} not found"
    if not deps.complete:
        raise DependencyNotReceivedError(f"{msg} (not received from the manager yet)")
    raise InvalidSpecError(msg)


def _payload(deps: Dependencies, kind: str, oid: str, name: str, task: Task, node_hostname: str) -> bytes:
    """The value the container gets: as stored, or rendered for ``task`` when templated."""
    data = _value(deps, kind, oid)
    if not deps.templated(kind, oid):
        return data
    from node.exec.templates import render_payload

    return render_payload(kind, name, data, task, node_hostname, deps, _value)


def files(task: Task, deps: Dependencies, node_hostname: str = "") -> list[File]:
    """The task's secrets and configs as files, their values read from ``deps`` (templated ones
    rendered for the task: :mod:`node.exec.templates`)."""
    c = task.spec.container
    out: list[File] = []
    for s in c.secrets:
        name = s.secret_name or s.secret_id
        target, uid, gid, mode = _file_args(f"secret {name}", s.file, name)
        data = _payload(deps, "secret", s.secret_id, name, task, node_hostname)
        out.append(secret_file(name, data, target, uid, gid, mode))
    for x in c.configs:
        name = x.config_name or x.config_id
        target, uid, gid, mode = _file_args(f"config {name}", x.file, name)
        data = _payload(deps, "config", x.config_id, name, task, node_hostname)
        out.append(config_file(name, data, target, uid, gid, mode))
    return out


def user_mounts(task: Task, deps: Dependencies, protected: Sequence[str] = (),
                node_hostname: str = "") -> tuple[list[Mount], list[File]]:
    """The task's mounts and files, checked with Docker's rules (``protected``: the node's data
    root, never a bind source); :class:`InvalidSpecError` with Docker's message if not."""
    ms, fs = mounts(task), files(task, deps, node_hostname)
    try:
        validate_mounts(ms, fs, protected=protected)
    except InvalidConfigError as e:
        raise InvalidSpecError(str(e)) from None
    return ms, fs


def container_config(task: Task, image: Any, node_hostname: str, default_caps: tuple[str, ...],
                     netns_path: str | None = None, resolv_conf: str | None = None,
                     deps: Dependencies | None = None, protected: Sequence[str] = ()) -> Any:
    """The runtime's ``ContainerConfig`` for ``task`` running ``image``.

    ``netns_path``: the task's network sandbox to join (tasks with networks; None = the
    runtime's own empty netns, as before). ``resolv_conf``: the sandbox's resolv.conf
    (nameserver 127.0.0.11, the embedded DNS), bind-mounted read-only at /etc/resolv.conf.
    ``deps``: the node's secrets and configs; ``protected``: see :func:`user_mounts`.
    """
    from node.exec.executor import NoDependencies
    from node.runtime import ContainerConfig, Limits
    from node.runtime.spec import Ulimit

    ms, fs = user_mounts(task, deps if deps is not None else NoDependencies(), protected, node_hostname)
    if resolv_conf:
        ms.append(Mount(target="/etc/resolv.conf", source=resolv_conf, type="bind", read_only=True))
    c = task.spec.container
    lim = task.spec.resources.limits
    return ContainerConfig(
        id=container_id(task.id),
        image=image,
        name=task_name(task),
        image_ref=c.image,
        command=list(c.command) or None,
        args=list(c.args) or None,
        env=[expand(e, task, node_hostname) for e in c.env] + generic_resource_env(task),
        workdir=c.dir,
        user=c.user,
        hostname=expand(c.hostname, task, node_hostname),
        limits=Limits(memory_bytes=lim.memory_bytes or None, nano_cpus=lim.nano_cpus or None,
                      pids=lim.pids or None),
        labels=task_labels(task),
        stop_signal=c.stop_signal,
        read_only=c.read_only,
        tty=c.tty,
        capabilities=capabilities(default_caps, list(c.capability_add), list(c.capability_drop)),
        netns_path=netns_path,
        mounts=tuple(ms),
        files=tuple(fs),
        init=c.init,
        groups=tuple(c.groups),
        sysctls=dict(c.sysctls),
        ulimits=tuple(Ulimit(u.name, u.soft, u.hard) for u in c.ulimits),
        oom_score_adj=c.oom_score_adj or None,
        extra_hosts=extra_hosts(c.hosts),
        # Privileges: only seccomp changes anything here (no SELinux, no AppArmor; no_new_privs
        # is always set)
        seccomp=c.privileges.seccomp.mode != c.privileges.seccomp.UNCONFINED,
        **log_options(task),
    )


def generic_resource_env(task: Task) -> list[str]:
    """The node's generic resources the scheduler gave the task, as Docker hands them to the
    container (swarmkit genericresource.EnvFormat): ``DOCKER_RESOURCE_<KIND>=v1,v2`` for named
    ones, the count for discrete ones."""
    named: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for g in task.assigned_generic_resources:
        if g.WhichOneof("resource") == "named":
            named.setdefault(g.named.kind, []).append(g.named.value)
        elif g.WhichOneof("resource") == "discrete":
            counts[g.discrete.kind] = counts.get(g.discrete.kind, 0) + g.discrete.value
    out = [f"DOCKER_RESOURCE_{k.upper()}={','.join(v)}" for k, v in named.items()]
    return out + [f"DOCKER_RESOURCE_{k.upper()}={n}" for k, n in counts.items() if k not in named]


def extra_hosts(entries: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """ContainerSpec.hosts (``"IP name [alias...]"``, Docker's API form) as (name, ip) pairs."""
    out: list[tuple[str, str]] = []
    for entry in entries:
        ip, *names = entry.split()
        if not names:
            raise InvalidSpecError(f"invalid hosts entry {entry!r}: want \"IP hostname [alias...]\"")
        out += [(n, ip) for n in names]
    return tuple(out)


_DECIMAL = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def log_options(task: Task) -> dict[str, Any]:
    """``--log-driver json-file --log-opt max-size=10m --log-opt max-file=3`` for the runtime
    (go-units FromHumanSize: decimal units, as Docker's json-file reads max-size)."""
    drv = task.spec.log_driver
    if not drv.name or drv.name == "json-file":
        opts = dict(drv.options)
        out: dict[str, Any] = {}
        if "max-size" in opts:
            m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)[bB]?", opts["max-size"].strip())
            if not m:
                raise InvalidSpecError(f"invalid max-size {opts['max-size']!r} for log driver json-file")
            out["log_max_bytes"] = int(float(m.group(1)) * _DECIMAL[m.group(2).lower()])
        if "max-file" in opts:
            if not opts["max-file"].isdigit() or int(opts["max-file"]) < 1:
                raise InvalidSpecError("max-file cannot be less than 1")
            out["log_max_files"] = int(opts["max-file"])
        unknown = set(opts) - {"max-size", "max-file", "compress", "labels", "labels-regex", "env",
                               "env-regex", "tag"}
        if unknown:
            raise InvalidSpecError(f"unknown log opt '{sorted(unknown)[0]}' for json-file log driver")
        return out
    if drv.name == "none":
        return {"log_driver": "none"}
    raise InvalidSpecError(f"log driver {drv.name!r} is not supported on this node (json-file or none)")


def log_attrs(task: Task) -> list[tuple[str, str]]:
    """The attributes Docker's json-file driver records with every line (``--log-opt
    labels=a,b``, ``labels-regex=``, ``env=A,B``, ``env-regex=``): the named container labels
    and environment variables that the task has, sorted by key."""
    opts = dict(task.spec.log_driver.options)
    c = task.spec.container
    out: dict[str, str] = {}
    labels = {**dict(task.service_annotations.labels), **dict(c.labels)}
    for k in filter(None, (x.strip() for x in opts.get("labels", "").split(","))):
        if k in labels:
            out[k] = labels[k]
    env = dict(e.split("=", 1) for e in c.env if "=" in e)
    for k in filter(None, (x.strip() for x in opts.get("env", "").split(","))):
        if k in env:
            out[k] = env[k]
    for opt, source in (("labels-regex", labels), ("env-regex", env)):
        if opts.get(opt):
            try:
                rx = re.compile(opts[opt])
            except re.error:
                continue
            out.update({k: v for k, v in source.items() if rx.search(k)})
    return sorted(out.items())
