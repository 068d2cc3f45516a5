"""The local volume driver: one directory per volume, reference counts on disk.

Layout under ``root`` (``<data root>/volumes``, as Docker's ``/var/lib/docker/volumes``)::

    <name>/_data            the volume's content: what containers see at the mount target
    <name>/volume.json      {"name", "created_at", "labels", "options"}
    <name>/refs/<container> one empty file per container that uses it

A volume is made whole in a ``.tmp-*`` directory and renamed into place, and removed by a
rename to ``.trash-*`` before its tree is deleted, so a reader never sees half of one. The
references live on disk because containers outlive the daemon (live restore): after a
restart, ``rm`` of a volume a running container still has is refused all the same, with
Docker's ``remove <name>: volume is in use - [<container ids>]``.

Rules (Docker's local driver): names ``[a-zA-Z0-9][a-zA-Z0-9_.-]+`` (Docker's messages);
``create`` of an existing name returns it; a mount creates a missing volume on first use
(with the mount's labels); an anonymous volume (mount without a source) gets a random
64-hex name and the ``com.docker.volume.anonymous`` label (the label is what makes a volume
anonymous, as in Docker), and is removed when its last container is (swarmkit removes a
task's container with ``RemoveVolumes``). ``prune``
removes unused anonymous volumes, with ``all`` every unused one (API >= 1.42).

Every change holds a thread lock and ``flock`` on ``root/.lock`` (the daemon's threads, and
a second process on the same root such as a CLI tool); reads take no lock.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from node.volumes.errors import InvalidVolumeError, NoSuchVolumeError, VolumeInUseError

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
DRIVER = "local"
RESTRICTED_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(rf"^{RESTRICTED_NAME_CHARS}+$")
_CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
#: the local driver's own options (mount a device/NFS); known, not supported here yet
_DRIVER_OPTS = ("type", "device", "o", "size")


class MountOptions(Protocol):
    """The volume part of a mount (``node.runtime.mounts.VolumeOptions`` is one)."""

    @property
    def nocopy(self) -> bool: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def driver(self) -> str: ...

    @property
    def driver_options(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Volume:
    name: str
    mountpoint: str
    created_at: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    driver: str = DRIVER
    scope: str = "local"

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    def to_docker(self) -> dict[str, Any]:
        """``docker volume inspect``'s object."""
        return {"CreatedAt": self.created_at, "Driver": self.driver, "Labels": dict(self.labels),
                "Mountpoint": self.mountpoint, "Name": self.name, "Options": dict(self.options),
                "Scope": self.scope}


@dataclass(frozen=True)
class Attachment:
    """A volume handed to a container (``node.runtime.mounts.VolumeAttachment``)."""

    name: str
    path: str
    populate: bool


@dataclass(frozen=True)
class PruneReport:
    deleted: list[str]
    space_reclaimed: int          # bytes (apparent size, hard links counted once), as Docker


def validate_name(name: str, op: str = "create") -> None:
    """The local driver's name rule, in Docker's words."""
    if len(name) == 1:
        raise InvalidVolumeError(f"{op} {name}: volume name is too short, names should be at least two "
                                 "alphanumeric characters")
    if not _NAME.match(name):
        raise InvalidVolumeError(f'{op} {name}: "{name}" includes invalid characters for a local volume '
                                 f'name, only "{RESTRICTED_NAME_CHARS}" are allowed. If you intended to '
                                 "pass a host directory, use absolute path")


def _check_driver(driver: str, options: Mapping[str, str]) -> None:
    if driver not in ("", DRIVER):
        raise InvalidVolumeError(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
    for k in options:
        if k not in _DRIVER_OPTS:
            raise InvalidVolumeError(f'invalid option: "{k}"')
        raise InvalidVolumeError(f'volume option "{k}" of the local driver is not supported yet')


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class VolumeStore:
    """Named and anonymous volumes under ``root``; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)             # Docker: volumes/ is root-only
        self._lock = threading.Lock()
        self._sweep_temporaries()

    # ------------------------------------------------------------ queries
    def get(self, name: str) -> Volume:
        if not _NAME.match(name or ""):
            raise NoSuchVolumeError(name)
        try:
            meta = json.loads((self.root / name / "volume.json").read_text())
        except (FileNotFoundError, NotADirectoryError):
            raise NoSuchVolumeError(name) from None
        return Volume(name=name, mountpoint=str(self.root / name / "_data"),
                      created_at=meta.get("created_at", ""), labels=dict(meta.get("labels") or {}),
                      options=dict(meta.get("options") or {}))

    def list(self, dangling: bool | None = None, labels: Sequence[str] = (), name: str = "") -> list[Volume]:
        """Every volume, by name; Docker's ``ls`` filters: ``dangling`` (no container uses
        it), ``labels`` (``key`` or ``key=value``, all must match), ``name`` (substring)."""
        out = []
        for n in self._names():
            if name and name not in n:
                continue
            try:
                v = self.get(n)
            except NoSuchVolumeError:            # removed meanwhile
                continue
            if dangling is not None and (not self.users(n)) != dangling:
                continue
            if not all(_label_match(v.labels, f) for f in labels):
                continue
            out.append(v)
        return out

    def users(self, name: str) -> builtins.list[str]:
        """The containers using ``name``, sorted."""
        try:
            return sorted(os.listdir(self.root / name / "refs"))
        except FileNotFoundError:
            return []

    # ------------------------------------------------------------ changes
    def create(self, name: str = "", labels: Mapping[str, str] | None = None, driver: str = DRIVER,
               options: Mapping[str, str] | None = None) -> Volume:
        """``volume create``: a new volume, or the existing one of that name (as Docker).
        No name: a random 64-hex name."""
        _check_driver(driver, options or {})
        if name:
            validate_name(name)
        with self._locked():
            return self._create(name or secrets.token_hex(32), dict(labels or {}))

    def remove(self, name: str, force: bool = False) -> None:
        """``volume rm``: refused while a container uses it (also with ``force``, as Docker);
        ``force`` only hides that it does not exist."""
        with self._locked():
            if not (self.root / name / "volume.json").is_file() or not _NAME.match(name):
                if force:
                    return
                raise NoSuchVolumeError(name)
            users = self.users(name)
            if users:
                raise VolumeInUseError(name, users)
            self._delete(name)

    def prune(self, all: bool = False, labels: Sequence[str] = ()) -> PruneReport:  # noqa: A002
        """``volume prune``: unused anonymous volumes (``all``: every unused volume)."""
        deleted, space = [], 0
        with self._locked():
            for n in self._names():
                try:
                    v = self.get(n)
                except NoSuchVolumeError:
                    continue
                if self.users(n) or not (all or v.anonymous):
                    continue
                if not all_match(v.labels, labels):
                    continue
                space += _size(Path(v.mountpoint))
                self._delete(n)
                deleted.append(n)
        return PruneReport(deleted, space)

    # ------------------------------------------------------------ the runtime's side
    def acquire(self, name: str, container_id: str, options: MountOptions) -> Attachment:
        """The volume for a mount of ``container_id``: created when missing (``""``: a new
        anonymous one), now referenced by the container."""
        _check_driver(options.driver, options.driver_options)
        if not _CONTAINER.match(container_id):
            raise InvalidVolumeError(f"invalid container id {container_id!r}")
        if name:
            validate_name(name)
        with self._locked():
            if not name:
                v = self._create(secrets.token_hex(32), {**options.labels, ANONYMOUS_LABEL: ""})
            else:
                v = self._create(name, dict(options.labels))
            (self.root / v.name / "refs" / container_id).touch()
        return Attachment(v.name, v.mountpoint, populate=not options.nocopy)

    def release(self, container_id: str) -> None:
        """``container_id`` is gone: drop its references; its anonymous volumes that no one
        else uses are removed."""
        with self._locked():
            for n in self._names():
                ref = self.root / n / "refs" / container_id
                try:
                    ref.unlink()
                except FileNotFoundError:
                    continue
                with contextlib.suppress(NoSuchVolumeError):
                    if self.get(n).anonymous and not self.users(n):
                        self._delete(n)

    def forget_others(self, alive: Iterable[str]) -> builtins.list[tuple[str, str]]:
        """Drop the references of containers not in ``alive`` (the runtime's containers at
        start-up: a crash between a container's removal and its ``release`` leaves one
        behind); their unused anonymous volumes go too. Returns ``[(volume, container)]``."""
        keep = set(alive)
        dropped = [(n, c) for n in self._names() for c in self.users(n) if c not in keep]
        for _, c in dropped:
            self.release(c)
        return dropped

    # ------------------------------------------------------------ plumbing
    def _create(self, name: str, labels: dict[str, str]) -> Volume:
        """Under the lock: the volume ``name``, made if missing."""
        if (self.root / name / "volume.json").is_file():
            return self.get(name)
        tmp = self.root / f".tmp-{secrets.token_hex(8)}"
        tmp.mkdir(mode=0o700)
        try:
            (tmp / "_data").mkdir(mode=0o755)
            os.chmod(tmp / "_data", 0o755)
            (tmp / "refs").mkdir(mode=0o700)
            meta = {"name": name, "created_at": _now(), "labels": labels, "options": {}}
            (tmp / "volume.json").write_text(json.dumps(meta))
            os.chmod(tmp, 0o701)                  # others may pass through to _data (Docker: 0701)
            os.rename(tmp, self.root / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.get(name)

    def _delete(self, name: str) -> None:
        trash = self.root / f".trash-{secrets.token_hex(8)}"
        os.rename(self.root / name, trash)
        shutil.rmtree(trash)

    def _names(self) -> builtins.list[str]:
        try:
            return sorted(n for n in os.listdir(self.root) if _NAME.match(n))
        except FileNotFoundError:
            return []

    def _sweep_temporaries(self) -> None:
        with self._locked():
            for n in os.listdir(self.root):
                if n.startswith((".tmp-", ".trash-")):
                    shutil.rmtree(self.root / n, ignore_errors=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)


def _label_match(labels: Mapping[str, str], f: str) -> bool:
    k, sep, v = f.partition("=")
    return k in labels and (not sep or labels[k] == v)


def all_match(labels: Mapping[str, str], filters: Sequence[str]) -> bool:
    return all(_label_match(labels, f) for f in filters)


def _size(path: Path) -> int:
    """Apparent size of the files under ``path`` (hard links once, symlinks not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top, _dirs, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(top, f))
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
