"""The mount model: binds, tmpfs, volumes and files (secrets, configs), with Docker's rules.

What a container may ask for (``ContainerConfig.mounts`` / ``.files``):

* :class:`Mount` ``type="bind"``: a host path at ``target``; ``propagation`` one of
  ``PROPAGATIONS`` (Docker's default ``rprivate``); recursive (``rbind``) as in Docker;
* ``type="tmpfs"``: ``tmpfs_size`` bytes (0 = the kernel's default, half the RAM) and
  ``tmpfs_mode`` (0 = 1777), always ``nosuid,nodev,noexec`` (Docker's defaults);
* ``type="volume"``: a volume of the node's volume store (``source`` = its name, ``""`` = a
  new anonymous one) with :class:`VolumeOptions` (``nocopy``, ``labels``, driver ``local``);
  the runtime asks its :class:`VolumeProvider` for the host directory at create and lets go
  of it at remove; the image's content at ``target`` is copied into an empty volume unless
  ``nocopy``;
* :class:`File`: bytes put on a per-container tmpfs (never on disk) and bound read-only at
  ``target`` (:func:`secret_file`: ``/run/secrets/<name>``; :func:`config_file`: ``/<name>``).

:func:`validate_mounts` checks what a *user* asked for, before anything is created, with
Docker's messages (``invalid mount config for type "bind": bind source path does not exist:
/x``, ``duplicate mount point: /x``) and two rules of ours: neither ``/`` nor the node's data
root (nor a path inside it, nor one containing it) may be a bind source -- the data root holds
the node's TLS key and every container's files. The runtime's own mounts (the network layer's
resolv.conf under the data root) do not go through it.

:func:`runtime_entries` turns mounts into the JSON entries of ``config.json`` that the
container's first process mounts (:mod:`node.runtime.mountns`), sorted parents first.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from node.runtime.errors import InvalidConfigError

TYPES = ("bind", "volume", "tmpfs")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
DEFAULT_PROPAGATION = "rprivate"
DEFAULT_TMPFS_MODE = 0o1777
SECRETS_DIR = "/run/secrets"
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


@dataclass(frozen=True)
class VolumeOptions:
    nocopy: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    driver: str = "local"
    driver_options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Mount:
    """One mount at ``target`` (see the module docstring for the types)."""

    target: str
    source: str = ""
    type: str = "bind"
    read_only: bool = False
    options: str = ""                    # tmpfs: raw mount data (overrides tmpfs_size/mode)
    propagation: str = ""                # bind: "" = rprivate
    tmpfs_size: int = 0
    tmpfs_mode: int = 0
    volume: VolumeOptions | None = None


@dataclass(frozen=True)
class File:
    """A file made from ``data`` at ``target`` (owner ``uid:gid``, permissions ``mode``)."""

    target: str
    data: bytes = field(repr=False)
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


class VolumeAttachment(Protocol):
    """What :meth:`VolumeProvider.acquire` hands back."""

    @property
    def name(self) -> str:          # the volume's name (a new anonymous volume's generated name)
        ...

    @property
    def path(self) -> str:          # its host directory, bind-mounted at the target
        ...

    @property
    def populate(self) -> bool:     # copy the image's content at the target in if it is empty
        ...


class VolumeProvider(Protocol):
    """What the runtime needs of a volume store (``node.volumes.VolumeStore`` is one; the
    two packages never import each other: the composition root hands one to the other)."""

    def acquire(self, name: str, container_id: str, options: VolumeOptions) -> VolumeAttachment:
        """The volume ``name`` (created if missing; ``""``: a new anonymous volume), now in
        use by ``container_id``. Raises ``ValueError`` for a bad name, driver or option."""
        ...

    def release(self, container_id: str) -> None:
        """``container_id`` uses none of its volumes any more (anonymous ones are removed)."""
        ...


def secret_file(name: str, data: bytes, target: str = "", uid: int = 0, gid: int = 0,
                mode: int = 0o444) -> File:
    """A secret: ``/run/secrets/<target>`` (target defaults to the name; absolute kept)."""
    t = target or name
    return File(t if t.startswith("/") else f"{SECRETS_DIR}/{t}", data, uid, gid, mode)


def config_file(name: str, data: bytes, target: str = "", uid: int = 0, gid: int = 0,
                mode: int = 0o444) -> File:
    """A config: ``/<target>`` (target defaults to the name)."""
    t = target or name
    return File(t if t.startswith("/") else f"/{t}", data, uid, gid, mode)


# ---------------------------------------------------------------- parsing (Docker's words)
def parse_tmpfs_size(text: str) -> int:
    """``tmpfs-size``: Docker's RAMInBytes (``64m``, ``1.5g``, ``512KiB``, ``1024``)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise InvalidConfigError(f"invalid value for tmpfs-size: {text}")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def parse_tmpfs_mode(text: str) -> int:
    """``tmpfs-mode``: octal (``1777``, ``0700``)."""
    try:
        mode = int(text, 8)
    except ValueError:
        raise InvalidConfigError(f"invalid value for tmpfs-mode: {text}") from None
    if not 0 <= mode <= 0o7777:
        raise InvalidConfigError(f"invalid value for tmpfs-mode: {text}")
    return mode


def _bad(m: Mount, msg: str) -> InvalidConfigError:
    return InvalidConfigError(f'invalid mount config for type "{m.type}": {msg}')


def _absolute(m: Mount, path: str) -> None:
    if not path.startswith("/"):
        raise _bad(m, f"invalid mount path: '{path}' mount path must be absolute")


def validate_mount(m: Mount, protected: Sequence[str] = ()) -> None:
    """One user mount; ``protected``: paths no bind source may be, be inside of or contain."""
    if m.type not in TYPES:
        raise _bad(m, "mount type unknown")
    if not m.target:
        raise _bad(m, "field Target must not be empty")
    _absolute(m, m.target)
    if posixpath.normpath(m.target) == "/":
        raise _bad(m, "invalid specification: destination can't be '/'")
    if m.type != "bind" and m.propagation:
        raise _bad(m, "field BindOptions must not be specified")
    if m.type != "volume" and m.volume is not None:
        raise _bad(m, "field VolumeOptions must not be specified")
    if m.type != "tmpfs" and (m.tmpfs_size or m.tmpfs_mode or m.options):
        raise _bad(m, "field TmpfsOptions must not be specified")
    if m.type == "bind":
        _validate_bind(m, protected)
    elif m.type == "tmpfs":
        if m.source:
            raise _bad(m, "field Source must not be specified")
        if m.tmpfs_size < 0:
            raise _bad(m, f"invalid tmpfs size {m.tmpfs_size}: must not be negative")
        if not 0 <= m.tmpfs_mode <= 0o7777:
            raise _bad(m, f"invalid tmpfs mode {m.tmpfs_mode:o}")
    else:
        v = m.volume or VolumeOptions()
        if v.driver not in ("", "local"):
            raise InvalidConfigError(f'error looking up volume plugin {v.driver}: plugin "{v.driver}" '
                                     "not found")
        if m.source.startswith("/"):
            raise _bad(m, f"volume name {m.source!r} must not be a path (use type=bind for a host path)")


def _validate_bind(m: Mount, protected: Sequence[str]) -> None:
    if not m.source:
        raise _bad(m, "field Source must not be empty")
    _absolute(m, m.source)
    if m.propagation and m.propagation not in PROPAGATIONS:
        raise _bad(m, f"invalid propagation mode: {m.propagation}")
    if not os.path.exists(m.source):
        raise _bad(m, f"bind source path does not exist: {m.source}")
    real = os.path.realpath(m.source)
    if real == "/":
        raise _bad(m, f"bind source path {m.source} is the host's root directory: not allowed")
    for p in protected:
        rp = os.path.realpath(p)
        if real == rp or real.startswith(rp + "/"):
            raise _bad(m, f"bind source path {m.source} is inside the node's data root {p}: not allowed")
        if rp.startswith(real + "/"):
            raise _bad(m, f"bind source path {m.source} contains the node's data root {p}: not allowed")


def validate_mounts(mounts: Iterable[Mount], files: Iterable[File] = (),
                    protected: Sequence[str] = ()) -> None:
    """Every mount and file a user asked for, and no two on one target (``duplicate mount
    point: <target>``; the manager says ``ContainerSpec: `` before it)."""
    seen: set[str] = set()
    for m in mounts:
        validate_mount(m, protected)
        _unique(seen, m.target)
    for f in files:
        validate_file(f)
        _unique(seen, f.target)


def validate_file(f: File) -> None:
    if not f.target.startswith("/") or posixpath.normpath(f.target) == "/":
        raise InvalidConfigError(f"file target {f.target!r} must be an absolute path to a file")
    if not isinstance(f.data, bytes):
        raise InvalidConfigError(f"file {f.target}: data must be bytes")
    if not 0 <= f.mode <= 0o7777:
        raise InvalidConfigError(f"file {f.target}: invalid mode {f.mode:o}")
    if f.uid < 0 or f.gid < 0:
        raise InvalidConfigError(f"file {f.target}: uid and gid must not be negative")


def _unique(seen: set[str], target: str) -> None:
    t = posixpath.normpath(target)
    if t in seen:
        raise InvalidConfigError(f"duplicate mount point: {t}")
    seen.add(t)


# ---------------------------------------------------------------- for the runtime
def tmpfs_data(m: Mount) -> str:
    """The tmpfs mount data: ``mode=1777[,size=Nk]`` as Docker writes it."""
    if m.options:
        return m.options
    parts = [f"mode={m.tmpfs_mode or DEFAULT_TMPFS_MODE:o}"]
    if m.tmpfs_size:
        parts.append(f"size={-(-m.tmpfs_size // 1024)}k")
    return ",".join(parts)


def check_runtime_mount(m: Mount) -> None:
    """The checks the runtime itself makes (``spec.validate``): shapes, not policy."""
    if m.type not in TYPES:
        raise InvalidConfigError(f"mount type {m.type!r} not supported (bind, tmpfs, volume)")
    if posixpath.normpath(m.target) == "/":
        raise InvalidConfigError("invalid specification: destination can't be '/'")
    if m.type == "bind" and m.propagation and m.propagation not in PROPAGATIONS:
        raise InvalidConfigError(f"invalid propagation mode: {m.propagation}")
    if m.type == "tmpfs" and (m.tmpfs_size < 0 or not 0 <= m.tmpfs_mode <= 0o7777):
        raise InvalidConfigError(f"invalid tmpfs options for {m.target}: size {m.tmpfs_size}, "
                                 f"mode {m.tmpfs_mode:o}")


def runtime_entries(mounts: Sequence[Mount], volumes: VolumeProvider | None,
                    cid: str) -> list[dict[str, Any]]:
    """``config.json`` entries, parents before children; acquires the volumes for ``cid``
    (on an error the caller releases them: ``volumes.release(cid)``)."""
    out: list[dict[str, Any]] = []
    for m in mounts:
        e: dict[str, Any] = {"type": m.type, "source": m.source, "target": posixpath.normpath(m.target),
                             "read_only": m.read_only, "propagation": "", "options": "",
                             "populate": False, "volume": None}
        if m.type == "bind":
            e["propagation"] = m.propagation or DEFAULT_PROPAGATION
        elif m.type == "tmpfs":
            e["options"] = tmpfs_data(m)
        else:
            if volumes is None:
                raise InvalidConfigError(f"mount {m.target}: volume mounts need a volume store "
                                         "(Runtime(volumes=...))")
            try:
                att = volumes.acquire(m.source, cid, m.volume or VolumeOptions())
            except ValueError as err:
                raise InvalidConfigError(str(err)) from None
            e.update(type="bind", source=att.path, volume=att.name, populate=att.populate,
                     propagation=DEFAULT_PROPAGATION)
        out.append(e)
    out.sort(key=lambda e: len([p for p in e["target"].split("/") if p]))
    return out


def file_entries(files: Sequence[File]) -> tuple[list[dict[str, Any]], list[bytes]]:
    """``config.json`` entries of ``files`` (no content) and their contents, in order."""
    return ([{"target": posixpath.normpath(f.target), "uid": f.uid, "gid": f.gid, "mode": f.mode,
              "size": len(f.data)} for f in files], [f.data for f in files])
