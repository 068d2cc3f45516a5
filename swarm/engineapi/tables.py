"""The machinery of the translation tables: Docker JSON (a request body) -> protobuf.

A :class:`Table` belongs to one Docker object (``ContainerSpec``, ``RestartPolicy``, ...) and says,
key by key, which proto field a Docker key fills and how its value is read. The tables themselves
are in :mod:`swarm.engineapi.specs`; this module only walks them.

Keys match as Go's ``encoding/json`` matches them (case-insensitively), because Docker clients
round-trip what they read: ``docker service update`` GETs the service and POSTs its ``Spec`` back
edited. Keys no table knows are ignored, as dockerd ignores them; keys of features we do not have
are listed as ``unsupported`` and refused with a 400 naming the field, unless their value is the
zero value the CLI sends by default (``"Isolation": "default"``, ``"Privileges": null``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from swarm.api import types_pb2
from swarm.engineapi.errors import BadRequest

Reader = Callable[[Any, str], Any]


@dataclass(frozen=True)
class F:
    """One Docker key: the proto field it fills and the reader of its value. ``setter`` replaces
    plain assignment for fields that are not a field-to-field copy (a oneof, a renamed list)."""

    field: str
    read: Reader
    setter: Callable[[Message, Any], None] | None = None


@dataclass(frozen=True)
class Table:
    message: type[Message]
    fields: Mapping[str, F]
    unsupported: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # key -> accepted values

    def decode(self, doc: Any, path: str) -> Message:
        if not isinstance(doc, dict):
            raise BadRequest(f"invalid {path}: expected a JSON object, got {_kind(doc)}")
        known = {k.lower(): (k, f) for k, f in self.fields.items()}
        unsupported = {k.lower(): (k, ok) for k, ok in self.unsupported.items()}
        msg = self.message()
        for key, value in doc.items():
            lk = key.lower()
            if lk in unsupported:
                name, ok = unsupported[lk]
                if not _zero(value) and value not in ok:
                    raise BadRequest(f"{path}.{name} is not supported by pyswarm (got {value!r})")
                continue
            if lk not in known or value is None:
                continue
            name, f = known[lk]
            v = f.read(value, f"{path}.{name}")
            if f.setter is not None:
                f.setter(msg, v)
            else:
                assign(msg, f.field, v)
        return msg


def assign(msg: Message, name: str, value: Any) -> None:
    """``msg.name = value`` for any kind of field (scalar, message, repeated, map)."""
    fd = msg.DESCRIPTOR.fields_by_name[name]
    target = getattr(msg, name)
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        target.clear()
        for k, v in value.items():
            if isinstance(v, Message):
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif fd.is_repeated:
        del target[:]
        if fd.message_type is not None:
            for v in value:
                target.add().CopyFrom(v)
        else:
            target.extend(value)
    elif fd.message_type is not None:
        target.CopyFrom(value)
    else:
        setattr(msg, name, value)


def _zero(v: Any) -> bool:
    """Go's zero value, deeply: what a client sends for a feature it does not use
    (``"Privileges": {"CredentialSpec": null, "NoNewPrivileges": false}``)."""
    if isinstance(v, dict):
        return all(_zero(x) for x in v.values())
    if isinstance(v, list):
        return not v
    return v is None or v in ("", 0, False)


def _kind(v: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(v), type(v).__name__)


# ---- value readers ---------------------------------------------------------------------------


def string(v: Any, path: str) -> str:
    if not isinstance(v, str):
        raise BadRequest(f"invalid {path}: expected a string, got {_kind(v)}")
    return v


def boolean(v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise BadRequest(f"invalid {path}: expected a boolean, got {_kind(v)}")
    return v


def integer(v: Any, path: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or int(v) != v:
        raise BadRequest(f"invalid {path}: expected an integer, got {_kind(v)}")
    return int(v)


def unsigned(v: Any, path: str) -> int:
    n = integer(v, path)
    if n < 0:
        raise BadRequest(f"invalid {path}: must not be negative (got {n})")
    return n


def number(v: Any, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise BadRequest(f"invalid {path}: expected a number, got {_kind(v)}")
    return float(v)


def strings(v: Any, path: str) -> list[str]:
    if not isinstance(v, list):
        raise BadRequest(f"invalid {path}: expected an array of strings, got {_kind(v)}")
    return [string(x, f"{path}[{i}]") for i, x in enumerate(v)]


def string_map(v: Any, path: str) -> dict[str, str]:
    if not isinstance(v, dict):
        raise BadRequest(f"invalid {path}: expected an object of strings, got {_kind(v)}")
    return {k: string(x, f"{path}.{k}") for k, x in v.items()}


def duration(v: Any, path: str) -> Duration:
    """Docker's durations are int64 nanoseconds."""
    d = Duration()
    d.FromNanoseconds(integer(v, path))
    return d


def enum(values: Mapping[str, int]) -> Reader:
    """One of ``values``; ``""`` is the zero value (Go clients send unset enums as empty strings)."""

    def read(v: Any, path: str) -> int:
        s = string(v, path)
        if s == "":
            return 0
        if s not in values:
            raise BadRequest(f"invalid {path} {s!r}: must be one of " + ", ".join(repr(k) for k in values))
        return values[s]

    return read


def message(table: Table) -> Reader:
    return table.decode


def messages(table: Table) -> Reader:
    def read(v: Any, path: str) -> list[Message]:
        if not isinstance(v, list):
            raise BadRequest(f"invalid {path}: expected an array, got {_kind(v)}")
        return [table.decode(x, f"{path}[{i}]") for i, x in enumerate(v)]

    return read


# ---- what many objects share -------------------------------------------------------------------


def ignore(msg: Message, v: Any) -> None:
    """The setter of keys that are only checked (their value is implied, or always so here)."""


def _set_name(msg: Message, v: str) -> None:
    msg.annotations.name = v  # type: ignore[attr-defined]


def _set_labels(msg: Message, v: dict[str, str]) -> None:
    assign(msg.annotations, "labels", v)  # type: ignore[attr-defined]


# Docker puts an object's Name and Labels on its spec; swarmkit in the spec's Annotations
NAME = F("", string, setter=_set_name)
LABELS = F("", string_map, setter=_set_labels)
DRIVER = Table(types_pb2.Driver, {"Name": F("name", string), "Options": F("options", string_map)})
