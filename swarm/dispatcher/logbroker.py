"""The log broker (leader only): `service logs` fan-out, after swarmkit's manager/logbroker.

A client subscribes with a selector (service / task ids) and options (follow, tail). The broker
works out which nodes hold matching tasks, sends the subscription to the agents of those nodes
(each agent keeps a `ListenSubscriptions` stream open), and relays what they publish to the
client. Without `follow`, the subscription ends once every node has closed its part. A node
that cannot send its part is left out and named in the closing warning instead of hanging the
stream: one with no listener when the subscription starts, one whose listener goes away (its
agent died) and one the dispatcher marks Down meanwhile (its connection silently vanished: a
partition, a powered-off host), as swarmkit's log broker does.

Every manager answers `service logs` (:func:`subscribe_logs`): the leader from its broker, a
follower by relaying the subscription to the leader. The relay itself (a call to the leader's
``Logs`` service) is transport and is passed in by the daemon; this module never imports grpc.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Node, NodeStatus, Task
from swarm.store import NoLeaderError, ObjectStore
from swarm.store.typed import Reader

log = logging.getLogger(__name__)

# how often a waiting subscription checks that the nodes it waits for are still up
CHECK_INTERVAL = 1.0


@dataclass
class _Subscription:
    id: str
    msg: d.SubscriptionMessage
    nodes: set[str]
    queue: asyncio.Queue[d.PublishLogsMessage | None] = field(default_factory=asyncio.Queue)
    open_nodes: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)

    def give_up_on(self, node_id: str) -> None:
        """The node cannot send its part: end without it (a follow stream keeps waiting for it)."""
        if self.msg.options.follow or node_id not in self.open_nodes:
            return
        self.open_nodes.discard(node_id)
        self.missing.add(node_id)
        if not self.open_nodes:
            self.queue.put_nowait(None)


class LogBroker:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.listeners: dict[str, asyncio.Queue[d.SubscriptionMessage]] = {}
        self.subs: dict[str, _Subscription] = {}

    # ---- agents ------------------------------------------------------------------------------

    async def listen(self, node_id: str) -> AsyncIterator[d.SubscriptionMessage]:
        q: asyncio.Queue[d.SubscriptionMessage] = asyncio.Queue()
        self.listeners[node_id] = q
        try:
            for s in self.subs.values():  # active follow subscriptions this node joins late
                if node_id in s.nodes:
                    s.open_nodes.add(node_id)
                    q.put_nowait(s.msg)
            while True:
                yield await q.get()
        finally:
            if self.listeners.get(node_id) is q:
                del self.listeners[node_id]
                for s in list(self.subs.values()):
                    s.give_up_on(node_id)

    def _available(self, node_id: str) -> bool:
        if node_id not in self.listeners:
            return False
        node = Reader(self.store).get(Node, node_id)
        return node is not None and node.status.state != NodeStatus.DOWN

    def publish(self, node_id: str, msg: d.PublishLogsMessage) -> None:
        s = self.subs.get(msg.subscription_id)
        if s is None or node_id not in s.nodes:
            return
        lines = self._own_lines(node_id, msg.messages)
        if lines:
            s.queue.put_nowait(d.PublishLogsMessage(messages=lines))
        if msg.close:
            s.open_nodes.discard(node_id)
            if not s.open_nodes and not s.msg.options.follow:
                s.queue.put_nowait(None)

    def _own_lines(self, node_id: str, messages: Any) -> list[d.LogMessage]:
        """Only lines of tasks assigned to the publishing node, labelled with that node: a node
        cannot speak for another node's tasks (such lines are dropped and logged)."""
        r = Reader(self.store)
        mine: dict[str, bool] = {}
        out = []
        for m in messages:
            tid = m.context.task_id
            if tid not in mine:
                t = r.get(Task, tid)
                mine[tid] = t is not None and t.node_id == node_id
            if mine[tid]:
                m.context.node_id = node_id      # the node is the one its certificate names
                out.append(m)
        if len(out) != len(messages):
            log.warning("dropped %d log lines node %s sent for tasks that are not its own",
                        len(messages) - len(out), node_id)
        return out

    # ---- clients -----------------------------------------------------------------------------

    def _selected_tasks(self, sel: d.LogSelector) -> list[Task]:
        r = Reader(self.store)
        tasks: list[Task] = []
        for sid in sel.service_ids:
            tasks += r.tasks_of_service(sid)
        for tid in sel.task_ids:
            t = r.get(Task, tid)
            if t is not None:
                tasks.append(t)
        return tasks

    @staticmethod
    def _nodes_of(sel: d.LogSelector, tasks: list[Task]) -> set[str]:
        nodes = {t.node_id for t in tasks if t.node_id}
        return nodes & set(sel.node_ids) if sel.node_ids else nodes

    def _check(self, s: _Subscription) -> None:
        """Drop nodes that went away; a follow stream of a service joins nodes its new tasks land on
        (each agent itself picks up the service's tasks that start later)."""
        for n in list(s.open_nodes):
            if not self._available(n):
                s.give_up_on(n)
        if s.msg.options.follow and s.msg.selector.service_ids:
            for n in self._nodes_of(s.msg.selector, self._selected_tasks(s.msg.selector)) - s.nodes:
                s.nodes.add(n)
                if n in self.listeners:
                    s.open_nodes.add(n)
                    self.listeners[n].put_nowait(s.msg)

    async def subscribe(self, req: d.SubscribeLogsRequest,
                        ) -> AsyncGenerator[d.SubscribeLogsMessage, None]:
        sel = req.selector
        tasks = self._selected_tasks(sel)
        nodes = self._nodes_of(sel, tasks)
        sub_id = secrets.token_hex(8)
        msg = d.SubscriptionMessage(id=sub_id, options=req.options)
        msg.selector.CopyFrom(sel)
        msg.selector.task_ids.extend(t.id for t in tasks if t.id not in sel.task_ids)
        s = _Subscription(sub_id, msg, nodes)
        s.open_nodes = {n for n in nodes if self._available(n)}
        s.missing = nodes - s.open_nodes
        self.subs[sub_id] = s
        loop = asyncio.get_running_loop()
        try:
            for n in s.open_nodes:
                self.listeners[n].put_nowait(msg)
            if not s.open_nodes and not req.options.follow:
                s.queue.put_nowait(None)
            next_check = loop.time() + CHECK_INTERVAL
            while True:
                if loop.time() >= next_check:     # also while lines keep coming
                    self._check(s)
                    next_check = loop.time() + CHECK_INTERVAL
                try:
                    item = s.queue.get_nowait()
                except asyncio.QueueEmpty:
                    try:
                        item = await asyncio.wait_for(s.queue.get(), next_check - loop.time())
                    except TimeoutError:
                        continue
                if item is None:
                    break
                yield d.SubscribeLogsMessage(messages=item.messages)
            if s.missing:
                yield d.SubscribeLogsMessage(warning=(
                    "incomplete log stream. some logs could not be retrieved for the following "
                    "reasons: " + ", ".join(f"node {n} is not available" for n in sorted(s.missing))))
        finally:
            del self.subs[sub_id]
            close = d.SubscriptionMessage(id=sub_id, close=True)
            for n in s.nodes:
                q = self.listeners.get(n)
                if q is not None:
                    q.put_nowait(close)


#: ``relay(leader_api_addr, request)``: the subscription answered by the leader's broker
Relay = Callable[[str, d.SubscribeLogsRequest], AsyncGenerator[d.SubscribeLogsMessage, None]]


async def subscribe_logs(broker: LogBroker | None, leader_api_addr: Callable[[], str | None],
                         req: d.SubscribeLogsRequest, relay: Relay,
                         ) -> AsyncGenerator[d.SubscribeLogsMessage, None]:
    """`service logs` on any manager: the leader's ``broker`` serves it; a follower (no broker)
    relays it to the leader, or fails with ``NoLeaderError`` while there is none."""
    if broker is not None:
        async with aclosing(broker.subscribe(req)) as local:
            async for msg in local:
                yield msg
        return
    leader = leader_api_addr()
    if not leader:
        raise NoLeaderError()
    async with aclosing(relay(leader, req)) as relayed:
        async for msg in relayed:
            yield msg
