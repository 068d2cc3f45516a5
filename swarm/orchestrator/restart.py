"""The restart supervisor: replaces tasks that ended or lost their node, by the restart policy.

Design notes
------------
In swarmkit the supervisor is a library the orchestrators call; here it is its own reconciler
watching tasks and nodes, so the orchestrators stay about slots and nodes only. It acts on

* a task that *ended* while still wanted -- observed state past RUNNING (COMPLETE, FAILED,
  REJECTED, or SHUTDOWN it was not asked for) with desired state <= RUNNING, in either mode;
* a replicated task whose node is Down or gone (replaced at once, without waiting for the old
  task and -- a deviation from Docker, which waits the restart delay -- without the restart
  delay) or drained (replaced with no restart delay). Global tasks on such nodes are the global
  orchestrator's business (shut down, not replaced).

One restart is one atomic write (:func:`restart_change`): the old task gets desired SHUTDOWN and,
if :func:`should_restart` agrees, a new task from the current service spec takes the same slot
(global: the same node, if it is still Ready and active). Because both happen in one batch the
replicated orchestrator never sees the slot empty in between; the write is conditional on the old
task's version, so a concurrent scale-down or a second restart of the same task loses cleanly.

Restart policy (reference §4.2): condition ``none`` never replaces, ``on-failure`` not after
COMPLETE, ``any`` always; ``max_attempts`` counts restarts per slot and spec version, within
``window`` if set. The count is derived from the store, not leader memory: the restarts of a slot
are its tasks with the same spec version minus the first one (the reaper keeps ``max_attempts+1``
tasks per slot for exactly this), so it survives a failover.

Delayed start: the replacement is created at once with desired READY (the agent may pull and
create) when there is a delay or an old task to wait for, and :func:`start_due` decides when it
moves to RUNNING: after the delay (chained after the old task's own pending delay, so a task
failing during its delay does not restart in a tight loop) and once the slot's old tasks stopped
-- skipped when they are already terminal or their node is down, and given up after 1 min.
Delays live in memory; a READY task this supervisor did not create (made before a failover, or
by the rolling updater, which promotes its own sooner) is started ``delay`` after its creation
under the same old-task rule -- a backstop, so no task is left held at READY.

With condition ``none`` a task on a drained or down node is shut down and not replaced, as in
swarmkit (the drain path goes through the same policy check).

Jobs: a job's task is wanted up to desired COMPLETE; one that completed is never replaced, one
that failed is (``any`` reads as ``on-failure``), only within the job's current iteration, and a
delayed replacement is promoted from READY to COMPLETE.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from swarm.api.objects_pb2 import Node, Service, Task
from swarm.api.types_pb2 import ASSIGNED, COMPLETE, READY, RUNNING, SHUTDOWN, RestartPolicy
from swarm.reconciler.base import Reconciler, decode_event
from swarm.reconciler.clock import ts_seconds
from swarm.reconciler.tasks import (
    OLD_TASK_WAIT,
    describe,
    is_job_task,
    job_iteration,
    new_task,
    node_active,
    node_bound,
    node_down,
    node_drained,
    restart_delay,
    restart_window,
    run_state,
    set_desired,
    slot_key,
    state_name,
)
from swarm.reconciler.writes import Built, Change, commit
from swarm.store import Event, ObjectStore, typed
from swarm.store.typed import Reader


def restart_cause(t: Task, node: Node | None) -> str | None:
    """Why ``t`` must be replaced now, or None. A job's task is wanted up to desired COMPLETE, and
    once it completed it is done for good."""
    if is_job_task(t):
        if t.desired_state > COMPLETE or t.status.state == COMPLETE:
            return None
    elif t.desired_state > RUNNING:
        return None
    if t.status.state > RUNNING:
        why = t.status.err or t.status.message
        return f"task {state_name(t.status.state).lower()}" + (f": {why}" if why else "")
    if t.slot and t.node_id:
        if node_down(node):
            return "node down" if node is not None else "node removed"
        if node_drained(node):
            return "node drained"
    return None


def should_restart(t: Task, slot_tasks: Sequence[Task], now: float) -> tuple[bool, str]:
    """Does the restart policy allow replacing ``t``? (answer, reason when not)."""
    policy = t.spec.restart
    cond = policy.condition
    if cond == RestartPolicy.RESTART_ON_NONE:
        return False, "restart condition none"
    # A job's ``any`` is read as ``on-failure``: a completed job task is never run again.
    if (cond == RestartPolicy.RESTART_ON_FAILURE or is_job_task(t)) and t.status.state == COMPLETE:
        return False, "restart condition on-failure and the task completed"
    if policy.max_attempts == 0:
        return True, ""
    same = sorted((o for o in slot_tasks if o.spec_version.index == t.spec_version.index),
                  key=lambda o: (ts_seconds(o.meta.created_at), o.id))
    if all(o.id != t.id for o in same):
        same.append(t)
    restarts = same[1:]
    window = restart_window(policy)
    if window > 0:
        restarts = [o for o in restarts if ts_seconds(o.meta.created_at) >= now - window]
    if len(restarts) >= policy.max_attempts:
        return False, f"max attempts ({policy.max_attempts}) reached"
    return True, ""


def start_due(t: Task, slot_tasks: Sequence[Task], nodes: Mapping[str, Node], now: float,
              not_before: float) -> tuple[bool, float | None]:
    """May the delayed task ``t`` start now? Otherwise also when to look again."""
    if now < not_before:
        return False, not_before
    waiting = [o for o in slot_tasks if o.id != t.id and o.desired_state > RUNNING
               and ASSIGNED <= o.status.state <= RUNNING and not node_down(nodes.get(o.node_id))]
    if waiting and now < not_before + OLD_TASK_WAIT:
        return False, not_before + OLD_TASK_WAIT
    return True, None


class RestartSupervisor(Reconciler):
    name = "restart supervisor"

    def __init__(self, store: ObjectStore, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, clock)
        self.delayed: dict[str, float] = {}   # task id -> may start at (clock time)

    async def reconcile_all(self) -> None:
        r = Reader(self.store)
        tasks = r.list(Task)
        nodes = {n.id: n for n in r.list(Node)}
        for t in tasks:
            if t.desired_state == READY and t.id not in self.delayed:
                self.delayed[t.id] = ts_seconds(t.meta.created_at) + restart_delay(t.spec.restart)
        await self._restart([t.id for t in tasks if restart_cause(t, nodes.get(t.node_id))])
        await self._promote()

    async def handle(self, events: Sequence[Event]) -> None:
        r = Reader(self.store)
        candidates: list[str] = []
        for ev in events:
            if ev.table == "nodes":
                candidates += [t.id for t in r.tasks_on_node(ev.id) if t.slot]
            elif ev.table == "tasks" and ev.kind != "delete":
                t, _ = decode_event(ev)
                if t.desired_state == READY and t.id not in self.delayed:
                    self.delayed[t.id] = ts_seconds(t.meta.created_at) + restart_delay(t.spec.restart)
                candidates.append(t.id)
        nodes = {n.id: n for n in r.list(Node)}
        due = []
        for tid in dict.fromkeys(candidates):
            t = r.get(Task, tid)
            if t is not None and restart_cause(t, nodes.get(t.node_id)):
                due.append(tid)
        await self._restart(due)
        await self._promote()

    async def tick(self, now: float) -> None:
        await self._promote()

    async def _restart(self, ids: Sequence[str]) -> None:
        if ids:
            now = self.clock()
            await commit(self.store, [Change(self._restart_change(tid, now), key=tid) for tid in ids],
                         logger=self.log)

    def _restart_change(self, task_id: str, now: float) -> Callable[[Reader], Built | None]:
        def build(r: Reader) -> Built | None:
            old = r.get(Task, task_id)
            if old is None:
                return None
            node = r.get(Node, old.node_id) if old.node_id else None
            cause = restart_cause(old, node)
            service = r.get(Service, old.service_id)
            if cause is None or service is None or service.pending_delete:
                return None
            if is_job_task(old) and old.job_iteration.index != job_iteration(service):
                return None  # an older run of the job: the jobs orchestrator shuts it down
            prev, _ = set_desired(old, SHUTDOWN, now)
            actions = [typed.update(old)]
            lines = [f"{describe(old)}: desired {state_name(prev)} -> SHUTDOWN ({cause})"]
            slot_tasks = r.find(Task, "slot", "/".join(slot_key(old)))
            ok, why = should_restart(old, slot_tasks, now)
            if ok and node_bound(service) and not node_active(node):
                ok, why = False, "global task and its node is not available"
            if not ok:
                lines.append(f"{describe(old)}: not replaced ({why})")
                return actions, lines
            # No restart delay when the node, not the task, is the problem: drained (Docker) or
            # down/removed (our deviation: the delay damps crash loops, and a dead node is not
            # one; the replacement does not wait for the old task either, as in Docker).
            node_gone = cause in ("node drained", "node down", "node removed")
            delay = 0.0 if node_gone else restart_delay(old.spec.restart)
            wait_old = old.status.state <= RUNNING and not node_down(node)
            start_at = max(now, self.delayed.get(old.id, now)) + delay
            new = new_task(service, now, slot=old.slot, node_id=old.node_id if node_bound(service) else "",
                           desired=READY if (delay > 0 or wait_old) else run_state(service))
            self.delayed[new.id] = start_at
            actions.append(typed.create(new))
            lines.append(f"task {new.id} (service {new.service_id}, slot {new.slot}): created, "
                         f"desired {state_name(new.desired_state)}, replacing {old.id} ({cause}; "
                         f"start in {start_at - now:.1f}s{', after the old task stops' if wait_old else ''})")
            return actions, lines
        return build

    async def _promote(self) -> None:
        if not self.delayed:
            return
        now = self.clock()
        r = Reader(self.store.view())
        nodes = {n.id: n for n in r.list(Node)}
        changes: list[Change] = []
        for tid, not_before in list(self.delayed.items()):
            t = r.get(Task, tid)
            if t is None or t.desired_state != READY:
                self.delayed.pop(tid, None)  # started, shut down, deleted, or never committed
                continue
            ok, again = start_due(t, r.find(Task, "slot", "/".join(slot_key(t))), nodes, now, not_before)
            if ok:
                changes.append(Change(_start(tid, now), key=tid))
            elif again is not None:
                self.wake_at(again)
        if changes:
            await commit(self.store, changes, logger=self.log)
            latest = Reader(self.store)
            for ch in changes:
                t = latest.get(Task, ch.key)
                if t is None or t.desired_state != READY:
                    self.delayed.pop(ch.key, None)


def _start(task_id: str, now: float) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        t = r.get(Task, task_id)
        if t is None or t.desired_state != READY:
            return None
        prev, new = set_desired(t, COMPLETE if is_job_task(t) else RUNNING, now)
        return [typed.update(t)], [f"{describe(t)}: desired {state_name(prev)} -> {state_name(new)} "
                                   "(restart delay over)"]
    return build


__all__ = ["RestartSupervisor", "restart_cause", "should_restart", "start_due"]
