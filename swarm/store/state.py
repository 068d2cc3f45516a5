"""The store's state machine: typed tables, atomic batches, versions, indexes. No I/O, no Raft.

``StoreState.apply_batch`` is the body of the one replicated method. It runs on pysyncobj's tick
thread on every manager in log order, so it must be

* total: it never raises (raft-notes F3: one exception wedges the cluster) - garbage input gives
  an error value, and the commit phase only touches values the validation phase checked;
* deterministic: no clock, no randomness, no hash-order dependence (buckets are insertion-ordered
  dicts, not sets); ids and timestamps are made by the proposer;
* atomic: every action is validated against the state as modified by the earlier actions of the
  same batch (an overlay); on any failure nothing is applied and the error names table, id and
  current version.

A successful non-empty batch bumps the store-wide ``index`` once and stamps every written object
with it, so ``version`` is "the index of the batch that last wrote this object". An empty batch is
a read barrier: it changes nothing and returns the current index. Recently applied proposal ids are
remembered (bounded, part of the replicated state) so a proposal re-submitted after an unknown
outcome returns the original index instead of applying twice.

Consistent reads. One ``threading.Lock`` is held by apply and by every reader; ``view()`` gives a
read of all tables at one index without copying: it marks the current table objects *shared*, and
the next write to a shared table clones it first (copy-on-write, O(table) once per view per
written table). A view is therefore immutable and can be read from any thread without the lock.

Result values (primitives, they travel back through pysyncobj's callback)::

    ("ok", index)
    ("error", kind, message, table, id, current_version)   kind: conflict | exists | name_conflict
                                                                 | not_found | invalid | internal
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from .types import ALL_TABLES, ApplyResult, Event, StoredObject, check_wire

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
DEDUP_WINDOW = 10_000

# A row: (version, data, index pairs, unique pairs); immutable, primitives only.
Row = tuple[int, bytes, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]
_DELETED = object()


class Table:
    """Rows of one table plus its secondary and unique indexes. Mutated only under the store lock."""

    __slots__ = ("idx", "objects", "uniq")

    def __init__(self) -> None:
        self.objects: dict[str, Row] = {}
        self.idx: dict[str, dict[str, dict[str, None]]] = {}   # index -> key -> ordered id set
        self.uniq: dict[str, dict[str, str]] = {}              # index -> key -> id

    def clone(self) -> Table:
        t = Table()
        t.objects = self.objects.copy()
        t.idx = {name: {k: ids.copy() for k, ids in m.items()} for name, m in self.idx.items()}
        t.uniq = {name: m.copy() for name, m in self.uniq.items()}
        return t

    def put(self, oid: str, row: Row) -> None:
        old = self.objects.get(oid)
        if old is not None:
            self._unlink(oid, old)
        self.objects[oid] = row
        for name, key in row[2]:
            self.idx.setdefault(name, {}).setdefault(key, {})[oid] = None
        for name, key in row[3]:
            self.uniq.setdefault(name, {})[key] = oid

    def remove(self, oid: str) -> None:
        old = self.objects.pop(oid, None)
        if old is not None:
            self._unlink(oid, old)

    def _unlink(self, oid: str, row: Row) -> None:
        for name, key in row[2]:
            bucket = self.idx.get(name, {}).get(key)
            if bucket is not None:
                bucket.pop(oid, None)
                if not bucket:
                    del self.idx[name][key]
        for name, key in row[3]:
            m = self.uniq.get(name)
            if m is not None and m.get(key) == oid:
                del m[key]


def _obj(oid: str, row: Row) -> StoredObject:
    return StoredObject(oid, row[0], row[1])


class _Reader:
    """Read methods shared by the live state (under the lock) and by immutable views."""

    _tables: dict[str, Table]

    def _t(self, table: str) -> Table | None:
        return self._tables.get(table)

    def _get(self, table: str, oid: str) -> StoredObject | None:
        t = self._t(table)
        row = t.objects.get(oid) if t else None
        return _obj(oid, row) if row is not None else None

    def _list(self, table: str) -> builtins.list[StoredObject]:
        t = self._t(table)
        return [_obj(k, r) for k, r in t.objects.items()] if t else []

    def _find(self, table: str, index: str, key: str) -> builtins.list[StoredObject]:
        t = self._t(table)
        if t is None:
            return []
        ids = t.idx.get(index, {}).get(key, {})
        return [_obj(i, t.objects[i]) for i in ids]

    def _find_unique(self, table: str, index: str, key: str) -> StoredObject | None:
        t = self._t(table)
        oid = t.uniq.get(index, {}).get(key) if t else None
        return self._get(table, oid) if oid is not None else None


class StoreView(_Reader):
    """An immutable, consistent read of every table at ``index``."""

    def __init__(self, tables: dict[str, Table], index: int) -> None:
        self._tables = tables
        self.index = index

    def get(self, table: str, id: str) -> StoredObject | None:
        return self._get(table, id)

    def list(self, table: str) -> builtins.list[StoredObject]:
        return self._list(table)

    def find(self, table: str, index: str, key: str) -> builtins.list[StoredObject]:
        return self._find(table, index, key)

    def find_unique(self, table: str, index: str, key: str) -> StoredObject | None:
        return self._find_unique(table, index, key)

    def count(self, table: str) -> int:
        t = self._t(table)
        return len(t.objects) if t else 0


def _err(kind: str, msg: str, table: Any = None, oid: Any = None, cur: int | None = None) -> ApplyResult:
    return ("error", kind, msg, table if isinstance(table, str) else None,
            oid if isinstance(oid, str) else None, cur)


class StoreState(_Reader):
    """Replicated state. ``on_commit(index, events)`` / ``on_reset()`` run under the lock."""

    def __init__(self, on_commit: Callable[[int, tuple[Event, ...]], None] | None = None,
                 on_reset: Callable[[], None] | None = None) -> None:
        self.lock = threading.Lock()
        self.index = 0
        self._tables = {name: Table() for name in sorted(ALL_TABLES)}
        self._shared: set[str] = set()
        self._recent: OrderedDict[str, int] = OrderedDict()   # proposal id -> index (dedup)
        self.on_commit = on_commit
        self.on_reset = on_reset

    # ---------------------------------------------------------------- reads
    def get(self, table: str, id: str) -> StoredObject | None:
        with self.lock:
            return self._get(table, id)

    def list(self, table: str) -> builtins.list[StoredObject]:
        with self.lock:
            return self._list(table)

    def find(self, table: str, index: str, key: str) -> builtins.list[StoredObject]:
        with self.lock:
            return self._find(table, index, key)

    def find_unique(self, table: str, index: str, key: str) -> StoredObject | None:
        with self.lock:
            return self._find_unique(table, index, key)

    def view(self) -> StoreView:
        with self.lock:
            return self._view_locked()

    def freeze(self) -> tuple[int, dict[str, Table], builtins.list[tuple[str, int]]]:
        """O(1)-ish consistent capture for a snapshot writer: (index, shared tables, dedup ids)."""
        with self.lock:
            v = self._view_locked()
            return v.index, v._tables, builtins.list(self._recent.items())

    def _view_locked(self) -> StoreView:
        self._shared.update(self._tables)
        return StoreView(dict(self._tables), self.index)

    # ---------------------------------------------------------------- the replicated write
    def apply_batch(self, proposal_id: object, actions: object) -> ApplyResult:
        """Validate all actions, then apply all or nothing. Never raises."""
        try:
            if type(proposal_id) is not str or type(actions) not in (list, tuple):
                return _err("invalid", "apply_batch(proposal_id: str, actions: list)")
            with self.lock:
                done = self._recent.get(proposal_id)
                if done is not None:
                    return ("ok", done)
                if not actions:
                    return ("ok", self.index)
                plan = self._validate(actions)  # type: ignore[arg-type]  # checked above
                if plan[0] == "error":
                    return plan
                return self._commit(proposal_id, plan[1])
        except Exception as e:  # pragma: no cover - defensive, see module docstring
            log.exception("store apply failed; state may be inconsistent if this was in commit")
            return _err("internal", f"internal error in apply: {e!r}")

    def _validate(self, actions: Iterable[object]) -> tuple[Any, ...]:
        overlay: dict[tuple[str, str], Any] = {}          # (table, id) -> Row | _DELETED
        owners: dict[tuple[str, str, str], str | None] = {}  # (table, index, key) -> id
        new_version = self.index + 1
        plan: builtins.list[tuple[str, str, str, Row | None]] = []
        for a in actions:
            problem = check_wire(a, allow_meta=True)
            if problem:
                t, i = (a[1], a[2]) if isinstance(a, tuple) and len(a) == 7 else (None, None)
                return _err("invalid", problem, t, i)
            assert isinstance(a, tuple)
            op, table, oid, expected, data, indexes, unique = a
            tab = self._tables[table]
            cur = overlay.get((table, oid), tab.objects.get(oid))
            if cur is _DELETED:
                cur = None
            cur_v = cur[0] if cur is not None else 0
            where = f"{table}/{oid}"
            if op == "create":
                if cur is not None:
                    return _err("exists", f"{where} already exists (version {cur_v})", table, oid, cur_v)
                if expected not in (None, 0):
                    return _err("conflict", f"update out of sequence: {where} does not exist "
                                f"(expected version {expected})", table, oid, 0)
            else:
                if cur is None:
                    return _err("not_found", f"{where} not found", table, oid, 0)
                if expected is not None and expected != cur_v:
                    return _err("conflict", f"update out of sequence: {where} is at version {cur_v}, "
                                f"expected {expected}", table, oid, cur_v)
            if cur is not None:  # release the keys the object held
                for name, key in cur[3]:
                    owners[(table, name, key)] = None
            if op == "delete":
                overlay[(table, oid)] = _DELETED
                plan.append((op, table, oid, None))
                continue
            upairs = tuple(sorted(unique.items()))
            for name, key in upairs:
                k = (table, name, key)
                owner = owners[k] if k in owners else tab.uniq.get(name, {}).get(key)
                if owner is not None and owner != oid:
                    ov = overlay.get((table, owner), tab.objects.get(owner))
                    ov_v = ov[0] if isinstance(ov, tuple) else 0
                    return _err("name_conflict", f"{table} {name} {key!r} is already in use by {owner}",
                                table, owner, ov_v)
                owners[k] = oid
            row: Row = (new_version, data, tuple(sorted(indexes.items())), upairs)
            overlay[(table, oid)] = row
            plan.append((op, table, oid, row))
        return ("plan", plan)

    def _commit(self, proposal_id: str, plan: builtins.list[tuple[str, str, str, Row | None]]) -> ApplyResult:
        self.index += 1
        events = []
        for op, table, oid, row in plan:
            tab = self._writable(table)
            old = tab.objects.get(oid)
            old_data = old[1] if old is not None else None
            if row is None:
                tab.remove(oid)
                events.append(Event("delete", table, oid, self.index, b"", old_data))
            else:
                tab.put(oid, row)
                events.append(Event(op, table, oid, self.index, row[1], old_data))
        self._recent[proposal_id] = self.index
        while len(self._recent) > DEDUP_WINDOW:
            self._recent.popitem(last=False)
        if self.on_commit is not None:
            self.on_commit(self.index, tuple(events))
        return ("ok", self.index)

    def _writable(self, table: str) -> Table:
        if table in self._shared:
            self._tables[table] = self._tables[table].clone()
            self._shared.discard(table)
        return self._tables[table]

    # ---------------------------------------------------------------- snapshots
    def snapshot_data(self) -> dict[str, Any]:
        """Primitives-only snapshot. Called on the tick thread right before pysyncobj forks (or
        pickles synchronously), so returning the live row dicts is consistent and O(1)."""
        return {"format": SNAPSHOT_FORMAT, "index": self.index,
                "tables": {name: t.objects for name, t in self._tables.items()},
                "recent": list(self._recent.items())}

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the whole state from ``snapshot_data`` output (restart or InstallSnapshot)."""
        if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unsupported store snapshot: {type(data).__name__}")
        tables = {name: Table() for name in sorted(ALL_TABLES)}
        for name, rows in data["tables"].items():
            t = tables.setdefault(name, Table())
            for oid, row in rows.items():
                t.put(oid, row)
        with self.lock:
            self._tables = tables
            self._shared = set()
            self.index = int(data["index"])
            self._recent = OrderedDict(data.get("recent", ()))
            if self.on_reset is not None:
                self.on_reset()
