"""Listing documents kept by object id and store version, so a busy `GET /services` (the CLI's
progress polls it every 200 ms, scripts poll `service ls`) shapes each object once per change.

The Engine API shapes are reflective walks over protobuf descriptors (0.14 ms a service here),
and an object's ``meta.version.index`` moves with every write to it, so ``(kind, id, version)``
names one content. Only the list handlers use it, never ``insertDefaults`` answers (same
version, other content). Callers get a shallow copy: they may add top-level keys
(``ServiceStatus``) but must not change nested ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MAX_ENTRIES = 4096


class DocCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._docs: OrderedDict[tuple[str, str, int], dict[str, Any]] = OrderedDict()
        self.max_entries = max_entries
        self.hits = self.misses = 0

    def doc(self, kind: str, obj: Any, shape: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        key = (kind, obj.id, obj.meta.version.index)
        d = self._docs.get(key)
        if d is None:
            self.misses += 1
            d = shape(obj)
            self._docs[key] = d
            if len(self._docs) > self.max_entries:
                self._docs.popitem(last=False)
        else:
            self.hits += 1
            self._docs.move_to_end(key)
        return dict(d)
