"""Builders for the objects the orchestrator's pure decision functions read."""

from __future__ import annotations

from collections.abc import Iterable

from swarm.api.objects_pb2 import Node, NodeStatus, Service, Task
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import RUNNING, RestartPolicy
from swarm.reconciler.clock import ts


def service(sid: str = "svc", *, replicas: int | None = 3, mode_global: bool = False, version: int = 1,
            constraints: Iterable[str] = (), condition: int = RestartPolicy.RESTART_ON_ANY,
            max_attempts: int = 0, window: float = 0.0, delay: float | None = None) -> Service:
    s = Service(id=sid)
    s.spec.annotations.name = sid
    s.spec.task.container.image = "busybox"
    if mode_global:
        getattr(s.spec, "global").SetInParent()
    elif replicas is not None:
        s.spec.replicated.replicas = replicas
    s.spec.task.placement.constraints.extend(constraints)
    s.spec.task.restart.condition = condition  # type: ignore[assignment]
    s.spec.task.restart.max_attempts = max_attempts
    if window:
        s.spec.task.restart.window.FromNanoseconds(int(window * 1e9))
    if delay is not None:
        s.spec.task.restart.delay.FromNanoseconds(int(delay * 1e9))
    s.spec_version.index = version
    return s


def task(tid: str, *, service_id: str = "svc", slot: int = 0, node: str = "", state: int = RUNNING,
         desired: int = RUNNING, created: float = 0.0, stamp: float | None = None, version: int = 1,
         svc: Service | None = None) -> Task:
    t = Task(id=tid, service_id=service_id, slot=slot, node_id=node, desired_state=desired)  # type: ignore[arg-type]
    if svc is not None:
        t.spec.CopyFrom(svc.spec.task)
    t.status.state = state  # type: ignore[assignment]
    t.spec_version.index = version
    t.meta.created_at.CopyFrom(ts(created))
    t.status.timestamp.CopyFrom(ts(created if stamp is None else stamp))
    return t


def node(nid: str, *, state: int = NodeStatus.READY, availability: int = NodeSpec.ACTIVE,
         labels: dict[str, str] | None = None) -> Node:
    n = Node(id=nid)
    n.description.hostname = f"host-{nid}"
    n.status.state = state  # type: ignore[assignment]
    n.spec.availability = availability  # type: ignore[assignment]
    n.spec.annotations.labels.update(labels or {})
    return n
