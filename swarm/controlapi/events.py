"""The cluster's changes as Docker's swarm-scoped events (`docker events` on a manager).

dockerd turns swarmkit's watch stream into events (moby daemon/events.go ``logNodeEvent``,
``logServiceEvent``, ``logNetworkEvent``, ``logSecretEvent``, ``logConfigEvent``): type ``node``,
``service``, ``network``, ``secret`` or ``config``; action ``create``, ``update`` or ``remove``;
the object's id; attribute ``name``, and for an update what changed: a service's ``image``,
``replicas`` and ``updatestate`` (``.old``/``.new``), a node's ``availability``, ``role``,
``state``, ``leader`` and ``reachability``. Tasks and the cluster object give no events, as in
Docker.

:class:`EventHistory` follows this manager's replica (the store's change stream) and keeps the
last :data:`KEEP` events, as dockerd keeps the last 256 in memory, so ``since`` can look back
that far; older ones are gone. A replica replaced by a snapshot (``Reset``) has no diff to
report: nothing is invented for it. Each event carries the wall time this manager applied it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from swarm.api import control_pb2 as c
from swarm.api import objects_pb2 as o
from swarm.api import specs_pb2, types_pb2
from swarm.store import Commit, Event

KEEP = 256
ACTIONS = {"create": "create", "update": "update", "delete": "remove"}
TYPES = {"nodes": ("node", o.Node), "services": ("service", o.Service), "networks": ("network", o.Network),
         "secrets": ("secret", o.Secret), "configs": ("config", o.Config)}


def _decode(cls: type[Any], data: bytes | None) -> Any:
    if data is None:
        return None
    msg = cls()
    msg.ParseFromString(data)
    return msg


def _change(attrs: dict[str, str], key: str, old: str, new: str) -> None:
    if old != new:
        attrs[f"{key}.old"], attrs[f"{key}.new"] = old, new


def _lower(enum: Any, value: int) -> str:
    return str(enum.Name(value)).lower()


def _service(new: o.Service, old: o.Service | None, attrs: dict[str, str]) -> None:
    attrs["name"] = new.spec.annotations.name
    if old is None:
        return
    _change(attrs, "image", old.spec.task.container.image, new.spec.task.container.image)
    if new.spec.HasField("replicated") and old.spec.HasField("replicated"):
        _change(attrs, "replicas", str(old.spec.replicated.replicas), str(new.spec.replicated.replicas))
    if new.HasField("update_status"):
        state = types_pb2.UpdateStatus.UpdateState
        if not old.HasField("update_status"):
            attrs["updatestate.new"] = _lower(state, new.update_status.state)
        else:
            _change(attrs, "updatestate", _lower(state, old.update_status.state),
                    _lower(state, new.update_status.state))


def _node(new: o.Node, old: o.Node | None, attrs: dict[str, str]) -> None:
    attrs["name"] = new.spec.annotations.name or new.description.hostname
    if old is None:
        return
    avail = specs_pb2.NodeSpec.Availability
    _change(attrs, "availability", _lower(avail, old.spec.availability), _lower(avail, new.spec.availability))
    _change(attrs, "role", _lower(types_pb2.NodeRole, old.role), _lower(types_pb2.NodeRole, new.role))
    st = o.NodeStatus.State
    _change(attrs, "state", _lower(st, old.status.state), _lower(st, new.status.state))
    if new.HasField("manager_status") and old.HasField("manager_status"):
        was, now = old.manager_status.leader, new.manager_status.leader
        _change(attrs, "leader", str(was).lower(), str(now).lower())
        reach = o.ManagerStatus.Reachability
        _change(attrs, "reachability", _lower(reach, old.manager_status.reachability),
                _lower(reach, new.manager_status.reachability))


def to_events(events: Iterable[Event], now_ns: int) -> list[c.EventMessage]:
    """The Docker events of one commit (the tables that have them)."""
    out = []
    for ev in events:
        if ev.table not in TYPES or ev.kind not in ACTIONS:
            continue
        kind, cls = TYPES[ev.table]
        old = _decode(cls, ev.old_data)
        new = _decode(cls, ev.data) if ev.kind != "delete" else old
        if new is None:
            continue
        attrs: dict[str, str] = {}
        if kind == "service":
            _service(new, old if ev.kind == "update" else None, attrs)
        elif kind == "node":
            _node(new, old if ev.kind == "update" else None, attrs)
        else:
            attrs["name"] = new.spec.annotations.name
        out.append(c.EventMessage(type=kind, action=ACTIONS[ev.kind], actor_id=ev.id,
                                  attributes=attrs, time_nanos=now_ns))
    return out


class EventHistory:
    """This manager's recent events and their live followers (see the module docstring)."""

    def __init__(self, store: Any, clock: Callable[[], float] = time.time, keep: int = KEEP) -> None:
        self.store = store
        self.clock = clock
        self._ring: deque[tuple[int, c.EventMessage]] = deque(maxlen=keep)
        self._seq = 0
        self._changed = asyncio.Event()

    def add(self, msgs: Iterable[c.EventMessage]) -> None:
        added = False
        for m in msgs:
            self._seq += 1
            self._ring.append((self._seq, m))
            added = True
        if added:
            self._changed.set()
            self._changed = asyncio.Event()

    async def run(self) -> None:
        """Follow the replica until cancelled."""
        sub = self.store.subscribe()
        try:
            async for item in sub:
                if isinstance(item, Commit):
                    self.add(to_events(item.events, int(self.clock() * 1e9)))
        finally:
            sub.close()

    async def stream(self, since_ns: int = 0, until_ns: int = 0) -> AsyncIterator[c.EventMessage]:
        """The kept events at or after ``since_ns`` (none if 0), then each new one; with
        ``until_ns``, none after it, and the stream ends once this manager's clock passed it."""
        last = self._seq
        if since_ns > 0:
            last = next((s - 1 for s, m in self._ring if m.time_nanos >= since_ns), self._seq)
        while True:
            changed = self._changed
            new = [(s, m) for s, m in self._ring if s > last]
            for s, m in new:
                if until_ns and m.time_nanos > until_ns:
                    return
                last = s
                yield m
            if new:
                continue
            if not until_ns:
                await changed.wait()
                continue
            left = until_ns / 1e9 - self.clock()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
