"""The agent: keeps a session with the leader's dispatcher and feeds assignments to the worker.

Shape after swarmkit's agent/session.go: open `Session` (the first message carries the session
id), then run three things until any fails — heartbeats at the period the dispatcher gives,
the `Assignments` stream (COMPLETE, then INCREMENTAL) handed to the worker, and the session
stream itself (manager list and our node object, e.g. a desired-role change). On failure it
reconnects with backoff (100 ms doubling to 8 s) and fails over between managers: a follower
answers UNAVAILABLE "not the leader; leader=<addr>" and the agent goes there next.

Task status flows the other way through `report()`: updates are batched and sent with
`UpdateTaskStatus` by one sender task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import grpc
from grpc import aio

from swarm.api import dispatcher_pb2 as d
from swarm.api import dispatcher_pb2_grpc
from swarm.api.objects_pb2 import Node, NodeDescription

log = logging.getLogger(__name__)

# how often a follow subscription looks for tasks of its services that started here since
FOLLOW_POLL = 0.5

BACKOFF_MIN = 0.1
BACKOFF_MAX = 8.0


class Worker(Protocol):
    async def assign(self, msg: d.AssignmentsMessage) -> None: ...


class LogSource(Protocol):
    """What the agent needs to serve `service logs`: which tasks are here, and their lines."""

    def has_task(self, task_id: str) -> bool: ...

    def tasks_of(self, service_ids: Sequence[str]) -> list[str]: ...

    def logs(self, task_id: str, follow: bool, tail: int) -> AsyncIterator[tuple[float, str, bytes]]: ...

    def attrs(self, task_id: str) -> list[tuple[str, str]]: ...


class Agent:
    def __init__(
        self,
        channel_for: Callable[[str], aio.Channel],
        managers: list[str],
        describe: Callable[[], NodeDescription],
        advertise_addr: str,
        data_path_addr: str = "",
        worker: Worker | None = None,
        on_node: Callable[[Node, list[str]], Awaitable[None] | None] | None = None,
        log_source: LogSource | None = None,
        vet_manager: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.channel_for = channel_for
        # checks a manager's certificate against what the swarm last told us (the current
        # managers, the revoked serials) before a session is opened with it; raises to refuse
        self.vet_manager = vet_manager
        self.manager_ids: frozenset[str] = frozenset()
        self.revoked_serials: frozenset[str] = frozenset()
        self.managers = list(dict.fromkeys(managers))
        self.describe = describe
        self.advertise_addr = advertise_addr
        self.data_path_addr = data_path_addr
        self.worker = worker
        self.on_node = on_node
        self.log_source = log_source
        self._log_pubs: dict[str, asyncio.Task[None]] = {}
        self.error = ""
        self.session_id = ""
        self.connected = asyncio.Event()
        self._status: list[d.TaskStatusUpdate] = []
        self._status_wake = asyncio.Event()
        self._stub: dispatcher_pb2_grpc.DispatcherStub | None = None
        self._task: asyncio.Task[None] | None = None
        self._next: str | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def report(self, task_id: str, status: Any) -> None:
        """Queue a task status update for the dispatcher (sent in batches)."""
        self._status.append(d.TaskStatusUpdate(task_id=task_id, status=status))
        self._status_wake.set()

    # ---- session loop ----------------------------------------------------------------------

    def _pick(self) -> str:
        if self._next:
            addr, self._next = self._next, None
            return addr
        return random.choice(self.managers)

    async def _run(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            addr = self._pick()
            try:
                await self._session(addr)
                backoff = BACKOFF_MIN
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as e:
                details = e.details() or ""
                if e.code() == grpc.StatusCode.UNAVAILABLE and "leader=" in details:
                    leader = details.split("leader=", 1)[1].strip()
                    if leader:
                        self._next = leader
                        if leader not in self.managers:
                            self.managers.append(leader)
                        backoff = BACKOFF_MIN
                        self.error = ""
                        continue
                self.error = f"session with {addr} failed: {e.code().name}: {details}"
                log.info("%s", self.error)
            except Exception as e:
                self.error = f"session with {addr} failed: {e!r}"
                log.warning("%s", self.error)
            self.connected.clear()
            self.session_id = ""
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _session(self, addr: str) -> None:
        if self.vet_manager is not None:
            await self.vet_manager(addr)
        channel = self.channel_for(addr)
        try:
            stub = dispatcher_pb2_grpc.DispatcherStub(channel)
            stream = stub.Session(d.SessionRequest(
                description=self.describe(), advertise_addr=self.advertise_addr,
                data_path_addr=self.data_path_addr), timeout=None)
            first = await stream.read()
            if first is grpc.aio.EOF:
                raise ConnectionError("session stream closed")
            self.session_id = first.session_id
            self._stub = stub
            await self._on_session_message(first)
            self.error = ""
            self.connected.set()
            log.info("session %s established with %s", self.session_id, addr)
            tasks = [
                asyncio.create_task(self._heartbeats(stub)),
                asyncio.create_task(self._assignments(stub)),
                asyncio.create_task(self._session_stream(stream)),
                asyncio.create_task(self._status_sender(stub)),
                asyncio.create_task(self._log_subscriptions(stub, channel)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for t in done:
                    t.result()
                raise ConnectionError("session ended")
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(BaseException):
                        await t
                stream.cancel()
        finally:
            self._stub = None
            await channel.close()

    async def _on_session_message(self, msg: d.SessionMessage) -> None:
        if msg.managers:
            self.manager_ids = frozenset(m.node_id for m in msg.managers if m.node_id)
        self.revoked_serials = frozenset(msg.revoked_serials)
        mgrs = [m.addr for m in msg.managers if m.addr]
        if mgrs:
            self.managers = list(dict.fromkeys(mgrs))
        if self.on_node is not None and msg.HasField("node"):
            r = self.on_node(msg.node, self.managers)
            if asyncio.iscoroutine(r):
                await r

    async def _session_stream(self, stream: Any) -> None:
        while True:
            msg = await stream.read()
            if msg is grpc.aio.EOF:
                raise ConnectionError("session stream closed by the manager")
            await self._on_session_message(msg)

    async def _heartbeats(self, stub: dispatcher_pb2_grpc.DispatcherStub) -> None:
        while True:
            r = await stub.Heartbeat(d.HeartbeatRequest(session_id=self.session_id), timeout=5.0)
            period = r.period.ToNanoseconds() / 1e9 or 5.0
            await asyncio.sleep(period)

    async def _assignments(self, stub: dispatcher_pb2_grpc.DispatcherStub) -> None:
        stream = stub.Assignments(d.AssignmentsRequest(session_id=self.session_id), timeout=None)
        async for msg in stream:
            if self.worker is not None:
                await self.worker.assign(msg)
        raise ConnectionError("assignments stream closed")

    async def _log_subscriptions(self, _stub: Any, channel: aio.Channel) -> None:
        """Serve `service logs`: publish our tasks' lines for each subscription from the leader."""
        if self.log_source is None:
            await asyncio.Event().wait()
            return
        broker = dispatcher_pb2_grpc.LogBrokerStub(channel)
        stream = broker.ListenSubscriptions(d.ListenSubscriptionsRequest(), timeout=None)
        try:
            async for sub in stream:
                if sub.close:
                    t = self._log_pubs.pop(sub.id, None)
                    if t is not None:
                        t.cancel()
                    continue
                if sub.id not in self._log_pubs:
                    log.info("log subscription %s: %d tasks, %d services, follow %s", sub.id,
                             len(sub.selector.task_ids), len(sub.selector.service_ids), sub.options.follow)
                    task = asyncio.create_task(self._publish_logs(broker, sub))
                    self._log_pubs[sub.id] = task
                    task.add_done_callback(self._forget_pub(sub.id))
        finally:
            for t in self._log_pubs.values():
                t.cancel()
        raise ConnectionError("log subscription stream closed")

    def _forget_pub(self, sub_id: str) -> Callable[[asyncio.Task[None]], None]:
        def forget(_t: asyncio.Task[None]) -> None:
            self._log_pubs.pop(sub_id, None)

        return forget

    async def _publish_logs(self, broker: Any, sub: d.SubscriptionMessage) -> None:
        """Publish the selected tasks' lines. Without follow: what they have written, then close.
        With follow: until the broker closes the subscription, also from tasks of the selected
        services that start here later (all their lines: they are new)."""
        src = self.log_source
        assert src is not None
        follow = sub.options.follow
        q: asyncio.Queue[d.PublishLogsMessage | None] = asyncio.Queue()
        readers: dict[str, asyncio.Task[None]] = {}

        # --since: lines older than it are skipped. Docker applies it before --tail: without
        # follow the whole log is read and the tail taken from what is left; with follow the
        # tail is taken first (the backlog cannot be told from the followed lines there).
        since = sub.options.since.ToNanoseconds() / 1e9 if sub.options.HasField("since") else None

        attrs: dict[str, list[d.LogAttr]] = {}

        def put(task_id: str, ts: float, stream_name: str, data: bytes) -> None:
            if task_id not in attrs:
                attrs[task_id] = [d.LogAttr(key=k, value=v) for k, v in src.attrs(task_id)]
            m = d.LogMessage(stream=stream_name, data=data, attrs=attrs[task_id])
            m.context.task_id = task_id
            m.timestamp.FromNanoseconds(int(ts * 1e9))
            q.put_nowait(d.PublishLogsMessage(subscription_id=sub.id, messages=[m]))

        async def read(task_id: str, tail: int) -> None:
            buffered = since is not None and tail >= 0 and not follow
            kept: list[tuple[float, str, bytes]] = []
            lines = 0
            try:
                async for ts, stream_name, data in src.logs(task_id, follow, -1 if buffered else tail):
                    lines += 1
                    if since is not None and ts < since:
                        continue
                    if buffered:
                        kept.append((ts, stream_name, data))
                    else:
                        put(task_id, ts, stream_name, data)
                for ts, stream_name, data in kept[max(0, len(kept) - tail):] if tail else []:
                    put(task_id, ts, stream_name, data)
            except Exception as e:
                log.info("logs of task %s: %s", task_id, e)
            finally:
                # A task that started here while following may have no container yet, or one
                # not running yet: its reader ends at once with nothing read. Forget it so the
                # watcher below starts it again on its next look (nothing was sent: no repeats).
                if follow and tail < 0 and lines == 0 and readers.get(task_id) is asyncio.current_task():
                    del readers[task_id]

        def start(task_id: str, tail: int) -> None:
            readers[task_id] = asyncio.create_task(read(task_id, tail))

        # -1: all (the CLI's default); 0: none, only what follows
        for t in sub.selector.task_ids:
            if src.has_task(t):
                start(t, sub.options.tail)

        async def watch_new_tasks() -> None:
            while True:
                await asyncio.sleep(FOLLOW_POLL)
                for t in src.tasks_of(sub.selector.service_ids):
                    if t not in readers:
                        start(t, -1)

        async def requests() -> AsyncIterator[d.PublishLogsMessage]:
            watchers = [asyncio.create_task(watch_new_tasks())] if follow else []
            if not follow:   # ends once every reader has read what is there
                done = asyncio.ensure_future(asyncio.gather(*readers.values()))
                done.add_done_callback(lambda _f: q.put_nowait(None))
            try:
                while True:
                    item = await q.get()
                    if item is None:
                        break
                    yield item
                yield d.PublishLogsMessage(subscription_id=sub.id, close=True)
            finally:
                for r in [*readers.values(), *watchers]:
                    r.cancel()

        await broker.PublishLogs(requests(), timeout=None)

    async def _status_sender(self, stub: dispatcher_pb2_grpc.DispatcherStub) -> None:
        while True:
            await self._status_wake.wait()
            await asyncio.sleep(0.01)  # gather a batch
            self._status_wake.clear()
            batch, self._status = self._status, []
            if not batch:
                continue
            try:
                await stub.UpdateTaskStatus(
                    d.UpdateTaskStatusRequest(session_id=self.session_id, updates=batch), timeout=10.0)
            except BaseException:
                self._status[:0] = batch  # resend on the next session
                raise
