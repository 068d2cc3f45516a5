"""The rolling updater (leader only): replaces out-of-date tasks in batches, watches the new ones,
and pauses, continues or rolls back on failure (reference §5; swarmkit orchestrator/update).

Design notes
------------
* One update per service at a time. A change of the service's spec version (an update, a scale,
  a manual or automatic rollback) cancels the running one and starts a new one over whatever is
  then out of date; so does clearing a paused status (any `service update` resumes a paused
  update, §5.5). A new leader resumes: on start it looks at every service and continues where
  the tasks are.
* A slot (replicated) or node (global) is *dirty* when none of its runnable tasks matches the
  service: a task is out of date when its spec version differs and its task spec or endpoint
  differs (`is_dirty`). Tasks whose spec did not change (a scale, a change of update settings)
  only get the new spec version written in place, so the CLI's up-to-date view counts them.
* `parallelism` workers (0 = all at once) take dirty slots one by one. stop-first: one write sets
  the old tasks' desired state to SHUTDOWN and creates the new task with desired READY; the new
  task is promoted to RUNNING once the old ones stopped (at most 1 min; skipped when they never
  ran or their node is down). start-first: the new task is created with desired RUNNING and the
  old ones are shut down once it runs. A worker then waits — without a timeout, as Docker does —
  until the new task is RUNNING or ended, and sleeps `delay`.
* Failure watch (not for `continue`): a task this update created counts as failed when it ends
  before RUNNING or within `monitor` after first running. When failures / dirty slots exceeds
  `max_failure_ratio`: pause (`paused`, "update paused due to failure or early termination of
  task <id>"), or roll back (`rollback_started`, "update rolled back due to ..."; spec and version
  swapped back, previous spec cleared). A failing rollback pauses (`rollback_paused`).
* When every slot is done the watch goes on for one more `monitor` (`delay` + 1 s when the delay
  is longer), then `completed` / `rollback_completed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from swarm.api.objects_pb2 import Node, Service, Task
from swarm.api.types_pb2 import (
    ASSIGNED,
    COMPLETE,
    FAILED,
    READY,
    REJECTED,
    RUNNING,
    SHUTDOWN,
    UpdateConfig,
    UpdateStatus,
)
from swarm.reconciler.base import Reconciler, decode_event
from swarm.reconciler.clock import ts
from swarm.reconciler.tasks import (
    OLD_TASK_WAIT,
    describe,
    is_global,
    is_job,
    new_task,
    node_active,
    node_down,
    set_desired,
    state_name,
)
from swarm.reconciler.writes import Built, Change, commit
from swarm.store import Event, ObjectStore, typed
from swarm.store.typed import Reader

DEFAULT_MONITOR = 5.0

PAUSED_MSG = "update paused due to failure or early termination of task {}"
ROLLED_BACK_MSG = "update rolled back due to failure or early termination of task {}"
ROLLBACK_PAUSED_MSG = "rollback paused due to failure or early termination of task {}"

SlotKey = int | str


def slot_of(t: Task) -> SlotKey:
    return t.slot if t.slot else t.node_id


def is_dirty(svc: Service, t: Task) -> bool:
    if t.spec_version.index == svc.spec_version.index:
        return False
    if t.spec.SerializeToString(deterministic=True) != svc.spec.task.SerializeToString(deterministic=True):
        return True
    return t.endpoint.spec.SerializeToString(deterministic=True) != \
        svc.endpoint.spec.SerializeToString(deterministic=True)


def plan(svc: Service, tasks: Sequence[Task]) -> tuple[list[SlotKey], list[str]]:
    """(dirty slots in slot order, ids of runnable up-to-date tasks needing a version bump)."""
    slots: dict[SlotKey, list[Task]] = {}
    for t in tasks:
        if t.desired_state <= RUNNING:
            slots.setdefault(slot_of(t), []).append(t)
    dirty: list[SlotKey] = []
    bump: list[str] = []
    for key, ts_ in slots.items():
        fresh = [t for t in ts_ if not is_dirty(svc, t)]
        if not fresh:
            dirty.append(key)
        bump += [t.id for t in fresh if t.spec_version.index != svc.spec_version.index]
    return sorted(dirty, key=lambda k: (isinstance(k, str), k)), bump


def ended_on_its_own(t: Task) -> bool:
    """COMPLETE, FAILED and REJECTED are always the task's own doing (the agent reports SHUTDOWN
    when it was asked to stop) — whatever the restart supervisor set as desired state since."""
    return t.status.state in (COMPLETE, FAILED, REJECTED) or (
        t.status.state == SHUTDOWN and t.desired_state <= RUNNING)


def _seconds(cfg: UpdateConfig, field: str, default: float) -> float:
    return getattr(cfg, field).ToNanoseconds() / 1e9 if cfg.HasField(field) else default


class UpdateSupervisor(Reconciler):
    name = "updater"

    def __init__(self, store: ObjectStore, clock: Callable[[], float] = time.time) -> None:
        super().__init__(store, clock)
        self.updates: dict[str, tuple[int, asyncio.Task[None]]] = {}

    async def reconcile_all(self) -> None:
        for svc in Reader(self.store).list(Service):
            self._consider(svc, None)

    async def handle(self, events: Sequence[Event]) -> None:
        for ev in events:
            if ev.table != "services":
                continue
            if ev.kind == "delete":
                self._cancel(ev.id)
                continue
            new, old = decode_event(ev)
            self._consider(new, old)

    def stop(self) -> None:
        super().stop()
        for sid in list(self.updates):
            self._cancel(sid)

    def _cancel(self, sid: str) -> None:
        cur = self.updates.pop(sid, None)
        if cur is not None:
            cur[1].cancel()

    def _consider(self, svc: Service, old: Service | None) -> None:
        if is_job(svc):  # jobs are never rolled: each update starts a new run (the jobs orchestrator)
            self._cancel(svc.id)
            return
        state = svc.update_status.state
        if state in (UpdateStatus.PAUSED, UpdateStatus.ROLLBACK_PAUSED):
            self._cancel(svc.id)
            return
        cur = self.updates.get(svc.id)
        resumed = old is not None and old.update_status.state in (
            UpdateStatus.PAUSED, UpdateStatus.ROLLBACK_PAUSED) and state == UpdateStatus.UNKNOWN
        if cur is not None and cur[0] == svc.spec_version.index and not cur[1].done() and not resumed:
            return
        self._cancel(svc.id)
        task = asyncio.create_task(self._update(svc.id, svc.spec_version.index))
        self.updates[svc.id] = (svc.spec_version.index, task)

        def done(t: asyncio.Task[None], sid: str = svc.id) -> None:
            if self.updates.get(sid, (0, None))[1] is t:
                del self.updates[sid]
            if not t.cancelled() and t.exception() is not None:
                self.log.error("update of service %s failed: %r", sid, t.exception())

        task.add_done_callback(done)

    # ---- one update ------------------------------------------------------------------------

    async def _update(self, sid: str, version: int) -> None:
        r = Reader(self.store)
        svc = r.get(Service, sid)
        if svc is None or svc.spec_version.index != version:
            return
        dirty, bump = plan(svc, r.tasks_of_service(sid))
        if bump:
            await commit(self.store, [Change(self._bump(tid, version), key=tid) for tid in bump],
                         logger=self.log)
        state = svc.update_status.state
        rollback = state == UpdateStatus.ROLLBACK_STARTED
        if not dirty:
            if state in (UpdateStatus.UPDATING, UpdateStatus.ROLLBACK_STARTED):
                await self._finish(sid, version, rollback)
            return
        cfg = svc.spec.rollback if rollback else svc.spec.update
        if not rollback and state != UpdateStatus.UPDATING:
            await self._set_status(sid, version, UpdateStatus.UPDATING, "update in progress", start=True)
        self.log.info("service %s: %s %d slot(s) to spec version %d (parallelism %d, %s)", sid,
                      "rolling back" if rollback else "updating", len(dirty), version,
                      cfg.parallelism, "start-first" if cfg.order == UpdateConfig.START_FIRST
                      else "stop-first")
        run = _Run(self, sid, version, cfg, rollback, len(dirty))
        if await run.execute(dirty):
            await self._finish(sid, version, rollback)

    def _bump(self, tid: str, version: int) -> Callable[[Reader], Built | None]:
        def build(r: Reader) -> Built | None:
            t = r.get(Task, tid)
            if t is None or t.spec_version.index == version:
                return None
            t.spec_version.index = version
            return [typed.update(t)], []
        return build

    async def _set_status(self, sid: str, version: int, state: int, message: str, *,
                          start: bool = False, complete: bool = False,
                          mutate: Callable[[Service], None] | None = None) -> bool:
        now = self.clock()

        def build(r: Reader) -> Built | None:
            svc = r.get(Service, sid)
            if svc is None or svc.spec_version.index != version:
                return None
            svc.update_status.state = state  # type: ignore[assignment]
            svc.update_status.message = message
            if start:
                svc.update_status.started_at.CopyFrom(ts(now))
                svc.update_status.ClearField("completed_at")
            if complete:
                svc.update_status.completed_at.CopyFrom(ts(now))
            if mutate is not None:
                mutate(svc)
            return [typed.update(svc)], [f"service {sid}: update status "
                                         f"{UpdateStatus.UpdateState.Name(state).lower()} ({message})"]
        return await commit(self.store, [Change(build, key=sid)], logger=self.log) > 0

    async def _finish(self, sid: str, version: int, rollback: bool) -> None:
        if rollback:
            await self._set_status(sid, version, UpdateStatus.ROLLBACK_COMPLETED, "rollback completed",
                                   complete=True)
        else:
            await self._set_status(sid, version, UpdateStatus.COMPLETED, "update completed", complete=True)


class _Run:
    """The workers and the failure watch of one update of one service."""

    def __init__(self, sup: UpdateSupervisor, sid: str, version: int, cfg: UpdateConfig,
                 rollback: bool, total: int) -> None:
        self.sup = sup
        self.store = sup.store
        self.sid = sid
        self.version = version
        self.cfg = cfg
        self.rollback = rollback
        self.total = total
        self.monitor = _seconds(cfg, "monitor", DEFAULT_MONITOR)
        self.delay = _seconds(cfg, "delay", 0.0)
        self.created: dict[str, float | None] = {}   # new task id -> first seen RUNNING at
        self.failed: list[str] = []
        self.trigger: str | None = None              # the failed task that stopped the update
        self.halted = asyncio.Event()

    async def execute(self, dirty: list[SlotKey]) -> bool:
        """Returns True when the update ran to the end (then it is complete)."""
        queue: asyncio.Queue[SlotKey] = asyncio.Queue()
        for k in dirty:
            queue.put_nowait(k)
        n = self.cfg.parallelism or len(dirty)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(min(n, len(dirty)))]
        watch = asyncio.create_task(self._watch())
        try:
            done: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*workers))
            halted: asyncio.Future[Any] = asyncio.ensure_future(self.halted.wait())
            await asyncio.wait([done, halted], return_when=asyncio.FIRST_COMPLETED)
            halted.cancel()
            if not self.halted.is_set():
                wait = self.delay + 1.0 if self.delay >= self.monitor else self.monitor
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.halted.wait(), wait)
        finally:
            for w in workers:
                w.cancel()
            watch.cancel()
            for t in (*workers, watch):
                with contextlib.suppress(BaseException):
                    await t
        if self.trigger is not None:
            await self._act(self.trigger)   # after the workers stopped: nothing races the write
            return False
        return not self.halted.is_set()

    async def _worker(self, queue: asyncio.Queue[SlotKey]) -> None:
        while not self.halted.is_set():
            try:
                key = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            new_id = await self._replace(key)
            if new_id is None:
                continue
            # running, ended, or replaced (its node died: the restart supervisor made a new task
            # from the current spec, which is up to date)
            await self._wait(lambda t: t.status.state >= RUNNING or t.desired_state > RUNNING, new_id)
            if self.delay and not self.halted.is_set():
                await asyncio.sleep(self.delay)

    async def _replace(self, key: SlotKey) -> str | None:
        start_first = self.cfg.order == UpdateConfig.START_FIRST
        box: dict[str, Any] = {}
        now = self.sup.clock()

        def build(r: Reader) -> Built | None:
            svc = r.get(Service, self.sid)
            if svc is None or svc.spec_version.index != self.version:
                return None
            tasks = [t for t in r.tasks_of_service(self.sid)
                     if slot_of(t) == key and t.desired_state <= RUNNING]
            if not tasks or any(not is_dirty(svc, t) for t in tasks):
                return None
            if is_global(svc) and not node_active(r.get(Node, str(key))):
                return None
            new = new_task(svc, now, slot=key if isinstance(key, int) else 0,
                           node_id=key if isinstance(key, str) else "",
                           desired=RUNNING if start_first else READY)
            actions = [typed.create(new)]
            lines = [f"task {new.id} (service {self.sid}, slot {key}): created for spec version "
                     f"{self.version}, desired {state_name(new.desired_state)}"]
            if not start_first:
                for t in tasks:
                    prev, _ = set_desired(t, SHUTDOWN, now)
                    actions.append(typed.update(t))
                    lines.append(f"{describe(t)}: desired {state_name(prev)} -> SHUTDOWN (rolling update)")
            box["new"], box["old"] = new.id, [t.id for t in tasks]
            return actions, lines

        committed = await commit(self.store, [Change(build, key=str(key))], logger=self.sup.log)
        if committed == 0 or "new" not in box:
            return None
        new_id, olds = box["new"], box["old"]
        self.created[new_id] = None
        if start_first:
            await self._wait(lambda t: t.status.state >= RUNNING or t.desired_state > RUNNING, new_id)
            await self._set_desired(olds, SHUTDOWN, "rolling update, start-first")
        else:
            await self._wait_stopped(olds)
            await self._set_desired([new_id], RUNNING, "old task stopped", only_from=READY)
        return str(new_id)

    async def _until(self, done: Callable[[Reader], bool], deadline: float | None = None) -> None:
        """Wait until ``done`` holds on the store (re-checked on every commit of the change stream),
        the update halts, or ``deadline`` (clock time) passes. Subscribes before the first check,
        so no commit is missed."""
        sub = self.store.subscribe()
        try:
            while not self.halted.is_set() and not done(Reader(self.store)):
                timeout = None if deadline is None else deadline - self.sup.clock()
                if timeout is not None and timeout <= 0:
                    return
                nxt: asyncio.Future[Any] = asyncio.ensure_future(sub.__anext__())
                halted: asyncio.Future[Any] = asyncio.ensure_future(self.halted.wait())
                try:
                    await asyncio.wait([nxt, halted], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    nxt.cancel()
                    halted.cancel()
                if nxt.done() and not nxt.cancelled() and isinstance(nxt.exception(), StopAsyncIteration):
                    return
                while sub.poll() is not None:
                    pass
        finally:
            sub.close()

    async def _wait(self, ok: Callable[[Task], bool], tid: str) -> None:
        def done(r: Reader) -> bool:
            t = r.get(Task, tid)
            return t is None or ok(t)
        await self._until(done)

    async def _wait_stopped(self, ids: list[str]) -> None:
        def done(r: Reader) -> bool:
            for tid in ids:
                t = r.get(Task, tid)
                if t is None or t.status.state > RUNNING or t.status.state < ASSIGNED or not t.node_id:
                    continue
                if node_down(r.get(Node, t.node_id)):
                    continue
                return False
            return True
        await self._until(done, deadline=self.sup.clock() + OLD_TASK_WAIT)

    async def _set_desired(self, ids: list[str], desired: int, cause: str,
                           only_from: int | None = None) -> None:
        now = self.sup.clock()

        def change(tid: str) -> Change:
            def build(r: Reader) -> Built | None:
                t = r.get(Task, tid)
                if t is None or t.desired_state >= desired:
                    return None
                if only_from is not None and t.desired_state != only_from:
                    return None
                prev, _ = set_desired(t, desired, now)
                return [typed.update(t)], [f"{describe(t)}: desired {state_name(prev)} -> "
                                           f"{state_name(desired)} ({cause})"]
            return Change(build, key=tid)

        await commit(self.store, [change(t) for t in ids], logger=self.sup.log)

    async def _watch(self) -> None:
        """The failure watch, re-checked on every commit (a task failing counts when its end is
        committed: within ``monitor`` of first running, or before running)."""
        if self.cfg.failure_action == UpdateConfig.CONTINUE:
            return
        await self._until(self._check)

    def _check(self, r: Reader) -> bool:
        """True when the update must stop (``trigger`` set, ``halted`` set)."""
        now = self.sup.clock()
        for tid, seen in list(self.created.items()):
            t = r.get(Task, tid)
            if t is None or tid in self.failed:
                continue
            if t.status.state == RUNNING and seen is None:
                self.created[tid] = now
            elif ended_on_its_own(t):
                if seen is None or now - seen < self.monitor:
                    self.failed.append(tid)
                    self.sup.log.info("service %s: task %s failed during the update (%s)", self.sid,
                                      tid, state_name(t.status.state))
            elif seen is not None and now - seen >= self.monitor:
                self.created.pop(tid, None)  # healthy for a whole monitor period
        if self.failed and len(self.failed) / max(self.total, 1) > self.cfg.max_failure_ratio:
            self.trigger = self.failed[-1]
            self.halted.set()
            return True
        return False

    async def _act(self, tid: str) -> None:
        sup = self.sup
        if self.rollback:
            await sup._set_status(self.sid, self.version, UpdateStatus.ROLLBACK_PAUSED,
                                  ROLLBACK_PAUSED_MSG.format(tid))
        elif self.cfg.failure_action == UpdateConfig.ROLLBACK:
            def swap(svc: Service) -> None:
                if svc.HasField("previous_spec"):
                    svc.spec.CopyFrom(svc.previous_spec)
                    svc.spec_version.CopyFrom(svc.previous_spec_version)
                    svc.ClearField("previous_spec")
                    svc.ClearField("previous_spec_version")
            await sup._set_status(self.sid, self.version, UpdateStatus.ROLLBACK_STARTED,
                                  ROLLED_BACK_MSG.format(tid), start=True, mutate=swap)
        else:
            await sup._set_status(self.sid, self.version, UpdateStatus.PAUSED, PAUSED_MSG.format(tid))


__all__ = ["UpdateSupervisor", "is_dirty", "plan"]
