"""The replicated orchestrator: keeps ``Replicas`` slots of each replicated service filled.

Design notes
------------
Decisions are a pure function, :func:`plan_replicated`, over one service and its tasks
(swarmkit ``orchestrator/replicated/services.go``):

* A slot is *runnable* if one of its tasks has desired state <= RUNNING (READY counts: a restart
  waiting out its delay); a slot whose tasks are all shut down (restart condition ``none``,
  ``on-failure`` after exit 0, scaled down) is *dead*.
* Scale up fills the lowest slot numbers that are not runnable. A dead slot that is refilled
  keeps its history; the other dead slots are deleted outright on every reconcile ("scale-down
  and ``service rm`` leave no history").
* Scale down keeps the slots that balance best: slots are ranked running-first (observed
  RUNNING), then by slot number, and each gets its rank among the service's slots on its node
  (1st copy, 2nd copy...). Slots with the highest rank -- on the nodes holding the most replicas,
  non-running ones first -- get desired state REMOVE; the task reaper deletes them once they are
  shut down. Deviation from swarmkit: a slot without a node (still pending, perhaps
  unschedulable) or with several tasks is removed first; swarmkit keeps those.
* A removed or ``pending_delete`` service: every task gets desired state REMOVE (for either
  mode -- this orchestrator owns service removal; the global one only places tasks).

Restarts (a task that ended, a node that went down or was drained) are the restart supervisor's
job (``restart.py``); it replaces a task and shuts the old one down in one atomic write, so a
runnable slot never looks dead here in between.

The component reconciles a service when the service is created, updated or deleted, and when a
runnable task of it is deleted; it reconciles everything when it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from swarm.api.objects_pb2 import Service, Task
from swarm.api.types_pb2 import REMOVE, RUNNING
from swarm.reconciler.base import Reconciler, decode_event
from swarm.reconciler.tasks import describe, is_replicated, new_task, replicas, set_desired, state_name
from swarm.reconciler.writes import Built, Change, commit
from swarm.store import Event, typed
from swarm.store.typed import Reader

_UNPLACED = 1 << 30


@dataclass(slots=True)
class ReplicatedPlan:
    create_slots: list[int] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)   # task ids -> desired REMOVE
    delete: list[str] = field(default_factory=list)   # dead-slot task ids -> deleted now
    cause: str = ""


def runnable_and_dead(tasks: Sequence[Task]) -> tuple[dict[int, list[Task]], dict[int, list[Task]]]:
    runnable: dict[int, list[Task]] = {}
    for t in tasks:
        if t.desired_state <= RUNNING:
            runnable.setdefault(t.slot, []).append(t)
    dead: dict[int, list[Task]] = {}
    for t in tasks:
        if t.slot not in runnable:
            dead.setdefault(t.slot, []).append(t)
    return runnable, dead


def scale_down_order(runnable: dict[int, list[Task]]) -> list[int]:
    """Slots, the ones to keep first."""
    def running(slot: int) -> bool:
        return any(t.status.state == RUNNING for t in runnable[slot])

    ranked = sorted(runnable, key=lambda s: (not running(s), s))
    per_node: dict[str, int] = {}
    index: dict[int, int] = {}
    for s in ranked:
        ts = runnable[s]
        if len(ts) == 1 and ts[0].node_id:
            n = per_node[ts[0].node_id] = per_node.get(ts[0].node_id, 0) + 1
            index[s] = n
        else:
            index[s] = _UNPLACED
    return sorted(ranked, key=lambda s: (index[s], not running(s), s))


def plan_replicated(service: Service | None, tasks: Sequence[Task]) -> ReplicatedPlan:
    """What to do for one replicated service (None: the service is gone)."""
    if service is None or service.pending_delete:
        return ReplicatedPlan(remove=[t.id for t in tasks if t.desired_state < REMOVE],
                              cause="service removed")
    if not is_replicated(service):
        return ReplicatedPlan()
    want = replicas(service)
    runnable, dead = runnable_and_dead([t for t in tasks if t.slot])
    have = len(runnable)
    plan = ReplicatedPlan(cause=f"scale {have} -> {want}")
    if have < want:
        slot = 0
        for _ in range(want - have):
            slot += 1
            while slot in runnable:
                slot += 1
            plan.create_slots.append(slot)
            dead.pop(slot, None)
    elif have > want:
        for s in scale_down_order(runnable)[want:]:
            plan.remove.extend(t.id for t in runnable[s])
    plan.delete = [t.id for slot_tasks in dead.values() for t in slot_tasks]
    return plan


class ReplicatedOrchestrator(Reconciler):
    name = "replicated orchestrator"

    async def reconcile_all(self) -> None:
        r = Reader(self.store)
        ids = {s.id for s in r.list(Service)} | {t.service_id for t in r.list(Task) if t.service_id}
        await self._reconcile(ids)

    async def handle(self, events: Sequence[Event]) -> None:
        dirty: set[str] = set()
        for ev in events:
            if ev.table == "services":
                dirty.add(ev.id)
            elif ev.table == "tasks" and ev.kind == "delete":
                _, old = decode_event(ev)
                if old is not None and old.service_id and old.desired_state <= RUNNING:
                    dirty.add(old.service_id)
        if dirty:
            await self._reconcile(dirty)

    async def _reconcile(self, service_ids: set[str]) -> None:
        r = Reader(self.store.view())
        now = self.clock()
        changes: list[Change] = []
        for sid in sorted(service_ids):
            service = r.get(Service, sid)
            if service is not None and not is_replicated(service) and not service.pending_delete:
                continue
            plan = plan_replicated(service, r.tasks_of_service(sid))
            if plan.create_slots or plan.remove or plan.delete:
                self.log.info("service %s: %s: create %d, remove %d, delete %d dead-slot tasks", sid,
                              plan.cause, len(plan.create_slots), len(plan.remove), len(plan.delete))
            changes += [Change(_delete(tid), key=tid) for tid in plan.delete]
            changes += [Change(_remove(tid, now, plan.cause), key=tid) for tid in plan.remove]
            if service is not None:
                changes += [Change(_create(sid, slot, now, plan.cause), key=f"{sid}/{slot}")
                            for slot in plan.create_slots]
        if changes:
            await commit(self.store, changes, logger=self.log)


def _create(service_id: str, slot: int, now: float, cause: str) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        service = r.get(Service, service_id)
        if service is None or service.pending_delete:
            return None
        if any(t.desired_state <= RUNNING for t in r.find(Task, "slot", f"{service_id}/{slot}")):
            return None  # filled meanwhile
        t = new_task(service, now, slot=slot)
        return [typed.create(t)], [f"{describe(t)}: created, desired RUNNING ({cause})"]
    return build


def _remove(task_id: str, now: float, cause: str) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        t = r.get(Task, task_id)
        if t is None or t.desired_state >= REMOVE:
            return None
        old, new = set_desired(t, REMOVE, now)
        return [typed.update(t)], [f"{describe(t)}: desired {state_name(old)} -> {state_name(new)} ({cause})"]
    return build


def _delete(task_id: str) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        t = r.get(Task, task_id)
        if t is None or t.desired_state <= RUNNING:
            return None
        return ([typed.delete(t, expected_version=t.meta.version.index)],
                [f"{describe(t)}: deleted (dead slot, state {state_name(t.status.state)})"])
    return build


__all__ = ["ReplicatedOrchestrator", "ReplicatedPlan", "plan_replicated", "runnable_and_dead",
           "scale_down_order"]
