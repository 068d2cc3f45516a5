"""The global orchestrator: one task of each global service on every eligible node.

Design notes
------------
Decisions are a pure function, :func:`plan_global`, over one service, the nodes and the
service's tasks (swarmkit ``orchestrator/global``, reference §4.1, §4.5):

* A node is *eligible* when it is Ready, its availability is active, and it matches the
  service's placement constraints (``swarm.scheduler.constraint``; constraints that do not parse
  match nothing). The orchestrator sets the task's node itself; the scheduler only checks the
  filters for that node and confirms (ASSIGNED) or leaves the task PENDING with the reason.
* Eligible node without a runnable task (desired <= RUNNING) -> a new task, unless the node's
  latest task of this spec version ended on its own (complete/failed/rejected) and the restart
  policy says not to replace it (condition ``none``, ``on-failure`` after exit 0, max attempts):
  such a node stays without a task until the service is updated.
* Node drained, Down, removed, or no longer matching the constraints -> its runnable task gets
  desired SHUTDOWN and is not replaced (so rolling updates do not wait on a dead node).
* Node paused, Unknown or Disconnected -> existing tasks stay, no new task.
* Failed tasks are restarted by the restart supervisor (same node); service removal is handled
  by the replicated orchestrator, which owns it for both modes.

The component reconciles all global services when a node changes, one service when it changes or
when one of its runnable tasks is deleted, and everything when it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from swarm.api.objects_pb2 import Node, NodeStatus, Service, Task
from swarm.api.types_pb2 import COMPLETE, FAILED, REJECTED, RUNNING, SHUTDOWN
from swarm.orchestrator.restart import should_restart
from swarm.reconciler.base import Reconciler, decode_event
from swarm.reconciler.clock import ts_seconds
from swarm.reconciler.tasks import (
    describe,
    is_global,
    new_task,
    node_active,
    node_drained,
    set_desired,
    state_name,
)
from swarm.reconciler.writes import Built, Change, commit
from swarm.scheduler import ConstraintError, node_matches, parse_constraints
from swarm.store import Event, typed
from swarm.store.typed import Reader


@dataclass(slots=True)
class GlobalPlan:
    create_on: list[str] = field(default_factory=list)                # node ids
    shutdown: list[tuple[str, str]] = field(default_factory=list)     # (task id, cause)


def _constraints_match(service: Service) -> Callable[[Node], bool]:
    try:
        cons = parse_constraints(service.spec.task.placement.constraints)
    except ConstraintError:
        return lambda n: False
    return lambda n: node_matches(cons, n)


def _ended_for_good(tasks: Sequence[Task], service: Service, now: float) -> bool:
    same = [t for t in tasks if t.spec_version.index == service.spec_version.index]
    if not same:
        return False
    latest = max(same, key=lambda t: (ts_seconds(t.meta.created_at), t.id))
    if latest.status.state not in (COMPLETE, FAILED, REJECTED):
        return False
    return not should_restart(latest, same, now)[0]


def plan_global(service: Service, nodes: Sequence[Node], tasks: Sequence[Task], now: float) -> GlobalPlan:
    plan = GlobalPlan()
    if service.pending_delete or not is_global(service):
        return plan
    matches = _constraints_match(service)
    by_node: dict[str, list[Task]] = {}
    for t in tasks:
        by_node.setdefault(t.node_id, []).append(t)
    for node in sorted(nodes, key=lambda n: n.id):
        on_node = by_node.pop(node.id, [])
        runnable = [t for t in on_node if t.desired_state <= RUNNING]
        if node.status.state == NodeStatus.DOWN:
            cause = "node down"
        elif node_drained(node):
            cause = "node drained"
        elif not matches(node):
            cause = "node no longer satisfies the constraints"
        else:
            cause = ""
        if cause:
            plan.shutdown += [(t.id, cause) for t in runnable]
            continue
        if runnable or not node_active(node) or _ended_for_good(on_node, service, now):
            continue
        plan.create_on.append(node.id)
    for nid, left in by_node.items():
        if nid:
            plan.shutdown += [(t.id, "node removed") for t in left if t.desired_state <= RUNNING]
    return plan


class GlobalOrchestrator(Reconciler):
    name = "global orchestrator"

    async def reconcile_all(self) -> None:
        await self._reconcile({s.id for s in Reader(self.store).list(Service) if is_global(s)})

    async def handle(self, events: Sequence[Event]) -> None:
        dirty: set[str] = set()
        all_services = False
        for ev in events:
            if ev.table == "nodes":
                all_services = True
            elif ev.table == "services" and ev.kind != "delete":
                dirty.add(ev.id)
            elif ev.table == "tasks" and ev.kind == "delete":
                _, old = decode_event(ev)
                if old is not None and not old.slot and old.desired_state <= RUNNING:
                    dirty.add(old.service_id)
        if all_services:
            await self.reconcile_all()
        elif dirty:
            await self._reconcile(dirty)

    async def _reconcile(self, service_ids: set[str]) -> None:
        r = Reader(self.store.view())
        now = self.clock()
        nodes = r.list(Node)
        changes: list[Change] = []
        for sid in sorted(service_ids):
            service = r.get(Service, sid)
            if service is None or not is_global(service):
                continue
            plan = plan_global(service, nodes, r.tasks_of_service(sid), now)
            changes += [Change(_shutdown(tid, now, cause), key=tid) for tid, cause in plan.shutdown]
            changes += [Change(_create(sid, nid, now), key=f"{sid}/{nid}") for nid in plan.create_on]
        if changes:
            await commit(self.store, changes, logger=self.log)


def _create(service_id: str, node_id: str, now: float) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        service = r.get(Service, service_id)
        if service is None or service.pending_delete or not node_active(r.get(Node, node_id)):
            return None
        if any(t.desired_state <= RUNNING for t in r.find(Task, "slot", f"{service_id}/{node_id}")):
            return None
        t = new_task(service, now, node_id=node_id)
        return [typed.create(t)], [f"{describe(t)}: created, desired RUNNING (global service, node eligible)"]
    return build


def _shutdown(task_id: str, now: float, cause: str) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        t = r.get(Task, task_id)
        if t is None or t.desired_state > RUNNING:
            return None
        old, new = set_desired(t, SHUTDOWN, now)
        return [typed.update(t)], [f"{describe(t)}: desired {state_name(old)} -> {state_name(new)} ({cause})"]
    return build


__all__ = ["GlobalOrchestrator", "GlobalPlan", "plan_global"]
