"""Value types of the store API and the wire form of a write.

Everything the Raft log or a snapshot holds is built from primitives only (str, int, bytes,
None, tuple, dict): pysyncobj pickles log entries and snapshots, so a stored class instance would
tie the on-disk journal to a module path (raft-notes §11.11). These dataclasses exist only on the
API side; ``Action.to_wire`` turns an action into the tuple that goes into the log::

    (op, table, id, expected_version, data, indexes, unique)
     str  str    str  int | None       bytes dict[str,str] dict[str,str]

``indexes`` are secondary index keys (``{"service_id": "s1", "node_id": "n1"}``) and ``unique``
keys must be unique within a table (``{"name": "web"}``). Both are supplied by the proposer; the
store does not parse ``data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from .errors import InvalidArgumentError

#: The replicated tables. Swarm object types only; unknown tables are rejected.
TABLES: tuple[str, ...] = ("cluster", "nodes", "services", "tasks", "networks", "secrets", "configs")
#: Internal table for store metadata (the Raft member list). Not writable through ``Store.apply``.
META_TABLE = "_raft"
ALL_TABLES: frozenset[str] = frozenset((*TABLES, META_TABLE))
OPS: frozenset[str] = frozenset(("create", "update", "delete"))

_EMPTY: Mapping[str, str] = MappingProxyType({})

#: An action as it travels in a Raft log entry (``Action.to_wire``): primitives only.
WireAction = tuple[Any, ...]
#: What the state machine returns: ``("ok", index)`` or ``("error", kind, message, table, id, current)``.
ApplyResult = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One stored object: opaque bytes plus the store index of its last write."""

    id: str
    version: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Action:
    """One object write inside an atomic batch."""

    op: str
    table: str
    id: str
    data: bytes = b""
    expected_version: int | None = None
    indexes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    unique: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        problem = check_wire(self.to_wire(), allow_meta=True)
        if problem:
            raise InvalidArgumentError(problem, table=self.table, id=self.id)

    @classmethod
    def create(cls, table: str, id: str, data: bytes, *, indexes: Mapping[str, str] = _EMPTY,
               unique: Mapping[str, str] = _EMPTY) -> Action:
        return cls("create", table, id, data, None, indexes, unique)

    @classmethod
    def update(cls, table: str, id: str, data: bytes, *, expected_version: int | None,
               indexes: Mapping[str, str] = _EMPTY, unique: Mapping[str, str] = _EMPTY) -> Action:
        """``expected_version=None`` makes the write unconditional; pass it explicitly."""
        return cls("update", table, id, data, expected_version, indexes, unique)

    @classmethod
    def delete(cls, table: str, id: str, *, expected_version: int | None = None) -> Action:
        return cls("delete", table, id, b"", expected_version)

    def to_wire(self) -> WireAction:
        return (self.op, self.table, self.id, self.expected_version, self.data,
                dict(self.indexes), dict(self.unique))

    def wire_size(self) -> int:
        """Rough size of this action in a log entry (for the proposal size limit)."""
        return (len(self.data) + len(self.id) + 64
                + sum(len(k) + len(v) + 8 for k, v in self.indexes.items())
                + sum(len(k) + len(v) + 8 for k, v in self.unique.items()))


class Event(NamedTuple):
    """One applied object change. ``old_data`` is None for creates, ``data`` is b"" for deletes."""

    kind: str
    table: str
    id: str
    version: int
    data: bytes
    old_data: bytes | None


class Commit(NamedTuple):
    """All events of one applied batch; ``index`` is the store index the batch produced."""

    index: int  # type: ignore[assignment]
    events: tuple[Event, ...]


class Reset(NamedTuple):
    """State was replaced (snapshot restore) or the subscriber fell off the event ring.

    Rebuild from ``view`` (a consistent read at ``view.index``); the next Commit follows it.
    """

    view: Any  # StoreView; Any to avoid an import cycle


def _str_map(m: object) -> bool:
    # exact types: a str subclass could carry a hostile __hash__/__eq__ into the apply
    return type(m) is dict and all(
        type(k) is str and type(v) is str and k and v for k, v in m.items())


def check_wire(action: object, *, allow_meta: bool = False) -> str | None:
    """Return a description of what is wrong with a wire action, or None if it is well formed.

    Pure and total: never raises, whatever ``action`` is (it runs inside the Raft apply).
    """
    try:
        if type(action) is not tuple or len(action) != 7:
            return f"action must be a 7-tuple, got {type(action).__name__}"
        op, table, oid, expected, data, indexes, unique = action
        if type(op) is not str or op not in OPS:
            return f"unknown op {op!r}"
        if type(table) is not str or table not in ALL_TABLES or (table == META_TABLE and not allow_meta):
            return f"unknown table {table!r}"
        if type(oid) is not str or not oid:
            return "object id must be a non-empty string"
        if expected is not None and (type(expected) is not int
                                     or expected < 0):
            return f"expected_version must be None or an int >= 0, got {expected!r}"
        if type(data) is not bytes:
            return f"data must be bytes, got {type(data).__name__}"
        if not _str_map(indexes) or not _str_map(unique):
            return "indexes and unique must map non-empty str to non-empty str"
        return None
    except Exception as e:  # defensive: a hostile __eq__/__hash__ must not escape
        return f"malformed action: {e!r}"
