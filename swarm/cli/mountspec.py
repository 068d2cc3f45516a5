"""`--mount`, `--secret` and `--config` values, as the Docker CLI parses them (docker/cli
``opts/mount.go``, ``opts/swarmopts/secret.go`` and ``config.go``), and their ``-add``/``-rm``
forms on `service update` (``cli/command/service/update.go``: ``updateMounts``,
``getUpdatedSecrets``, ``getUpdatedConfigs``: references removed by name, then the added
ones appended; a name may be referenced twice under two targets).

Every value is CSV (``type=volume,source=data,target=/data``, quotes allowed); a bad one is
refused as Docker's CLI does, ``invalid argument "<value>" for "--mount" flag: <why>``, before
anything reaches the daemon. Names of secrets and configs are resolved by the manager (it fills
the ids and the default targets), so the CLI sends the names it was given.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from typing import Any

from swarm.api.specs_pb2 import ContainerSpec
from swarm.api.types_pb2 import ConfigReference, FileTarget, Mount, SecretReference
from swarm.cli.client import CLIError

_TYPES = {"bind": Mount.BIND, "volume": Mount.VOLUME, "tmpfs": Mount.TMPFS}
_RAM_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3,
              "gb": 1024**3, "t": 1024**4, "tb": 1024**4, "p": 1024**5, "pb": 1024**5}
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def _fields(value: str) -> list[str]:
    try:
        rows = list(csv.reader([value], skipinitialspace=False))
    except csv.Error as e:
        raise ValueError(str(e)) from None
    return rows[0] if rows else []


def _go_bool(s: str) -> bool:
    """Go's strconv.ParseBool."""
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{s}": invalid syntax')


def _ram_bytes(s: str) -> int:
    """docker/go-units RAMInBytes: binary units, case-insensitive, an optional ``b``/``ib``."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?", s)
    if not m:
        raise ValueError(f"invalid size: '{s}'")
    return int(float(m.group(1)) * _RAM_UNITS[(m.group(2) or "").lower()])


def _flag_error(flag: str, value: str, why: str) -> CLIError:
    return CLIError(f'invalid argument "{value}" for "{flag}" flag: {why}')


# ---------------------------------------------------------------------------------- --mount
def parse_mount(value: str, flag: str = "--mount") -> Mount:
    try:
        return _parse_mount(value)
    except ValueError as e:
        raise _flag_error(flag, value, str(e)) from None


def _parse_mount(value: str) -> Mount:
    m = Mount(type=Mount.VOLUME)
    seen_volume = seen_bind = seen_tmpfs = False
    kind = "volume"
    for field in _fields(value):
        key, sep, val = field.partition("=")
        key = key.strip().lower()
        if not sep:
            if key in ("readonly", "ro"):
                m.readonly = True
                continue
            if key == "volume-nocopy":
                m.volume_options.nocopy = True
                seen_volume = True
                continue
            if key == "bind-nonrecursive":
                raise ValueError("bind-nonrecursive is not supported")
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            kind = val.lower()
            if kind not in _TYPES:
                raise ValueError(f"mount type '{val}' is not supported (bind, volume or tmpfs)")
            m.type = _TYPES[kind]
        elif key in ("source", "src"):
            m.source = val
        elif key in ("target", "dst", "destination"):
            m.target = val
        elif key in ("readonly", "ro"):
            m.readonly = _go_bool(val)
        elif key == "consistency":
            continue                           # Docker for Mac only; ignored on Linux
        elif key == "bind-propagation":
            if val not in _PROPAGATIONS:
                raise ValueError(f"invalid bind propagation {val!r}")
            m.bind_options.propagation = val
            seen_bind = True
        elif key == "bind-nonrecursive":
            raise ValueError("bind-nonrecursive is not supported")
        elif key == "volume-nocopy":
            m.volume_options.nocopy = _go_bool(val)
            seen_volume = True
        elif key == "volume-label":
            lk, _, lv = val.partition("=")
            m.volume_options.labels[lk] = lv
            seen_volume = True
        elif key == "volume-driver":
            m.volume_options.driver_config.name = val
            seen_volume = True
        elif key == "volume-opt":
            ok, osep, ov = val.partition("=")
            if not osep:
                raise ValueError(f"invalid volume-opt '{val}': must be a key=value pair")
            m.volume_options.driver_config.options[ok] = ov
            seen_volume = True
        elif key == "tmpfs-size":
            try:
                m.tmpfs_options.size_bytes = _ram_bytes(val)
            except ValueError as e:
                raise ValueError(f"invalid value for {key}: {val} ({e})") from None
            seen_tmpfs = True
        elif key == "tmpfs-mode":
            try:
                m.tmpfs_options.mode = int(val, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {val}") from None
            seen_tmpfs = True
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if not m.target:
        raise ValueError("target is required")
    for seen, prefix, own in ((seen_volume, "volume", "volume"), (seen_bind, "bind", "bind"),
                              (seen_tmpfs, "tmpfs", "tmpfs")):
        if seen and kind != own:
            raise ValueError(f"cannot mix '{prefix}-*' options with mount type '{kind}'")
    return m


# ------------------------------------------------------------------------ --secret, --config
def _parse_file_ref(value: str, what: str) -> tuple[str, FileTarget]:
    """(source, file target) of a ``--secret``/``--config`` value; uid/gid/mode left empty
    when not given (the manager fills Docker's defaults)."""
    fields = _fields(value)
    target = FileTarget()
    source = ""
    for field in fields:
        key, sep, val = field.partition("=")
        if not sep:
            if len(fields) == 1:               # the short form: `--secret NAME`
                source = target.name = field
                continue
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        key = key.lower()
        if key in ("source", "src"):
            source = val
        elif key == "target":
            target.name = val
        elif key == "uid":
            target.uid = val
        elif key == "gid":
            target.gid = val
        elif key == "mode":
            try:
                target.mode = int(val, 8)
            except ValueError:
                raise ValueError(f"invalid mode specified: {val}") from None
        else:
            raise ValueError(f"invalid field in {what} request: {key}")
    if not source:
        raise ValueError("source is required")
    return source, target


def parse_secret(value: str, flag: str = "--secret") -> SecretReference:
    try:
        source, target = _parse_file_ref(value, "secret")
    except ValueError as e:
        raise _flag_error(flag, value, str(e)) from None
    return SecretReference(secret_name=source, file=target)


def parse_config(value: str, flag: str = "--config") -> ConfigReference:
    try:
        source, target = _parse_file_ref(value, "config")
    except ValueError as e:
        raise _flag_error(flag, value, str(e)) from None
    return ConfigReference(config_name=source, file=target)


# ------------------------------------------------------------------------------- appliers
def apply_create(c: ContainerSpec, o: Mapping[str, Any]) -> None:
    """`service create`'s ``--mount``, ``--secret`` and ``--config``."""
    c.mounts.extend(parse_mount(v) for v in o.get("mount") or ())
    c.secrets.extend(parse_secret(v) for v in o.get("secret") or ())
    c.configs.extend(parse_config(v) for v in o.get("config") or ())


def apply_update(c: ContainerSpec, o: Mapping[str, Any]) -> None:
    """`service update`'s ``--mount-add/-rm`` (by target; an added mount replaces the one at
    its target), ``--secret-add/-rm`` and ``--config-add/-rm`` (removed by name, then added)."""
    _update_mounts(c, o.get("mount_rm") or (), o.get("mount_add") or ())
    _update_refs(c.secrets, "secret_name", o.get("secret_rm") or (),
                 [parse_secret(v, "--secret-add") for v in o.get("secret_add") or ()])
    _update_refs(c.configs, "config_name", o.get("config_rm") or (),
                 [parse_config(v, "--config-add") for v in o.get("config_add") or ()])


def _update_mounts(c: ContainerSpec, remove: Sequence[str], add: Sequence[str]) -> None:
    if not remove and not add:
        return
    added = [parse_mount(v, "--mount-add") for v in add]
    by_target: dict[str, Mount] = {}
    for m in c.mounts:
        if m.target not in remove:
            by_target[m.target] = m
    for m in added:
        by_target[m.target] = m
    kept = list(by_target.values())
    del c.mounts[:]
    c.mounts.extend(kept)


def _update_refs(refs: Any, name_field: str, remove: Sequence[str], add: Sequence[Any]) -> None:
    if not remove and not add:
        return
    kept = [r for r in refs if getattr(r, name_field) not in remove]
    out = [type(r)() for r in kept]
    for new, old in zip(out, kept, strict=True):
        new.CopyFrom(old)
    del refs[:]
    refs.extend(out)
    refs.extend(add)
