"""The scheduler loop: the leader-side shell around the pure :func:`swarm.scheduler.schedule`.

Design notes
------------
swarmkit's scheduler is one goroutine that both decides and writes; here the decision is a pure
function over a snapshot (``swarm/scheduler``, Nomad style) and this module is the loop around
it (it lives under ``orchestrator/`` so the scheduler package stays free of I/O):

* **What is pending.** Every task whose observed state is PENDING (the allocator moved it there).
  Replicated tasks have no node yet; global tasks carry the node the orchestrator chose and are
  only checked against the filters for that node.
* **Batching** (reference §4.3). Each newly pending task pushes the pass back by 50 ms, but a
  pass runs at most 1 s after the first task of the batch arrived, so ``--replicas 1000`` is
  placed in one pass with one spread.
* **Snapshot.** One consistent store view: nodes, the tasks occupying each node (observed
  ASSIGNED..RUNNING: reservations, host ports and spread counts), services (published ports), and
  the recent failures per (service, node) this loop has seen (:class:`FailureTracker`; leader
  memory, lost on failover as in swarmkit).
* **Commit.** Assignments (node set, ASSIGNED, ``scheduler assigned task to node``) are committed
  in chunks of at most ``MAX_ACTIONS``; before a chunk, if anyone else wrote since the state the
  picks were made on, they are re-checked with the scheduler's filters against the latest state
  (:func:`swarm.scheduler.recheck`, Nomad's plan apply) and stale ones are placed again in a new
  pass. Each write also re-reads the task and node
  (task still PENDING, node still Ready and Active), is conditional on the version read, and is
  rebuilt on conflicts. Unschedulable tasks stay
  PENDING with ``Status.err`` set to the explanation, written only when it changed. Pending tasks
  whose desired state is already SHUTDOWN or beyond are ended (observed SHUTDOWN) without
  placement.
* **Retry.** Tasks left pending (unschedulable, or naming a node not in the store) are retried
  when something could change the answer: a node changed, a service changed, a task was deleted or
  left its node (observed state past RUNNING), or the pending task itself was written. There is
  no timer-driven polling.

Cost: a snapshot walks every task to see what occupies each node -- O(tasks in the store), with
decoded tasks cached between snapshots by version, so only changed tasks are decoded again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from swarm.api.objects_pb2 import Node, Service, Task
from swarm.api.types_pb2 import ASSIGNED, FAILED, PENDING, REJECTED, RUNNING, SHUTDOWN, GenericResource
from swarm.reconciler.base import Reconciler, decode_event
from swarm.reconciler.tasks import describe, node_active, set_status, state_name
from swarm.reconciler.writes import MAX_ACTIONS, Built, Change, commit
from swarm.scheduler import FailureTracker, recheck, schedule
from swarm.store import Event, ObjectStore, StoreView, typed
from swarm.store.typed import Reader

DEBOUNCE = 0.05
MAX_WAIT = 1.0
ASSIGNED_MESSAGE = "scheduler assigned task to node"
SHUTDOWN_MESSAGE = "task shut down before it was scheduled"


class SchedulerLoop(Reconciler):
    name = "scheduler"

    def __init__(self, store: ObjectStore, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, clock)
        self.pending: set[str] = set()
        self._decoded: dict[str, Task] = {}
        self.failures = FailureTracker()
        self._first: float | None = None
        self._last = 0.0
        self.passes = 0

    # ---- events -------------------------------------------------------------------------------

    async def reconcile_all(self) -> None:
        self.pending = {t.id for t in Reader(self.store).list(Task) if t.status.state == PENDING}
        if self.pending:
            self._arrived(self.clock())

    async def handle(self, events: Sequence[Event]) -> None:
        now = self.clock()
        arrived = retry = False
        for ev in events:
            if ev.table in ("nodes", "services"):
                retry = True
                continue
            if ev.table != "tasks":
                continue
            new, old = decode_event(ev)
            if new is None:
                self.pending.discard(ev.id)
                retry = True
                continue
            if new.status.state == PENDING:
                self.pending.add(new.id)
                arrived = True
            elif old is not None and old.status.state != new.status.state:
                self.pending.discard(new.id)
                if new.status.state > RUNNING >= old.status.state:
                    retry = True
                if new.status.state in (FAILED, REJECTED) and new.node_id:
                    self.failures.record(new.service_id, new.node_id, now)
        if arrived:
            self._arrived(now)
        elif retry and self.pending:
            self.wake_at(now + DEBOUNCE)

    def _arrived(self, now: float) -> None:
        if self._first is None:
            self._first = now
        self._last = now
        self.wake_at(min(self._last + DEBOUNCE, self._first + MAX_WAIT))

    async def tick(self, now: float) -> None:
        if self._first is not None:
            due = min(self._last + DEBOUNCE, self._first + MAX_WAIT)
            if now < due:
                self.wake_at(due)
                return
        self._first = None
        if self.pending:
            await self.run_pass(now)

    # ---- one pass -----------------------------------------------------------------------------

    async def run_pass(self, now: float) -> None:
        view = self.store.view()
        r = Reader(view)
        pending = [t for tid in sorted(self.pending) if (t := r.get(Task, tid)) is not None
                   and t.status.state == PENDING]
        self.pending = {t.id for t in pending}
        if not pending:
            return
        nodes, by_node, services = self._snapshot(view)
        plan = schedule(nodes, by_node, pending, services=services, failures=self.failures.counts(now))
        self.passes += 1
        self.log.info("scheduler: pass over %d pending tasks: %d assigned, %d unschedulable, %d ended",
                      len(pending), len(plan.assignments), len(plan.unschedulable), len(plan.shutdown))
        if await self._commit_assignments(list(plan.assignments.items()), view.index, now, plan.generic):
            self.wake_at(self.clock() + DEBOUNCE)  # some picks went stale: place them again
        changes = [Change(_unschedulable(tid, err), key=tid) for tid, err in plan.unschedulable.items()]
        changes += [Change(_end(tid, now), key=tid) for tid in plan.shutdown]
        if changes:
            await commit(self.store, changes, logger=self.log)
        latest = Reader(self.store)
        self.pending = {tid for tid in self.pending
                        if (t := latest.get(Task, tid)) is not None and t.status.state == PENDING}

    async def _commit_assignments(self, pairs: list[tuple[str, str]], seen: int, now: float,
                                  generic: dict[str, list[GenericResource]] | None = None) -> int:
        """Commit (task, node) picks in chunks. Before a chunk, if anyone but this loop wrote since
        the state the picks were checked against (store index ``seen``), the chunk is re-checked
        with the filters against the latest state (Nomad's plan apply). Returns how many picks were
        dropped as stale."""
        dropped = 0
        for i in range(0, len(pairs), MAX_ACTIONS):
            part = pairs[i : i + MAX_ACTIONS]
            stale: dict[str, str] = {}
            if self.store.index != seen:
                view = self.store.view()
                r = Reader(view)
                nodes, by_node, services = self._snapshot(view)
                planned = [(t, nid) for tid, nid in part if (t := r.get(Task, tid)) is not None]
                stale = recheck(nodes, by_node, planned, services)
                seen = view.index
            for tid, why in stale.items():
                self.log.info("scheduler: pick for task %s no longer fits node %s (%s); placing it again",
                              tid, dict(part).get(tid), why)
            dropped += len(stale)
            changes = [Change(_assign(tid, nid, now, (generic or {}).get(tid, [])), key=tid)
                       for tid, nid in part if tid not in stale]
            if changes:
                before = self.store.index
                await commit(self.store, changes, logger=self.log)
                if before == seen and self.store.index - before <= 1:
                    seen = self.store.index  # only our own batch landed
        return dropped

    def _snapshot(self, view: StoreView) -> tuple[list[Node], dict[str, list[Task]], dict[str, Service]]:
        """Nodes, the tasks occupying each node (observed ASSIGNED..RUNNING), services by id.
        Decoded tasks are kept between snapshots and reused while their version is unchanged."""
        cache, fresh = self._decoded, {}
        by_node: dict[str, list[Task]] = {}
        for so in view.list("tasks"):
            t = cache.get(so.id)
            if t is None or t.meta.version.index != so.version:
                t = typed.decode_as(Task, so)
            fresh[so.id] = t
            if t.node_id and ASSIGNED <= t.status.state <= RUNNING:
                by_node.setdefault(t.node_id, []).append(t)
        self._decoded = fresh
        r = Reader(view)
        return r.list(Node), by_node, {s.id: s for s in r.list(Service)}


def _assign(task_id: str, node_id: str, now: float,
            generic: list[GenericResource] | None = None) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        t = r.get(Task, task_id)
        if t is None or t.status.state != PENDING or t.desired_state >= SHUTDOWN:
            return None
        if t.node_id and t.node_id != node_id:
            return None
        if not node_active(r.get(Node, node_id)):
            return None
        t.node_id = node_id
        del t.assigned_generic_resources[:]
        t.assigned_generic_resources.extend(generic or [])
        old, new = set_status(t, ASSIGNED, ASSIGNED_MESSAGE, now)
        return [typed.update(t)], [f"{describe(t)}: state {state_name(old)} -> {state_name(new)} "
                                   f"(scheduled on node {node_id})"]
    return build


def _unschedulable(task_id: str, err: str) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        t = r.get(Task, task_id)
        if t is None or t.status.state != PENDING or t.status.err == err:
            return None
        t.status.err = err
        return [typed.update(t)], [f"{describe(t)}: stays PENDING: {err}"]
    return build


def _end(task_id: str, now: float) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        t = r.get(Task, task_id)
        if t is None or t.status.state != PENDING or t.desired_state < SHUTDOWN:
            return None
        old, new = set_status(t, SHUTDOWN, SHUTDOWN_MESSAGE, now)
        return [typed.update(t)], [f"{describe(t)}: state {state_name(old)} -> {state_name(new)} "
                                   f"(desired {state_name(t.desired_state)} before placement)"]
    return build


__all__ = ["ASSIGNED_MESSAGE", "DEBOUNCE", "MAX_WAIT", "SchedulerLoop"]
