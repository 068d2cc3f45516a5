"""Task vocabulary shared by the leader's reconcilers: building tasks, reading policies, naming
states, and the one log line format for task state changes.

Design notes
------------
* A task is born from a service here and nowhere else (:func:`new_task`), so the replicated and
  global orchestrators and the restart supervisor agree on what a task copies: the service's task
  spec, its spec version, its annotations (as ``service_annotations``) and its endpoint. Task
  names are ``<service>.<slot>`` for replicated tasks and ``<service>.<node id>`` for global ones.
* Timestamps are made by the caller (``now``, seconds since the epoch from the component's clock)
  before anything is proposed: the store's apply must stay deterministic.
* "Slot key" identifies a task's slot across both modes: ``(service id, slot)`` for replicated
  tasks, ``(service id, node id)`` for global ones (slot 0) -- the same key the store indexes
  tasks by (``"<service>/<slot or node>"``), used for history retention and restart counting.
* :func:`log_task_change` is the single format for "task X: field old -> new (cause)" lines, with
  service, slot and node ids, so a task's life can be followed with one grep.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from swarm.api.objects_pb2 import Node, NodeStatus, Service, Task
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import COMPLETE, NEW, RUNNING, RestartPolicy, TaskState
from swarm.ca.ids import new_id
from swarm.reconciler.clock import ts, ts_seconds

DEFAULT_RESTART_DELAY = 5.0
DEFAULT_HISTORY_LIMIT = 5
OLD_TASK_WAIT = 60.0  # delayed start waits at most this long for the old task to stop

SlotKey = tuple[str, str]


def state_name(s: int) -> str:
    try:
        return TaskState.Name(s)  # type: ignore[arg-type,unused-ignore]  # an int, not the enum's NewType
    except ValueError:
        return str(s)


def mode_of(service: Service) -> str:
    """``replicated``, ``global``, ``replicated_job`` or ``global_job``; a spec with no mode set is
    replicated (the API default), like swarmkit."""
    return service.spec.WhichOneof("mode") or "replicated"


def is_global(service: Service) -> bool:
    return mode_of(service) == "global"


def is_replicated(service: Service) -> bool:
    return mode_of(service) == "replicated"


def is_job(service: Service) -> bool:
    return mode_of(service) in ("replicated_job", "global_job")


def node_bound(service: Service) -> bool:
    """Tasks tied to one node each (global services and global jobs), named by node, slot 0."""
    return mode_of(service) in ("global", "global_job")


def is_job_task(t: Task) -> bool:
    return t.HasField("job_iteration")


def job_iteration(service: Service) -> int:
    return service.job_status.job_iteration.index


def run_state(service: Service) -> int:
    """The desired state of a task meant to run: COMPLETE for jobs (run to the end), else RUNNING."""
    return COMPLETE if is_job(service) else RUNNING


def replicas(service: Service) -> int:
    return service.spec.replicated.replicas if service.spec.HasField("replicated") else 1


def slot_key(t: Task) -> SlotKey:
    return (t.service_id, str(t.slot) if t.slot else t.node_id)


def restart_policy(t: Task) -> RestartPolicy:
    return t.spec.restart


def restart_delay(policy: RestartPolicy) -> float:
    if policy.HasField("delay"):
        return max(policy.delay.ToNanoseconds() / 1e9, 0.0)
    return DEFAULT_RESTART_DELAY


def restart_window(policy: RestartPolicy) -> float:
    return policy.window.ToNanoseconds() / 1e9 if policy.HasField("window") else 0.0


def node_ready(n: Node | None) -> bool:
    return n is not None and n.status.state == NodeStatus.READY


def node_down(n: Node | None) -> bool:
    """Down or gone: nobody can confirm what runs there."""
    return n is None or n.status.state == NodeStatus.DOWN


def node_drained(n: Node | None) -> bool:
    return n is not None and n.spec.availability == NodeSpec.DRAIN


def node_active(n: Node | None) -> bool:
    """Ready and available for new tasks."""
    return node_ready(n) and n is not None and n.spec.availability == NodeSpec.ACTIVE


def task_time(t: Task) -> float:
    """When the task last changed state (status timestamp), falling back to its creation."""
    if t.status.HasField("timestamp"):
        return ts_seconds(t.status.timestamp)
    return ts_seconds(t.meta.created_at)


def new_task(service: Service, now: float, *, slot: int = 0, node_id: str = "",
             desired: int = RUNNING) -> Task:
    """A NEW task of ``service`` for ``slot`` (replicated) or ``node_id`` (global)."""
    t = Task(id=new_id(), service_id=service.id, slot=slot, node_id=node_id,
             desired_state=desired)  # type: ignore[arg-type]
    t.spec.CopyFrom(service.spec.task)
    if service.HasField("spec_version"):
        t.spec_version.CopyFrom(service.spec_version)
    t.service_annotations.CopyFrom(service.spec.annotations)
    name = service.spec.annotations.name
    t.annotations.name = f"{name}.{slot}" if slot else f"{name}.{node_id}"
    if service.HasField("endpoint"):
        t.endpoint.CopyFrom(service.endpoint)
    if is_job(service):
        t.job_iteration.index = job_iteration(service)
    stamp = ts(now)
    t.meta.created_at.CopyFrom(stamp)
    t.meta.updated_at.CopyFrom(stamp)
    t.status.state = NEW
    t.status.message = "created"
    t.status.timestamp.CopyFrom(stamp)
    return t


def describe(t: Task) -> str:
    where = f"slot {t.slot}" if t.slot else "global"
    return f"task {t.id} (service {t.service_id}, {where}, node {t.node_id or '-'})"


def log_task_change(log: logging.Logger, t: Task, field: str, old: int, new: int, cause: str) -> None:
    log.info("%s: %s %s -> %s (%s)", describe(t), field, state_name(old), state_name(new), cause)


def set_desired(t: Task, desired: int, now: float) -> tuple[int, int]:
    """Set the desired state (managers only); returns (old, new)."""
    old = t.desired_state
    t.desired_state = desired  # type: ignore[assignment]
    t.meta.updated_at.CopyFrom(ts(now))
    return old, desired


def set_status(t: Task, state: int, message: str, now: float, err: str = "") -> tuple[int, int]:
    """Set the observed state where a manager owns it (allocator, scheduler); returns (old, new)."""
    old = t.status.state
    t.status.state = state  # type: ignore[assignment]
    t.status.message = message
    t.status.err = err
    t.status.timestamp.CopyFrom(ts(now))
    return old, state


def by_slot(tasks: Iterable[Task]) -> dict[SlotKey, list[Task]]:
    out: dict[SlotKey, list[Task]] = {}
    for t in tasks:
        out.setdefault(slot_key(t), []).append(t)
    return out


__all__ = ["DEFAULT_HISTORY_LIMIT", "DEFAULT_RESTART_DELAY", "OLD_TASK_WAIT", "SlotKey", "by_slot",
           "describe", "is_global", "is_job", "is_job_task", "is_replicated", "job_iteration",
           "log_task_change", "mode_of", "new_task", "node_active", "node_bound", "node_down",
           "node_drained", "node_ready", "replicas", "restart_delay", "restart_policy",
           "restart_window", "run_state", "set_desired", "set_status", "slot_key", "state_name",
           "task_time"]
