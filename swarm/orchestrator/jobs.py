"""The jobs orchestrator: runs replicated-job and global-job services to completion.

Design notes
------------
Decisions are pure functions over one service and its tasks (swarmkit ``orchestrator/jobs``,
reference §4.1):

* A job runs in *iterations*: ``Service.job_status.job_iteration`` is set by the control API (0 at
  create, + 1 on every update, ``--force`` included), and every task carries the iteration it was
  made for (``Task.job_iteration``). Only the current iteration's tasks count; the older ones
  still wanted (desired <= COMPLETE, not complete) get desired SHUTDOWN.
* Job tasks are created with desired state COMPLETE: the agent runs them to their end, and a task
  that exits 0 (observed COMPLETE) is done for good. A task that fails is the restart
  supervisor's (same slot or node, by the restart policy, ``any`` read as ``on-failure``); the
  rolling updater leaves jobs alone.
* Replicated job (:func:`plan_replicated_job`): slots 1..``total_completions``, one lineage of
  tasks each. A slot is *active* while a task of it is wanted and not complete (running, pending,
  waiting out a restart delay, or failed and about to be judged by the restart supervisor);
  *used* once it has any task of this iteration (a slot whose task failed for good stays used, so
  the job then never reaches its total, as in Docker). New tasks go into the lowest unused slots,
  as many as keep ``active <= max_concurrent`` (0 reads as 1, the Engine API default).
* Global job (:func:`plan_global_job`): one task of this iteration on every node that is Ready,
  active and matches the constraints -- nodes that join later get theirs too. A task still
  running on a node that is drained, Down, removed or no longer matching is shut down and not
  run again there in this iteration.
* Service removal is the replicated orchestrator's (it owns removal for every mode).

The component reconciles a job service when it changes, when a task of a job changes state or is
deleted (a completion makes room for the next task), all global jobs when a node changes, and
everything when it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from swarm.api.objects_pb2 import Node, NodeStatus, Service, Task
from swarm.api.types_pb2 import COMPLETE, SHUTDOWN
from swarm.reconciler.base import Reconciler, decode_event
from swarm.reconciler.tasks import (
    describe,
    is_job,
    is_job_task,
    job_iteration,
    mode_of,
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
class JobPlan:
    create_slots: list[int] = field(default_factory=list)            # replicated job
    create_on: list[str] = field(default_factory=list)               # global job: node ids
    shutdown: list[str] = field(default_factory=list)                # task ids -> desired SHUTDOWN
    cause: str = ""


def _current(service: Service, tasks: Sequence[Task], plan: JobPlan) -> list[Task]:
    """The tasks of the current iteration; older ones still wanted go into ``plan.shutdown``."""
    it = job_iteration(service)
    out: list[Task] = []
    for t in tasks:
        if is_job_task(t) and t.job_iteration.index == it:
            out.append(t)
        elif t.desired_state <= COMPLETE and t.status.state != COMPLETE:
            plan.shutdown.append(t.id)
    return out


def max_concurrent(service: Service) -> int:
    return service.spec.replicated_job.max_concurrent or 1


def job_counts(service: Service, tasks: Sequence[Task]) -> tuple[set[int], set[int], set[int]]:
    """(completed, active, used) slots of the current iteration of a replicated job."""
    it = job_iteration(service)
    completed: set[int] = set()
    active: set[int] = set()
    used: set[int] = set()
    for t in tasks:
        if not is_job_task(t) or t.job_iteration.index != it or not t.slot:
            continue
        used.add(t.slot)
        if t.status.state == COMPLETE:
            completed.add(t.slot)
        elif t.desired_state <= COMPLETE:
            active.add(t.slot)
    return completed, active - completed, used


def plan_replicated_job(service: Service, tasks: Sequence[Task]) -> JobPlan:
    plan = JobPlan()
    if service.pending_delete or mode_of(service) != "replicated_job":
        return plan
    current = _current(service, tasks, plan)
    total = service.spec.replicated_job.total_completions
    completed, active, used = job_counts(service, current)
    room = max_concurrent(service) - len(active)
    free = [s for s in range(1, total + 1) if s not in used]
    plan.create_slots = free[:max(room, 0)]
    plan.cause = (f"job iteration {job_iteration(service)}: {len(completed)}/{total} completed, "
                  f"{len(active)} active")
    return plan


def _constraints_match(service: Service) -> Callable[[Node], bool]:
    try:
        cons = parse_constraints(service.spec.task.placement.constraints)
    except ConstraintError:
        return lambda n: False
    return lambda n: node_matches(cons, n)


def plan_global_job(service: Service, nodes: Sequence[Node], tasks: Sequence[Task]) -> JobPlan:
    plan = JobPlan()
    if service.pending_delete or mode_of(service) != "global_job":
        return plan
    current = _current(service, tasks, plan)
    have = {t.node_id for t in current}
    matches = _constraints_match(service)
    plan.create_on = [n.id for n in sorted(nodes, key=lambda n: n.id)
                      if n.id not in have and node_active(n) and matches(n)]
    by_id = {n.id: n for n in nodes}
    for t in current:   # as for a global service: stopped, not replaced, where the node went away
        n = by_id.get(t.node_id)
        if t.desired_state <= COMPLETE and t.status.state < COMPLETE and (
                n is None or n.status.state == NodeStatus.DOWN or node_drained(n) or not matches(n)):
            plan.shutdown.append(t.id)
    plan.cause = f"global job iteration {job_iteration(service)}, node eligible"
    return plan


class JobsOrchestrator(Reconciler):
    name = "jobs orchestrator"

    async def reconcile_all(self) -> None:
        await self._reconcile({s.id for s in Reader(self.store).list(Service) if is_job(s)})

    async def handle(self, events: Sequence[Event]) -> None:
        dirty: set[str] = set()
        nodes_changed = False
        for ev in events:
            if ev.table == "nodes":
                nodes_changed = True
            elif ev.table == "services" and ev.kind != "delete":
                dirty.add(ev.id)
            elif ev.table == "tasks":
                new, old = decode_event(ev)
                t = new if new is not None else old
                if t is not None and is_job_task(t):
                    dirty.add(t.service_id)
        if nodes_changed:
            dirty |= {s.id for s in Reader(self.store).list(Service) if mode_of(s) == "global_job"}
        if dirty:
            await self._reconcile(dirty)

    async def _reconcile(self, service_ids: set[str]) -> None:
        r = Reader(self.store.view())
        now = self.clock()
        nodes: list[Node] | None = None
        changes: list[Change] = []
        for sid in sorted(service_ids):
            service = r.get(Service, sid)
            if service is None or not is_job(service):
                continue
            tasks = r.tasks_of_service(sid)
            if mode_of(service) == "replicated_job":
                plan = plan_replicated_job(service, tasks)
            else:
                if nodes is None:
                    nodes = r.list(Node)
                plan = plan_global_job(service, nodes, tasks)
            it = job_iteration(service)
            changes += [Change(_shutdown(tid, now, "job iteration over" if _older(r, tid, it)
                                         else "node unavailable"), key=tid) for tid in plan.shutdown]
            changes += [Change(_create(sid, it, now, plan.cause, slot=s), key=f"{sid}/{s}")
                        for s in plan.create_slots]
            changes += [Change(_create(sid, it, now, plan.cause, node_id=n), key=f"{sid}/{n}")
                        for n in plan.create_on]
        if changes:
            await commit(self.store, changes, logger=self.log)


def _create(service_id: str, iteration: int, now: float, cause: str, *, slot: int = 0,
            node_id: str = "") -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        service = r.get(Service, service_id)
        if service is None or service.pending_delete or job_iteration(service) != iteration:
            return None
        if node_id and not node_active(r.get(Node, node_id)):
            return None
        key = f"{service_id}/{slot}" if slot else f"{service_id}/{node_id}"
        if any(is_job_task(t) and t.job_iteration.index == iteration for t in r.find(Task, "slot", key)):
            return None  # filled meanwhile
        if slot:
            _, active, _ = job_counts(service, r.tasks_of_service(service_id))
            if len(active) >= max_concurrent(service):
                return None  # the concurrency limit is re-checked on the latest state
        t = new_task(service, now, slot=slot, node_id=node_id, desired=COMPLETE)
        return [typed.create(t)], [f"{describe(t)}: created, desired COMPLETE ({cause})"]
    return build


def _older(r: Reader, task_id: str, iteration: int) -> bool:
    t = r.get(Task, task_id)
    return t is not None and (not is_job_task(t) or t.job_iteration.index != iteration)


def _shutdown(task_id: str, now: float, cause: str) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        t = r.get(Task, task_id)
        if t is None or t.desired_state > COMPLETE or t.status.state == COMPLETE:
            return None
        old, new = set_desired(t, SHUTDOWN, now)
        return [typed.update(t)], [f"{describe(t)}: desired {state_name(old)} -> {state_name(new)} "
                                   f"({cause})"]
    return build


__all__ = ["JobPlan", "JobsOrchestrator", "job_counts", "max_concurrent", "plan_global_job",
           "plan_replicated_job"]
