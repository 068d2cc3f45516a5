"""Typed access to the store: protobuf objects in, store actions out, and back.

The store itself keeps opaque bytes with a version. This module is the one place that knows
which protobuf type lives in which table, which secondary indexes each table carries, and which
keys must be unique — so every writer proposes the same index keys.

Read side: `decode(table, stored)` returns the message with `meta.version.index` set to the
store version, so a writer can send it back as the version it read (optimistic concurrency).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar

from google.protobuf.message import Message

from swarm.api import objects_pb2
from swarm.api.objects_pb2 import Cluster, Config, Network, Node, Secret, Service, Task

from .protocol import ObjectSource
from .types import Action

M = TypeVar("M", bound=Message)

TABLE_OF: dict[type[Message], str] = {
    Cluster: "cluster",
    Node: "nodes",
    Service: "services",
    Task: "tasks",
    Network: "networks",
    Secret: "secrets",
    Config: "configs",
}
TYPE_OF: dict[str, type[Message]] = {v: k for k, v in TABLE_OF.items()}


def table_of(msg: Message) -> str:
    return TABLE_OF[type(msg)]


def indexes_of(msg: Message) -> dict[str, str]:
    return {k: v for k, v in _indexes(msg).items() if v}


def _indexes(msg: Message) -> dict[str, str]:
    if isinstance(msg, Task):
        idx = {"service_id": msg.service_id, "node_id": msg.node_id}
        if msg.service_id:
            idx["slot"] = f"{msg.service_id}/{msg.slot if msg.slot else msg.node_id}"
        return idx
    if isinstance(msg, Node):
        return {"hostname": msg.description.hostname, "role": str(msg.role)}
    return {}


def unique_of(msg: Message) -> dict[str, str]:
    return {k: v for k, v in _unique(msg).items() if v}


def _unique(msg: Message) -> dict[str, str]:
    if isinstance(msg, Service):
        return {"name": msg.spec.annotations.name.lower()}
    if isinstance(msg, Network):
        subnet = next((c.subnet for c in msg.ipam.configs if c.subnet), "")
        vni = msg.driver_state.options.get("com.docker.network.driver.overlay.vxlanid_list", "")
        return {"name": msg.spec.annotations.name.lower(), "subnet": subnet, "vni": vni}
    if isinstance(msg, (Secret, Config)):
        return {"name": msg.spec.annotations.name}      # case-sensitive, as swarmkit's
    return {}


class Encoded(Protocol):
    """A stored object's bytes at a version: a StoredObject, or an Event of the change stream."""

    @property
    def data(self) -> bytes: ...

    @property
    def version(self) -> int: ...


def decode(table: str, stored: Encoded) -> Message:
    msg = TYPE_OF[table]()
    msg.ParseFromString(stored.data)
    msg.meta.version.index = stored.version  # type: ignore[attr-defined]
    return msg


def decode_as(cls: type[M], stored: Encoded) -> M:
    """:func:`decode` with the type known: ``decode_as(Task, event)``."""
    msg = cls()
    msg.ParseFromString(stored.data)
    msg.meta.version.index = stored.version  # type: ignore[attr-defined]
    return msg


def decode_all(table: str, stored: Iterable[Encoded]) -> list[Any]:
    return [decode(table, s) for s in stored]


def _encode(msg: Message) -> bytes:
    return msg.SerializeToString(deterministic=True)


def create(msg: Message) -> Action:
    return Action(op="create", table=table_of(msg), id=msg.id, data=_encode(msg),  # type: ignore[attr-defined]
                  expected_version=None, indexes=indexes_of(msg), unique=unique_of(msg))


def update(msg: Message, expected_version: int | None = -1) -> Action:
    """An update conditional on the version the message was read at (meta.version.index),
    unless `expected_version` is given (None = unconditional)."""
    ev = msg.meta.version.index if expected_version == -1 else expected_version  # type: ignore[attr-defined]
    return Action(op="update", table=table_of(msg), id=msg.id, data=_encode(msg),  # type: ignore[attr-defined]
                  expected_version=ev, indexes=indexes_of(msg), unique=unique_of(msg))


def delete(msg: Message | None = None, *, table: str | None = None, id: str | None = None,
           expected_version: int | None = None) -> Action:
    if msg is not None:
        table, id = table_of(msg), msg.id  # type: ignore[attr-defined]
    assert table and id
    return Action(op="delete", table=table, id=id, expected_version=expected_version)


class Reader:
    """Typed reads over any :class:`~swarm.store.protocol.ObjectSource` (a Store, a StoreView)."""

    def __init__(self, src: ObjectSource) -> None:
        self.src = src

    def get(self, cls: type[M], oid: str) -> M | None:
        table = TABLE_OF[cls]
        so = self.src.get(table, oid)
        return None if so is None else decode(table, so)  # type: ignore[return-value]

    def list(self, cls: type[M]) -> builtins.list[M]:
        table = TABLE_OF[cls]
        return [decode(table, s) for s in self.src.list(table)]  # type: ignore[misc]

    def find(self, cls: type[M], index: str, key: str) -> builtins.list[M]:
        table = TABLE_OF[cls]
        return [decode(table, s) for s in self.src.find(table, index, key)]  # type: ignore[misc]

    def find_unique(self, cls: type[M], index: str, key: str) -> M | None:
        table = TABLE_OF[cls]
        so = self.src.find_unique(table, index, key)
        return None if so is None else decode(table, so)  # type: ignore[return-value]

    def cluster(self) -> Cluster | None:
        items = self.list(Cluster)
        return items[0] if items else None

    def tasks_of_service(self, service_id: str) -> builtins.list[Task]:
        return self.find(Task, "service_id", service_id)

    def tasks_on_node(self, node_id: str) -> builtins.list[Task]:
        return self.find(Task, "node_id", node_id)


def by_id(items: Iterable[M]) -> Mapping[str, M]:
    return {i.id: i for i in items}  # type: ignore[attr-defined]


__all__ = ["TABLE_OF", "TYPE_OF", "Encoded", "Reader", "by_id", "create", "decode", "decode_all", "decode_as",
           "delete",
           "objects_pb2", "update"]
