"""The worker: applies assignment sets to the node (swarmkit ``agent/worker.go``).

The agent hands every ``AssignmentsMessage`` to :meth:`Worker.assign`:

* each task in an UPDATE change is stored in the task DB and given to its
  :class:`~node.agent.taskmanager.TaskManager` (created on first sight; later messages only
  move its desired state);
* a COMPLETE set is the whole truth: known tasks that are not in it have been deleted by the
  manager, so they are shut down, their containers removed and their records dropped; then
  the current status of every known task is reported again (a COMPLETE set starts every
  session, so this is the "report on reconnect"); containers with a task label that no task
  owns are removed too;
* a REMOVE change does the same for one task.

A task's container is kept (stopped) until the manager deletes the task: task history and
containers go together (reference §3.2). Observed state is ours: statuses from the manager are
only used for tasks we have never seen.

:meth:`Worker.start` runs before any session: it re-creates a task manager for every task in
the DB, in the state we last recorded, which re-adopts the existing containers through
``Controller.adopt()`` instead of starting new ones. :meth:`Worker.stop` stops driving tasks but
leaves every container running (live restore).

Secret and config assignments go to the worker's in-memory :class:`DependencyStore` first
(``worker.dependencies``; never to disk or the task DB), which the executor reads through
``Executor.set_dependencies``, so a task of the same message finds its secrets.

Network, route and peer assignments are not ours: every message's non-task changes are handed
to the executor (:meth:`~node.exec.executor.Executor.update_networks`; the runtime executor
passes them to the node's network layer, the fake one ignores them), in a copy of the message
with the same ``type`` (so a COMPLETE set still means "this is all of them"), *before* the
tasks are applied, so a task that starts from this very message finds its networks, routes and
peers already known. A COMPLETE message is always handed on (even with no network items: that
empties the view); an INCREMENTAL one only if it has non-task changes. A failure there is
logged and does not stop the tasks. ``on_network``, when given, receives them instead of the
executor (a hook for tests and for wiring that predates ``update_networks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from node.agent.dependencies import CONFIG, SECRET, DependencyStore
from node.agent.taskdb import TaskDB
from node.agent.taskmanager import TaskManager, state_name
from node.exec.errors import ExecError
from node.exec.executor import Executor
from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import TaskStatus

log = logging.getLogger(__name__)

Report = Callable[[str, TaskStatus], None]
OnNetwork = Callable[[d.AssignmentsMessage], Awaitable[None]]
REMOVE_TIMEOUT_ON_STOP = 5.0


class Worker:
    """Reconciles this node's tasks with the manager's assignments; see the module docstring."""

    def __init__(self, data_dir: Path, executor: Executor, report: Report, *,
                 retry_delay: float = 0.5, max_temporary: int = 5,
                 on_network: OnNetwork | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.on_network = on_network
        self.executor = executor
        self.dependencies = DependencyStore()
        executor.set_dependencies(self.dependencies)
        self.report = report
        self.retry_delay = retry_delay
        self.max_temporary = max_temporary
        self.managers: dict[str, TaskManager] = {}
        self.db: TaskDB | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._removing: set[str] = set()

    # ---- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Open the task DB and resume every recorded task (re-adopting its container)."""
        self.db = TaskDB.open(self.data_dir)
        for task in self.db.tasks():
            log.info("task %s: resuming in %s (desired %s)", task.id, state_name(task.status.state),
                     state_name(task.desired_state))
            self._manage(task, restored=True)

    async def stop(self) -> None:
        """Stop driving tasks; containers keep running. Pending removals get a few seconds."""
        if self._background:
            _, pending = await asyncio.wait(self._background, timeout=REMOVE_TIMEOUT_ON_STOP)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        for tm in list(self.managers.values()):
            await tm.close()
        self.managers.clear()
        if self.db is not None:
            self.db.close()
            self.db = None

    # ---- assignments ---------------------------------------------------------------------
    async def assign(self, msg: d.AssignmentsMessage) -> None:
        if self.db is None:
            await self.start()
        self.dependencies.apply(msg)
        await self._hand_network_items(msg)
        updated: list[Task] = []
        removed: list[str] = []
        for change in msg.changes:
            if change.assignment.WhichOneof("item") != "task":
                continue
            if change.action == d.AssignmentChange.REMOVE:
                removed.append(change.assignment.task.id)
            else:
                updated.append(change.assignment.task)
        complete = msg.type == d.AssignmentsMessage.COMPLETE
        known_before = set(self.managers)
        for task in updated:
            self._update(task)
        if complete:
            keep = {t.id for t in updated}
            removed = [tid for tid in self.managers if tid not in keep]
        for tid in removed:
            self._remove(tid)
        if complete:
            for tid in known_before & set(self.managers):
                self.report(tid, self.managers[tid].status)
            self._spawn(self._remove_orphans(set(self.managers)))

    async def _hand_network_items(self, msg: d.AssignmentsMessage) -> None:
        other = [c for c in msg.changes
                 if c.assignment.WhichOneof("item") not in ("task", SECRET, CONFIG, None)]
        if not other and msg.type != d.AssignmentsMessage.COMPLETE:
            return
        sub = d.AssignmentsMessage(type=msg.type, applies_to=msg.applies_to, results_in=msg.results_in,
                                   changes=other)
        try:
            if self.on_network is not None:
                await self.on_network(sub)
            else:
                await self.executor.update_networks(sub)
        except Exception:   # the data path must not stop task assignments; it logs and retries
            log.exception("assignments %s: network items not applied", msg.results_in or "?")

    def statuses(self) -> dict[str, TaskStatus]:
        return {tid: tm.status for tid, tm in self.managers.items()}

    async def idle(self) -> None:
        """Test helper: wait until no task manager and no removal has work left."""
        while self._background:
            await asyncio.wait(set(self._background))
        for tm in list(self.managers.values()):
            await tm.idle()

    # ---- internals -------------------------------------------------------------------------
    def _update(self, task: Task) -> None:
        assert self.db is not None
        tm = self.managers.get(task.id)
        if tm is not None:
            self.db.put_task(task)
            tm.update(task)
            return
        self.db.put_task(task)
        self._manage(task, restored=False)

    def _manage(self, task: Task, restored: bool) -> None:
        tm = TaskManager(task, self.executor.controller(task), self._on_status, restored=restored,
                         retry_delay=self.retry_delay, max_temporary=self.max_temporary)
        self.managers[task.id] = tm
        tm.start()

    def _remove(self, task_id: str) -> None:
        assert self.db is not None
        self.db.delete(task_id)
        tm = self.managers.pop(task_id, None)
        if tm is None:   # not ours (any more), but a container may be left, e.g. after a lost DB
            self._spawn(self._remove_orphans(set(self.managers), only={task_id}))
            return
        log.info("task %s: deleted by the manager; removing its container", task_id)
        self._spawn(self._remove_container(tm))

    async def _remove_container(self, tm: TaskManager) -> None:
        self._removing.add(tm.id)
        try:
            await tm.remove()
        finally:
            self._removing.discard(tm.id)

    def _on_status(self, task_id: str, status: TaskStatus) -> None:
        if task_id not in self.managers:
            return  # removed meanwhile: the manager no longer knows the task
        if self.db is not None:
            self.db.put_status(task_id, status)
        self.report(task_id, status)

    async def _remove_orphans(self, known: Iterable[str], only: set[str] | None = None) -> None:
        """Remove containers of tasks the manager no longer assigns to us."""
        try:
            orphans = await self.executor.task_ids() - set(known)
            if only is not None:
                orphans &= only
        except ExecError as e:
            log.warning("listing task containers failed: %s", e)
            return
        for tid in sorted(orphans):
            if tid in self.managers or tid in self._removing:
                continue
            log.info("task %s: container has no task any more; removing it", tid)
            try:
                await self.executor.controller(Task(id=tid)).remove()
            except ExecError as e:
                log.warning("task %s: removing orphaned container failed: %s", tid, e)

    def _spawn(self, coro: object) -> None:
        t: asyncio.Task[None] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._background.add(t)
        t.add_done_callback(self._background.discard)
