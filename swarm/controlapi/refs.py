"""What a service's container spec refers to: secrets, configs, mounts -- checked before the
spec is stored (swarmkit ``controlapi/service.go``: ``checkSecretExistence``,
``validateSecretRefsSpec``, their config twins, and ``validateMounts``).

References come from the CLI by name (or id); each is resolved to the stored object, its id
and name filled in, and its file target completed with Docker's defaults (target = the name,
uid and gid ``"0"``, mode 0444). Any that is missing is named in one refusal
(``secret not found: a, b``); two references with one target are refused; nothing is stored.
"""

from __future__ import annotations

import posixpath
from typing import Any

from swarm.api.objects_pb2 import Config, Secret
from swarm.api.specs_pb2 import ServiceSpec
from swarm.api.types_pb2 import Mount
from swarm.controlapi.common import Context
from swarm.controlapi.errors import InvalidArgumentError

DEFAULT_MODE = 0o444


def check_references(ctx: Context, spec: ServiceSpec) -> None:
    """Resolve and complete ``spec``'s secret and config references in place; refuse bad ones."""
    c = spec.task.container
    _resolve(c.secrets, ctx.read.list(Secret), "secret", "secret_id", "secret_name")
    _resolve(c.configs, ctx.read.list(Config), "config", "config_id", "config_name")
    validate_mounts(list(c.mounts))


def _resolve(refs: Any, stored: list[Any], kind: str, id_field: str, name_field: str) -> None:
    by_id = {o.id: o for o in stored}
    by_name = {o.spec.annotations.name: o for o in stored}
    missing: list[str] = []
    targets: dict[str, str] = {}
    for ref in refs:
        oid, name = getattr(ref, id_field), getattr(ref, name_field)
        obj = by_id.get(oid) if oid else by_name.get(name)
        if obj is None or (name and obj.spec.annotations.name != name):
            missing.append(name or oid)
            continue
        setattr(ref, id_field, obj.id)
        setattr(ref, name_field, obj.spec.annotations.name)
        f = ref.file
        f.name = f.name or obj.spec.annotations.name
        f.uid = f.uid or "0"
        f.gid = f.gid or "0"
        f.mode = f.mode or DEFAULT_MODE
        label = f"{kind} reference {obj.spec.annotations.name}"
        for what, v in (("uid", f.uid), ("gid", f.gid)):
            if not v.isdigit():
                raise InvalidArgumentError(f"{label}: invalid {what} {v!r}")
        if f.mode > 0o7777:
            raise InvalidArgumentError(f"{label}: invalid mode {f.mode:o}")
        prev = targets.get(f.name)
        if prev is not None:
            raise InvalidArgumentError(f"{kind} references '{prev}' and '{obj.spec.annotations.name}' have a "
                                       f"conflicting target: '{f.name}'")
        targets[f.name] = obj.spec.annotations.name
    if missing:
        word = kind if len(missing) == 1 else kind + "s"
        raise InvalidArgumentError(f"{word} not found: {', '.join(missing)}")


_TYPE_OPTIONS = {Mount.BIND: "bind_options", Mount.VOLUME: "volume_options", Mount.TMPFS: "tmpfs_options"}


def validate_mounts(mounts: list[Mount]) -> None:
    """The manager's checks (the node checks the host side: a bind source must exist there)."""
    seen: set[str] = set()
    for m in mounts:
        target = m.target
        if not target:
            raise InvalidArgumentError("ContainerSpec: mount target must be provided")
        if not target.startswith("/"):
            raise InvalidArgumentError("ContainerSpec: invalid mount target, must be an absolute path: "
                                       f"{target}")
        norm = posixpath.normpath(target)
        if norm == "/":
            raise InvalidArgumentError("ContainerSpec: invalid mount target: / cannot be a mount point")
        if norm in seen:
            raise InvalidArgumentError(f"ContainerSpec: duplicate mount point: {target}")
        seen.add(norm)
        if m.type not in _TYPE_OPTIONS:
            raise InvalidArgumentError(f"ContainerSpec: invalid mount type {m.type}")
        for t, opt in _TYPE_OPTIONS.items():
            if t != m.type and m.HasField(opt):            # type: ignore[arg-type]
                kind = Mount.Type.Name(m.type).lower()
                raise InvalidArgumentError(f"ContainerSpec: cannot mix '{opt.split('_')[0]}' options with "
                                           f"mount type '{kind}'")
        if m.type == Mount.BIND:
            if not m.source:
                raise InvalidArgumentError("ContainerSpec: invalid bind mount source, source is required")
            if not m.source.startswith("/"):
                raise InvalidArgumentError("ContainerSpec: invalid bind mount source, must be an absolute "
                                           f"path: {m.source}")
            if posixpath.normpath(m.source) == "/":
                raise InvalidArgumentError("ContainerSpec: invalid bind mount source: / cannot be mounted")
        elif m.type == Mount.TMPFS:
            if m.source:
                raise InvalidArgumentError("ContainerSpec: invalid tmpfs source, source must be empty")
            if m.tmpfs_options.size_bytes < 0:
                raise InvalidArgumentError("ContainerSpec: invalid tmpfs size, must not be negative")
            if m.tmpfs_options.mode > 0o7777:
                raise InvalidArgumentError(f"ContainerSpec: invalid tmpfs mode {m.tmpfs_options.mode:o}")
        elif m.type == Mount.VOLUME:
            drv = m.volume_options.driver_config.name
            if drv not in ("", "local"):
                raise InvalidArgumentError(f"ContainerSpec: volume driver {drv!r} is not supported "
                                           "(local only)")
            if m.source and "/" in m.source:
                raise InvalidArgumentError(f"ContainerSpec: invalid volume name {m.source!r}")
