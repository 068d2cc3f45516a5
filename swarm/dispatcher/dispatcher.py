"""The dispatcher: agent sessions, heartbeats and node liveness, task status intake, and the
assignment streams. Leader only; no gRPC here (the servicer in the daemon is a thin shell).

Liveness (reference §4.6): each heartbeat answer carries the period with ±10 % jitter; a node
whose last heartbeat is older than period × 3 is marked Down ("heartbeat failure"). When this
dispatcher starts (a new leader), nodes get period × 6 of grace before they can be declared Down,
since their agents must first find the new leader.

Deviation, for faster convergence: when a node's session stream is *closed* (the agent's
process died or its host went away cleanly: the peer's kernel ended the connection) and no new
session comes within one period, the node is Down then, not after three. A network outage does
not close the stream (no FIN/RST arrives), so it still gets the full period × 3; an agent that
merely lost its connection reconnects with backoff well within a period.

Sessions: :meth:`Dispatcher.session` is the whole session stream (register, then the session
message at once and every ``SESSION_REFRESH`` seconds until the session closes); the gRPC
servicer only relays it.

Status intake: agents' task status updates are queued and written in batches (every 100 ms or
100 items), each update only moving a task's observed state forward (§3.1) and only for tasks
the reporting node owns.

Assignments: a node first receives the COMPLETE set of its tasks, then INCREMENTAL changes as the
store's change stream shows tasks assigned to, changed on, or removed from it. Next to its tasks
it receives the secrets and configs those tasks need, and only while they need them
(:mod:`swarm.dispatcher.dependencies`): UPDATEs before the task changes of a message, REMOVEs
after them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Cluster, Node, NodeDescription, NodeStatus, Task
from swarm.api.types_pb2 import ASSIGNED, MANAGER, TaskStatus
from swarm.ca.sealing import SealingError, SecretsKey
from swarm.dispatcher.dependencies import DependencyTracker
from swarm.reconciler.clock import ts
from swarm.store import ConflictError, ObjectSource, ObjectStore, typed
from swarm.store.typed import Reader

log = logging.getLogger(__name__)

DEFAULT_PERIOD = 5.0
GRACE_MULTIPLIER = 3
LEADER_CHANGE_GRACE = 6
STATUS_BATCH_ITEMS = 100
STATUS_BATCH_DELAY = 0.02
CAS_ATTEMPTS = 8
#: how often a session stream re-sends the session message (managers, CA, revocations)
SESSION_REFRESH = 2.0


class DispatcherError(Exception):
    code = "UNKNOWN"


class SessionInvalidError(DispatcherError):
    code = "NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("session invalid")


class NodeNotFoundError(DispatcherError):
    code = "NOT_FOUND"


@dataclass
class _Session:
    node_id: str
    session_id: str
    last_seen: float
    queues: list[asyncio.Queue[Any]] = field(default_factory=list)


class Dispatcher:
    def __init__(self, store: ObjectStore, clock: Callable[[], float] = time.time,
                 secrets_key: SecretsKey | None = None) -> None:
        self.store = store
        self.clock = clock
        #: opens Secret.sealed for delivery to a node; None: secrets cannot be delivered
        self.secrets_key = secrets_key
        self.sessions: dict[str, _Session] = {}
        self.closed_at: dict[str, float] = {}      # node id -> when its session stream ended
        self.last_seen: dict[str, float] = {}      # node id -> last heartbeat of a closed session
        self.started_at = clock()
        from swarm.dispatcher.netroutes import RouteTable

        self.routes = RouteTable(store)
        self._decoded: OrderedDict[int, _CommitTasks] = OrderedDict()
        self._status_q: list[tuple[str, d.TaskStatusUpdate]] = []
        self._status_event = asyncio.Event()
        self._stopped = asyncio.Event()

    # ---- configuration ---------------------------------------------------------------------

    def period(self) -> float:
        cl = Reader(self.store).cluster()
        if cl is not None and cl.spec.dispatcher.HasField("heartbeat_period"):
            p = cl.spec.dispatcher.heartbeat_period.ToNanoseconds() / 1e9
            if p > 0:
                return p
        return DEFAULT_PERIOD

    # ---- sessions ------------------------------------------------------------------------

    async def register(self, node_id: str, description: NodeDescription, addr: str,
                       data_path_addr: str = "") -> _Session:
        """A node opened a session: record its description and mark it Ready."""
        for attempt in range(CAS_ATTEMPTS):
            node = Reader(self.store).get(Node, node_id)
            if node is None:
                raise NodeNotFoundError(f"node {node_id} not found")
            node.description.CopyFrom(_merge_description(node.description, description))
            node.status.state = NodeStatus.READY
            node.status.message = ""
            if addr:
                node.status.addr = addr
            if data_path_addr:
                node.data_path_addr = data_path_addr
            try:
                await self.store.apply([typed.update(node)])  # conditional: never undo a spec change
                break
            except ConflictError:
                if attempt == CAS_ATTEMPTS - 1:
                    raise
        old = self.sessions.get(node_id)
        if old is not None:
            self._close(old)
        s = _Session(node_id, secrets.token_hex(12), self.clock())
        self.sessions[node_id] = s
        self.closed_at.pop(node_id, None)
        self.last_seen.pop(node_id, None)
        log.info("node %s: session %s opened from %s", node_id, s.session_id, addr)
        return s

    async def session(self, node_id: str, description: NodeDescription, addr: str,
                      data_path_addr: str = "") -> AsyncGenerator[d.SessionMessage, None]:
        """A node's session stream: register it, then send its session message (its Node, the
        managers, the root CA and the revoked serials) at once and again every
        ``SESSION_REFRESH`` seconds, until the session is closed (a newer session of the node,
        the node declared down, the dispatcher stopping) or the caller goes away."""
        s = await self.register(node_id, description, addr, data_path_addr)
        q: asyncio.Queue[Any] = asyncio.Queue()
        s.queues.append(q)
        try:
            yield self.session_message(s.session_id, node_id)
            while True:
                try:
                    item = await asyncio.wait_for(q.get(), timeout=SESSION_REFRESH)
                except TimeoutError:
                    yield self.session_message(s.session_id, node_id)
                    continue
                if item is None:
                    return
        finally:
            self.close_session(node_id, s.session_id)

    def session_message(self, session_id: str, node_id: str) -> d.SessionMessage:
        r = Reader(self.store)
        msg = d.SessionMessage(session_id=session_id)
        node = r.get(Node, node_id)
        if node is not None:
            msg.node.CopyFrom(node)
        for n in r.list(Node):
            if n.role == MANAGER and n.manager_status.addr:
                msg.managers.add(node_id=n.id, addr=n.manager_status.addr,
                                 weight=10 if n.manager_status.leader else 1)
        cl = r.cluster()
        if cl is not None:
            msg.root_ca = cl.root_ca.ca_cert
            # the serials of swarm.ca.revocation.revoked_serials (read here: the dispatcher
            # depends on the store only)
            msg.revoked_serials.extend(sorted({c.serial for c in cl.revoked_certificates}))
        return msg

    def _session(self, node_id: str, session_id: str) -> _Session:
        s = self.sessions.get(node_id)
        if s is None or s.session_id != session_id:
            raise SessionInvalidError()
        return s

    def heartbeat(self, node_id: str, session_id: str) -> float:
        """Returns the period the agent must beat at (with jitter)."""
        s = self._session(node_id, session_id)
        s.last_seen = self.clock()
        p = self.period()
        return p * random.uniform(0.9, 1.1)

    def close_session(self, node_id: str, session_id: str) -> None:
        s = self.sessions.get(node_id)
        if s is not None and s.session_id == session_id:
            self._close(s)
            del self.sessions[node_id]
            self.closed_at[node_id] = self.clock()
            self.last_seen[node_id] = s.last_seen

    def _close(self, s: _Session) -> None:
        for q in s.queues:
            q.put_nowait(None)

    # ---- liveness --------------------------------------------------------------------------

    async def run(self) -> None:
        """Leader loop: node liveness and the status batch writer."""
        writer = asyncio.create_task(self._status_writer())
        try:
            while not self._stopped.is_set():
                await self._check_liveness()
                try:
                    await asyncio.wait_for(self._stopped.wait(), timeout=0.5)
                except TimeoutError:
                    pass
        finally:
            writer.cancel()
            for s in self.sessions.values():
                self._close(s)

    def stop(self) -> None:
        self._stopped.set()

    async def _check_liveness(self) -> None:
        now = self.clock()
        period = self.period()
        actions = []
        for node in Reader(self.store).list(Node):
            if node.status.state == NodeStatus.DOWN:
                continue
            s = self.sessions.get(node.id)
            if s is not None:
                dead = now - s.last_seen > period * GRACE_MULTIPLIER
            elif node.id in self.closed_at:
                dead = (now - self.closed_at[node.id] > period
                        or now - self.last_seen[node.id] > period * GRACE_MULTIPLIER)
            else:
                dead = now - self.started_at > period * LEADER_CHANGE_GRACE
            if dead:
                node.status.state = NodeStatus.DOWN
                node.status.message = "heartbeat failure"
                actions.append(typed.update(node))
                if s is not None:
                    self._close(s)
                    del self.sessions[node.id]
                self.closed_at.pop(node.id, None)
                self.last_seen.pop(node.id, None)
                log.warning("node %s: down (heartbeat failure)", node.id)
        if actions:
            try:
                await self.store.apply(actions)
            except Exception as e:  # conflict with a concurrent write: retried next round
                log.info("marking nodes down: %s (will retry)", e)

    # ---- task status -----------------------------------------------------------------------

    def update_task_status(self, node_id: str, session_id: str,
                           updates: list[d.TaskStatusUpdate]) -> None:
        self._session(node_id, session_id)
        for u in updates:
            self._status_q.append((node_id, u))
        if len(self._status_q) >= STATUS_BATCH_ITEMS:
            self._status_event.set()
        elif not self._status_event.is_set():
            asyncio.get_running_loop().call_later(STATUS_BATCH_DELAY, self._status_event.set)

    async def _status_writer(self) -> None:
        while True:
            await self._status_event.wait()
            self._status_event.clear()
            batch, self._status_q = self._status_q, []
            if batch:
                try:
                    await self._write_statuses(batch)
                except Exception as e:
                    log.warning("writing %d task status updates failed: %s; retrying", len(batch), e)
                    self._status_q[:0] = batch
                    await asyncio.sleep(0.2)
                    self._status_event.set()

    async def _write_statuses(self, batch: list[tuple[str, d.TaskStatusUpdate]]) -> None:
        latest: dict[str, tuple[str, TaskStatus]] = {}
        for node_id, u in batch:
            prev = latest.get(u.task_id)
            if prev is None or u.status.state >= prev[1].state:
                latest[u.task_id] = (node_id, u.status)
        # Conditional writes (the version each task was read at): a status write must never undo
        # a desired-state change a manager made meanwhile. On a conflict, re-read and retry.
        for attempt in range(CAS_ATTEMPTS):
            try:
                await self._write_latest(latest)
                return
            except ConflictError:
                if attempt == CAS_ATTEMPTS - 1:
                    raise

    async def _write_latest(self, latest: dict[str, tuple[str, TaskStatus]]) -> None:
        r = Reader(self.store)
        actions = []
        for task_id, (node_id, status) in latest.items():
            t = r.get(Task, task_id)
            if t is None or t.node_id != node_id:
                continue
            if status.state < t.status.state:
                continue  # observed state only moves forward
            if status.state == t.status.state and status.message == t.status.message \
                    and status.err == t.status.err:
                continue
            t.status.CopyFrom(status)
            if not t.status.HasField("timestamp"):
                t.status.timestamp.CopyFrom(ts(self.clock()))
            actions.append(typed.update(t))
        if actions:
            await self.store.apply(actions)

    # ---- assignments -----------------------------------------------------------------------

    async def assignments(self, node_id: str, session_id: str) -> AsyncIterator[d.AssignmentsMessage]:
        s = self._session(node_id, session_id)
        q: asyncio.Queue[Any] = asyncio.Queue()
        s.queues.append(q)
        from swarm.dispatcher.netroutes import StreamState

        sub = self.store.subscribe()
        known: dict[str, int] = {}
        deps = DependencyTracker(node_id, self.secrets_key)
        net = StreamState()
        try:
            view = self.store.view()
            msg = self._complete(view, node_id, known, deps)
            net.diff(self.routes, node_id, msg, complete=True)
            yield msg
            pump = asyncio.create_task(_pump(sub, q))
            try:
                while True:
                    item = await q.get()
                    if item is None:
                        return
                    batch = [item]
                    while not q.empty():   # coalesce: one message for everything pending
                        nxt = q.get_nowait()
                        if nxt is None:
                            return
                        batch.append(nxt)
                    out = d.AssignmentsMessage(type=d.AssignmentsMessage.INCREMENTAL)
                    complete = False
                    for it in batch:
                        m = self._incremental(it, node_id, known, deps)
                        if m is not None:
                            if m.type == d.AssignmentsMessage.COMPLETE:
                                out, complete = m, True
                            else:
                                out.changes.extend(m.changes)
                    if any(_touches_network(it) for it in batch):
                        net.diff(self.routes, node_id, out, complete=complete)
                    if out.changes or complete:
                        yield out
            finally:
                pump.cancel()
        finally:
            sub.close()
            if q in s.queues:
                s.queues.remove(q)

    def _for_node(self, t: Task) -> Task:
        """The task as its node gets it: registry credentials opened (the node pulls with them;
        the stream is mutual TLS to that node only), never the sealed form. Credentials this
        leader cannot open are left out: the pull goes anonymous and says so if refused."""
        po = t.spec.container.pull_options
        if not po.sealed:
            return t
        out = Task()
        out.CopyFrom(t)
        out.spec.container.pull_options.sealed = b""
        if self.secrets_key is not None:
            try:
                out.spec.container.pull_options.registry_auth = \
                    self.secrets_key.unseal(t.service_id, po.sealed).decode()
            except (SealingError, UnicodeDecodeError) as e:
                log.warning("task %s: registry credentials cannot be opened (%s)", t.id, e)
        return out

    def _complete(self, src: ObjectSource, node_id: str, known: dict[str, int],
                  deps: DependencyTracker) -> d.AssignmentsMessage:
        known.clear()
        deps.reset()
        tasks = []
        for t in Reader(src).tasks_on_node(node_id):
            if t.status.state >= ASSIGNED or t.desired_state >= ASSIGNED:
                known[t.id] = t.meta.version.index
                deps.task(t)
                tasks.append(d.AssignmentChange(assignment=d.Assignment(task=self._for_node(t))))
        updates, _ = deps.changes(src)
        return d.AssignmentsMessage(type=d.AssignmentsMessage.COMPLETE, changes=[*updates, *tasks])

    def _incremental(self, item: Any, node_id: str, known: dict[str, int],
                     deps: DependencyTracker) -> d.AssignmentsMessage | None:
        from swarm.store import Reset

        if isinstance(item, Reset):
            return self._complete(item.view, node_id, known, deps)
        tasks: list[d.AssignmentChange] = []
        ct = self._commit_tasks(item)
        for tid in ct.deleted:
            if tid in known:
                del known[tid]
                deps.forget(tid)
                tasks.append(d.AssignmentChange(assignment=d.Assignment(task=Task(id=tid)),
                                                action=d.AssignmentChange.REMOVE))
        for tid in known.keys() & ct.node_of.keys():
            if ct.node_of[tid] != node_id:   # moved away (never happens in swarm, but be safe)
                del known[tid]
                deps.forget(tid)
                tasks.append(d.AssignmentChange(assignment=d.Assignment(task=Task(id=tid)),
                                                action=d.AssignmentChange.REMOVE))
        for t in ct.by_node.get(node_id, ()):
            if t.status.state < ASSIGNED and t.desired_state < ASSIGNED:
                continue
            # Only desired-state or spec changes matter to the agent, but sending status echoes
            # is harmless and keeps the agent's view exact.
            known[t.id] = t.meta.version.index
            deps.task(t)
            tasks.append(d.AssignmentChange(assignment=d.Assignment(task=self._for_node(t))))
        if not tasks:
            return None
        updates, removes = deps.changes(self.store)
        return d.AssignmentsMessage(type=d.AssignmentsMessage.INCREMENTAL,
                                    changes=[*updates, *tasks, *removes])

    def _commit_tasks(self, commit: Any) -> _CommitTasks:
        """The task events of one commit, decoded once for every assignment stream (each
        stream used to decode every event itself: O(nodes × events) on the leader)."""
        ct = self._decoded.get(commit.index)
        if ct is None:
            ct = _CommitTasks()
            for ev in commit.events:
                if ev.table != "tasks":
                    continue
                if ev.kind == "delete":
                    ct.deleted.append(ev.id)
                    continue
                t = typed.decode_as(Task, ev)
                ct.node_of[t.id] = t.node_id
                ct.by_node.setdefault(t.node_id, []).append(t)
            self._decoded[commit.index] = ct
            while len(self._decoded) > 256:
                self._decoded.popitem(last=False)
        return ct


@dataclass
class _CommitTasks:
    deleted: list[str] = field(default_factory=list)
    node_of: dict[str, str] = field(default_factory=dict)
    by_node: dict[str, list[Task]] = field(default_factory=dict)


def _touches_network(item: Any) -> bool:
    from swarm.store import Reset

    if isinstance(item, Reset):
        return True
    return any(ev.table in ("tasks", "services", "nodes", "networks") for ev in item.events)


async def _pump(sub: Any, q: asyncio.Queue[Any]) -> None:
    async for item in sub:
        q.put_nowait(item)


def _merge_description(old: NodeDescription, new: NodeDescription) -> NodeDescription:
    out = NodeDescription()
    out.CopyFrom(old)
    out.MergeFrom(new)
    if new.HasField("resources"):      # a full list each time: MergeFrom would append to the old one
        out.resources.ClearField("generic")
        out.resources.generic.extend(new.resources.generic)
    if new.engine_labels:
        out.ClearField("engine_labels")
        out.engine_labels.update(new.engine_labels)
    return out


__all__ = ["Cluster", "Dispatcher"]
