"""The task reaper: task history retention, and deleting removed tasks once they are shut down.

Design notes
------------
Pure decisions (swarmkit ``orchestrator/taskreaper``, reference §3.4):

* :func:`removable` -- a task whose desired state is REMOVE (scale down, service removed) is
  deleted as soon as it is no longer running: observed state past RUNNING (shut down, failed,
  orphaned...), or never got to a node (observed before ASSIGNED). Extension: also when its node
  no longer exists (nobody will ever report it shut down).
* :func:`history_limit` -- the cluster's ``task_history_retention_limit`` (default 5 without a
  cluster object); if the service's restart policy sets ``max_attempts`` > 0 the slot keeps
  ``max_attempts + 1`` tasks instead, so restart counting can be rebuilt from the store after a
  failover; a negative cluster limit means never clean up.
* :func:`expired_in_slot` -- per slot (service + slot, or service + node for global tasks) the
  limit counts *all* tasks, the current one included; the oldest tasks by status timestamp are
  deleted first, and only tasks that are not running: observed past RUNNING, or never assigned and
  no longer wanted. A job's completed tasks of its current run are never counted or deleted
  (the jobs orchestrator counts them).

The component collects dirty slots and REMOVE candidates from task events and works in batches:
250 ms after the first dirty slot, or at once when 1000 slots are dirty. Deletes are conditional
on the version read, so a task that changed meanwhile is re-examined rather than deleted blindly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from swarm.api.objects_pb2 import Cluster, Node, Service, Task
from swarm.api.types_pb2 import ASSIGNED, COMPLETE, REMOVE, RUNNING
from swarm.reconciler.base import Reconciler, decode_event
from swarm.reconciler.tasks import (
    DEFAULT_HISTORY_LIMIT,
    SlotKey,
    describe,
    is_job_task,
    job_iteration,
    slot_key,
    state_name,
    task_time,
)
from swarm.reconciler.writes import Built, Change, commit
from swarm.store import Event, ObjectStore, typed
from swarm.store.typed import Reader

BATCH_DELAY = 0.25
BATCH_SLOTS = 1000


def removable(t: Task, node_exists: bool = True) -> bool:
    if t.desired_state != REMOVE:
        return False
    return t.status.state < ASSIGNED or t.status.state > RUNNING or not node_exists


def history_limit(cluster: Cluster | None, service: Service | None, t: Task | None = None) -> int:
    limit = DEFAULT_HISTORY_LIMIT
    if cluster is not None:
        limit = cluster.spec.orchestration.task_history_retention_limit
    if limit < 0:
        return limit
    restart = service.spec.task.restart if service is not None else (t.spec.restart if t else None)
    if restart is not None and restart.max_attempts > 0:
        return restart.max_attempts + 1
    return limit


def _job_result(service: Service | None, t: Task) -> bool:
    """A completion of the job's current run: kept whatever the history limit, it is what the
    jobs orchestrator counts (deleting it would run the job again)."""
    return (service is not None and is_job_task(t) and t.status.state == COMPLETE
            and t.job_iteration.index == job_iteration(service))


def _reapable_history(t: Task) -> bool:
    wanted_up_to = COMPLETE if is_job_task(t) else RUNNING   # a job's task is wanted until COMPLETE
    return t.status.state > RUNNING or (t.status.state < ASSIGNED and t.desired_state > wanted_up_to)


def expired_in_slot(tasks: Sequence[Task], limit: int) -> list[str]:
    """Ids of the oldest non-running tasks to delete so the slot keeps at most ``limit`` tasks."""
    if limit < 0 or len(tasks) <= limit:
        return []
    excess = len(tasks) - limit
    out: list[str] = []
    for t in sorted(tasks, key=lambda t: (task_time(t), t.id)):
        if len(out) >= excess:
            break
        if _reapable_history(t):
            out.append(t.id)
    return out


class TaskReaper(Reconciler):
    name = "task reaper"

    def __init__(self, store: ObjectStore, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, clock)
        self.dirty_slots: set[SlotKey] = set()
        self.candidates: set[str] = set()
        self._since: float | None = None

    async def reconcile_all(self) -> None:
        r = Reader(self.store)
        tasks = r.list(Task)
        self.dirty_slots = {slot_key(t) for t in tasks if t.service_id}
        self.candidates = {t.id for t in tasks if t.desired_state == REMOVE}
        await self.tick(self.clock())

    async def handle(self, events: Sequence[Event]) -> None:
        for ev in events:
            if ev.table == "cluster":
                await self.reconcile_all()
                return
            if ev.table != "tasks" or ev.kind == "delete":
                continue
            t, _ = decode_event(ev)
            if t.desired_state == REMOVE:
                self.candidates.add(t.id)
            if t.service_id:
                self.dirty_slots.add(slot_key(t))
        if self.dirty_slots or self.candidates:
            now = self.clock()
            if self._since is None:
                self._since = now
            self.wake_at(now if len(self.dirty_slots) >= BATCH_SLOTS else self._since + BATCH_DELAY)

    async def tick(self, now: float) -> None:
        self._since = None
        slots, self.dirty_slots = self.dirty_slots, set()
        cands, self.candidates = self.candidates, set()
        r = Reader(self.store.view())
        cluster = r.cluster()
        nodes = {n.id for n in r.list(Node)}
        changes: list[Change] = []
        chosen: set[str] = set()
        for tid in sorted(cands):
            t = r.get(Task, tid)
            if t is not None and removable(t, not t.node_id or t.node_id in nodes):
                chosen.add(tid)
                changes.append(Change(_delete(tid, "removed and shut down"), key=tid))
        services: dict[str, Service | None] = {}
        for sid, slot in sorted(slots):
            if sid not in services:
                services[sid] = r.get(Service, sid)
            tasks = r.find(Task, "slot", f"{sid}/{slot}")
            tasks = [t for t in tasks if t.id not in chosen and not _job_result(services[sid], t)]
            limit = history_limit(cluster, services[sid], tasks[0] if tasks else None)
            for tid in expired_in_slot(tasks, limit):
                changes.append(Change(_delete(tid, f"history limit {limit}"), key=tid))
        if changes:
            await commit(self.store, changes, logger=self.log)


def _delete(task_id: str, cause: str) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        t = r.get(Task, task_id)
        if t is None:
            return None
        if not (_reapable_history(t) or removable(t, r.get(Node, t.node_id) is not None
                                                   if t.node_id else True)):
            return None
        return ([typed.delete(t, expected_version=t.meta.version.index)],
                [f"{describe(t)}: deleted ({cause}; desired {state_name(t.desired_state)}, "
                 f"state {state_name(t.status.state)})"])
    return build


__all__ = ["BATCH_DELAY", "TaskReaper", "expired_in_slot", "history_limit", "removable"]
