"""The secrets and configs this node holds (swarmkit ``agent/secrets``, ``agent/configs``).

The dispatcher sends them in the assignments stream, next to the tasks that need them
(``swarm.dispatcher.dependencies``); :class:`DependencyStore` keeps their *values* in memory
only -- a dict by id, never written to disk, never put in the task DB, never logged (only ids
are) -- and applies each message: a COMPLETE set replaces everything held, an INCREMENTAL one
upserts (UPDATE) or drops (REMOVE) single items. The worker applies a message here *before* its
tasks, so a task arriving with its secret finds it.

The executor reads values through :meth:`get` (the :class:`node.exec.executor.Dependencies`
seam); :attr:`complete` says whether a COMPLETE set has arrived since the agent started, so a
task resumed from the task DB before the first session can tell "not received yet" (retry)
from "the manager did not send it" (reject). ``held_secrets()`` / ``held_configs()`` are the ids
``swarm info`` shows (``InfoResponse.held_secrets`` / ``held_configs``).
"""

from __future__ import annotations

import logging
from typing import Any

from swarm.api import dispatcher_pb2 as d

log = logging.getLogger(__name__)

SECRET = "secret"
CONFIG = "config"


class DependencyStore:
    def __init__(self) -> None:
        self._held: dict[str, dict[str, bytes]] = {SECRET: {}, CONFIG: {}}
        self._templated: set[tuple[str, str]] = set()     # (kind, id) of Go templates
        self._complete = False

    @property
    def complete(self) -> bool:
        return self._complete

    def apply(self, msg: d.AssignmentsMessage) -> None:
        """Take the secret and config items of one assignments message (see the docstring)."""
        if msg.type == d.AssignmentsMessage.COMPLETE:
            fresh: dict[str, dict[str, bytes]] = {SECRET: {}, CONFIG: {}}
            templated: set[tuple[str, str]] = set()
            for kind, oid, data, is_template in _items(msg, d.AssignmentChange.UPDATE):
                fresh[kind][oid] = data
                if is_template:
                    templated.add((kind, oid))
            dropped = {k: sorted(self._held[k].keys() - fresh[k].keys()) for k in fresh}
            self._held = fresh
            self._templated = templated
            self._complete = True
            for kind, ids in dropped.items():
                if ids:
                    log.info("%ss no longer needed on this node: %s", kind, ", ".join(ids))
            return
        for c in msg.changes:
            kind = c.assignment.WhichOneof("item")
            if kind not in (SECRET, CONFIG):
                continue
            obj = getattr(c.assignment, kind)
            if c.action == d.AssignmentChange.REMOVE:
                self._templated.discard((kind, obj.id))
                if self._held[kind].pop(obj.id, None) is not None:
                    log.info("%s %s: no longer needed on this node; dropped", kind, obj.id)
            else:
                self._held[kind][obj.id] = bytes(obj.spec.data)
                if _is_template(obj):
                    self._templated.add((kind, obj.id))
                else:
                    self._templated.discard((kind, obj.id))
                log.info("%s %s: received", kind, obj.id)

    def get(self, kind: str, oid: str) -> bytes | None:
        """The value of secret or config ``oid``; None if this node does not hold it."""
        return self._held.get(kind, {}).get(oid)

    def templated(self, kind: str, oid: str) -> bool:
        """``oid`` is a Go template (``Templating.Name == "golang"``), rendered per task."""
        return (kind, oid) in self._templated

    def held_secrets(self) -> list[str]:
        return sorted(self._held[SECRET])

    def held_configs(self) -> list[str]:
        return sorted(self._held[CONFIG])

    def clear(self) -> None:
        self._held = {SECRET: {}, CONFIG: {}}
        self._templated = set()
        self._complete = False

    def __repr__(self) -> str:      # ids only, never values
        return f"DependencyStore(secrets={self.held_secrets()}, configs={self.held_configs()})"


def _is_template(obj: Any) -> bool:
    return bool(obj.spec.templating.name == "golang")


def _items(msg: d.AssignmentsMessage, action: int) -> list[tuple[str, str, bytes, bool]]:
    out = []
    for c in msg.changes:
        kind = c.assignment.WhichOneof("item")
        if kind in (SECRET, CONFIG) and c.action == action:
            obj = getattr(c.assignment, kind)
            out.append((kind, obj.id, bytes(obj.spec.data), _is_template(obj)))
    return out
