"""One task manager per task: drives its controller through the agent state machine.

The decision is pure and separate from the I/O (as dask's worker state machine):

* :func:`next_action` -- ``(observed, desired) -> Action``, swarmkit's ``exec.Do`` rules
  (reference §3.2) and nothing else;
* :func:`apply` -- ``(status, action, event) -> Change | None``: what the status becomes
  once the action's I/O has produced an event (:class:`Done`, :class:`Exited` or
  :class:`Errored`); ``None`` means retry (a temporary error).

:class:`TaskManager` is the small async driver around them: it asks for the next action,
performs its I/O through the :class:`~node.exec.executor.Controller`, feeds the event to
``apply`` and reports each change (timestamped) through ``on_status``. It sleeps while the
action is NOOP and wakes when the manager changes the task (:meth:`TaskManager.update`). A
change of desired state interrupts a ``wait()`` or ``prepare()`` in flight when the next
action differs (e.g. desired SHUTDOWN while RUNNING); ``start()`` and ``shutdown()`` run to
the end. Temporary errors are retried with backoff (0.5 s doubling, at most
``max_temporary`` times, the error text reported meanwhile) and then become fatal.

Messages and errors match swarmkit: ``accepted``, ``preparing``, ``prepared``, ``starting``,
``started``, ``finished``, ``shutdown``; a fatal error keeps the message of the state it
happened in and sets ``err`` (REJECTED before STARTING, FAILED from STARTING on); a non-zero
exit is FAILED with ``task: non-zero exit (N)``. Every change is logged old -> new with its
cause and the task id.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from node.exec.errors import ExecError
from node.exec.executor import Controller
from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import ContainerStatus, TaskState, TaskStatus

log = logging.getLogger(__name__)

NEW, PENDING, ASSIGNED = TaskState.NEW, TaskState.PENDING, TaskState.ASSIGNED
ACCEPTED, PREPARING, READY = TaskState.ACCEPTED, TaskState.PREPARING, TaskState.READY
STARTING, RUNNING, COMPLETE = TaskState.STARTING, TaskState.RUNNING, TaskState.COMPLETE
SHUTDOWN, FAILED, REJECTED = TaskState.SHUTDOWN, TaskState.FAILED, TaskState.REJECTED


def state_name(state: int) -> str:
    try:
        return TaskState.Name(state)  # type: ignore[arg-type]
    except ValueError:
        return str(state)


class Action(enum.Enum):
    NOOP = "noop"
    ACCEPT = "accept"                # -> ACCEPTED, no I/O
    BEGIN_PREPARE = "begin-prepare"  # -> PREPARING, no I/O
    PREPARE = "prepare"              # controller.prepare() -> READY
    BEGIN_START = "begin-start"      # -> STARTING, no I/O
    START = "start"                  # controller.start() -> RUNNING
    WAIT = "wait"                    # controller.wait() -> COMPLETE | FAILED
    SHUTDOWN = "shutdown"            # controller.shutdown() -> SHUTDOWN


IO_ACTIONS = frozenset({Action.PREPARE, Action.START, Action.WAIT, Action.SHUTDOWN})
INTERRUPTIBLE = frozenset({Action.PREPARE, Action.WAIT})


def next_action(observed: int, desired: int) -> Action:
    """swarmkit ``exec.Do``: what to do for a task in ``observed`` state wanting ``desired``."""
    if desired >= SHUTDOWN:
        return Action.NOOP if observed >= COMPLETE else Action.SHUTDOWN
    if observed > desired:
        return Action.NOOP
    # these may proceed past the desired state
    if observed == PREPARING:
        return Action.PREPARE
    if observed == STARTING:
        return Action.START
    if observed == RUNNING:
        return Action.WAIT
    # "pause" states: only move while desired is beyond observed
    if observed >= desired:
        return Action.NOOP
    if observed <= ASSIGNED:
        return Action.ACCEPT
    if observed == ACCEPTED:
        return Action.BEGIN_PREPARE
    if observed == READY:
        return Action.BEGIN_START
    return Action.NOOP


# ---- events (results of an action's I/O) and the pure transition ------------------------------

@dataclass(frozen=True)
class Done:
    """The action's I/O succeeded (or it needs none)."""


@dataclass(frozen=True)
class Exited:
    """``wait()`` returned: the process exited with ``code``."""

    code: int


@dataclass(frozen=True)
class Errored:
    """The action's I/O raised."""

    error: str
    temporary: bool = False


Event = Done | Exited | Errored


@dataclass(frozen=True)
class Change:
    """The new observed status (state, message, err, exit code if known)."""

    state: int
    message: str
    err: str = ""
    exit_code: int | None = None
    cause: str = ""


_SUCCESS = {
    Action.ACCEPT: (ACCEPTED, "accepted"),
    Action.BEGIN_PREPARE: (PREPARING, "preparing"),
    Action.PREPARE: (READY, "prepared"),
    Action.BEGIN_START: (STARTING, "starting"),
    Action.START: (RUNNING, "started"),
    Action.SHUTDOWN: (SHUTDOWN, "shutdown"),
}


def fatal(observed: int, message: str, err: str, exit_code: int | None = None, cause: str = "") -> Change:
    """A fatal error: REJECTED before STARTING, FAILED at or after it; the message stays."""
    state = REJECTED if observed < STARTING else FAILED
    return Change(state, message, err, exit_code, cause or f"error: {err}")


def apply(observed: int, message: str, action: Action, event: Event) -> Change | None:
    """The status after ``action`` produced ``event``; ``None`` = no change (retry)."""
    if isinstance(event, Errored):
        if event.temporary:
            return None
        return fatal(observed, message, event.error)
    if action is Action.WAIT:
        code = event.code if isinstance(event, Exited) else 0
        if code == 0:
            return Change(COMPLETE, "finished", "", 0, "exit code 0")
        return fatal(observed, message, f"task: non-zero exit ({code})", code, f"exit code {code}")
    if action in _SUCCESS:
        state, msg = _SUCCESS[action]
        return Change(state, msg, "", None, f"{action.value} done")
    raise ValueError(f"no transition for {action}")


# ---- the driver ----------------------------------------------------------------------------------

StatusCallback = Callable[[str, TaskStatus], None]


def now_status(base: TaskStatus) -> TaskStatus:
    st = TaskStatus()
    st.CopyFrom(base)
    st.timestamp.FromNanoseconds(time.time_ns())
    return st


class TaskManager:
    """Drives one task; see the module docstring."""

    def __init__(self, task: Task, controller: Controller, on_status: StatusCallback, *,
                 restored: bool = False, retry_delay: float = 0.5, max_temporary: int = 5) -> None:
        self.task = task
        self.ctl = controller
        self.on_status = on_status
        self.status = TaskStatus()
        self.status.CopyFrom(task.status)
        self.restored = restored
        self.retry_delay = retry_delay
        self.max_temporary = max_temporary
        self._wake = asyncio.Event()
        self._quiet = asyncio.Event()   # set while only waiting (NOOP, or the process runs)
        self._loop_task: asyncio.Task[None] | None = None
        self._temporary = 0

    @property
    def id(self) -> str:
        return self.task.id

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name=f"task-{self.task.id}")

    def update(self, task: Task) -> None:
        """The manager sent the task again; only its desired state may have changed."""
        if task.desired_state != self.task.desired_state:
            log.info("task %s: desired state %s -> %s", task.id, state_name(self.task.desired_state),
                     state_name(task.desired_state))
        t = Task()
        t.CopyFrom(task)
        t.status.CopyFrom(self.status)   # the observed state is ours
        self.task = t
        self.ctl.update(t)
        self._quiet.clear()
        self._wake.set()

    async def close(self) -> None:
        """Stop driving the task; the container is left as it is."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    async def remove(self) -> None:
        """Stop driving the task and remove its container (stopping it first)."""
        await self.close()
        try:
            await self.ctl.remove()
        except ExecError as e:
            log.warning("task %s: removing the container failed: %s", self.id, e)

    async def idle(self) -> None:
        """Return once the manager has nothing to do but wait (for the manager or the process)."""
        await self._quiet.wait()

    # ---- loop -------------------------------------------------------------------------------
    async def _run(self) -> None:
        if self.restored:
            await self._readopt()
        while True:
            action = next_action(self.status.state, self.task.desired_state)
            if action is Action.NOOP:
                self._wake.clear()
                self._quiet.set()
                await self._wake.wait()
                continue
            if action not in IO_ACTIONS:
                self._change(apply(self.status.state, self.status.message, action, Done()))
                continue
            event = await self._perform_interruptible(action)
            self._quiet.clear()
            if event is None:
                continue   # interrupted by a new desired state: decide again
            change = apply(self.status.state, self.status.message, action, event)
            if change is None:
                await self._temporary_failure(action, event)
                continue
            self._temporary = 0
            await self._change_with_container(change)

    async def _perform_interruptible(self, action: Action) -> Event | None:
        op = asyncio.create_task(self._perform(action))
        try:
            while True:
                self._wake.clear()
                if action is Action.WAIT:
                    self._quiet.set()
                waker = asyncio.create_task(self._wake.wait())
                done, _ = await asyncio.wait({op, waker}, return_when=asyncio.FIRST_COMPLETED)
                if op in done:
                    waker.cancel()
                    return op.result()
                if action in INTERRUPTIBLE and \
                        next_action(self.status.state, self.task.desired_state) is not action:
                    log.info("task %s: interrupting %s (desired state now %s)", self.id, action.value,
                             state_name(self.task.desired_state))
                    op.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await op
                    return None
        finally:
            if not op.done():   # we are being cancelled ourselves
                op.cancel()

    async def _perform(self, action: Action) -> Event:
        try:
            if action is Action.PREPARE:
                await self.ctl.prepare()
            elif action is Action.START:
                await self.ctl.start()
            elif action is Action.WAIT:
                return Exited(await self.ctl.wait())
            elif action is Action.SHUTDOWN:
                await self.ctl.shutdown()
            return Done()
        except ExecError as e:
            return Errored(str(e) or type(e).__name__, e.temporary)
        except Exception as e:  # a bug in an executor must not wedge the task silently
            log.exception("task %s: %s raised unexpectedly", self.id, action.value)
            return Errored(f"{type(e).__name__}: {e}")

    async def _temporary_failure(self, action: Action, event: Event) -> None:
        assert isinstance(event, Errored)
        self._temporary += 1
        if self._temporary > self.max_temporary:
            self._temporary = 0
            log.warning("task %s: %s failed %d times; giving up", self.id, action.value,
                        self.max_temporary + 1)
            await self._change_with_container(fatal(self.status.state, self.status.message, event.error))
            return
        delay = self.retry_delay * 2 ** (self._temporary - 1)
        log.info("task %s: %s failed (temporary, retry %d in %.1fs): %s", self.id, action.value,
                 self._temporary, delay, event.error)
        if self.status.err != event.error:   # swarmkit reports the error of a retry as well
            st = now_status(self.status)
            st.err = event.error
            self._publish(st)
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _readopt(self) -> None:
        """After an agent restart: find the container again; re-create a lost READY one."""
        try:
            info = await self.ctl.adopt()
        except ExecError as e:
            log.warning("task %s: adopt failed: %s", self.id, e)
            return
        state = self.status.state
        log.info("task %s: restored in %s; container %s", self.id, state_name(state),
                 f"{info.container_id} ({info.state})" if info else "none")
        if info is None and state == READY and self.task.desired_state < SHUTDOWN:
            event = await self._perform(Action.PREPARE)
            if isinstance(event, Errored):
                await self._change_with_container(fatal(state, self.status.message, event.error))

    def _change(self, change: Change | None, container: ContainerStatus | None = None) -> None:
        assert change is not None
        st = now_status(self.status)
        st.state = change.state  # type: ignore[assignment]
        st.message, st.err = change.message, change.err
        if container is not None:
            st.container.CopyFrom(container)
        if change.exit_code is not None:
            st.container.exit_code = change.exit_code
        st.applied_at.CopyFrom(st.timestamp)
        log.info("task %s: %s -> %s (%s)%s", self.id, state_name(self.status.state), state_name(change.state),
                 change.cause, f" err={change.err!r}" if change.err else "")
        self._publish(st)

    async def _change_with_container(self, change: Change) -> None:
        """Apply ``change``, adding the container's status from STARTING on (as swarmkit)."""
        container = None
        if change.state >= STARTING:
            try:
                info = await self.ctl.inspect()
            except ExecError as e:
                log.debug("task %s: inspect failed: %s", self.id, e)
                info = None
            if info is not None:
                container = info.to_proto()
        self._change(change, container)

    def _publish(self, st: TaskStatus) -> None:
        self.status = st
        self.task.status.CopyFrom(st)
        self.on_status(self.id, st)
