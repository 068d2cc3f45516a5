"""The log broker's fan-out and its end: every node's part, or a warning naming the node that
could not send it (no listener, listener gone mid-stream, node marked Down while waiting)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Node, NodeStatus
from swarm.dispatcher import logbroker
from swarm.dispatcher.logbroker import LogBroker
from swarm.store import typed
from swarm.store.typed import Reader
from tests.unit.orchestrator.factories import node, service, task
from tests.unit.orchestrator.memstore import MemStore


@pytest.fixture(autouse=True)
def fast_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logbroker, "CHECK_INTERVAL", 0.05)


def run(body: Callable[[MemStore, LogBroker], Awaitable[None]], timeout: float = 10) -> None:
    async def main() -> None:
        st = MemStore()
        await st.apply([typed.create(node("n1")), typed.create(node("n2")), typed.create(node("n3")),
                        typed.create(service("web"))])
        await st.apply([typed.create(task(f"t{i}", service_id="web", slot=i, node=f"n{i}"))
                        for i in (1, 2, 3)])
        await asyncio.wait_for(body(st, LogBroker(st)), timeout)

    asyncio.run(main())


class Agent:
    """Plays a node's agent: answers each subscription with one line per task, then closes."""

    def __init__(self, broker: LogBroker, node_id: str, *, answer: bool = True) -> None:
        self.broker, self.node_id, self.answer = broker, node_id, answer
        self.seen: list[d.SubscriptionMessage] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for msg in self.broker.listen(self.node_id):
            self.seen.append(msg)
            if msg.close or not self.answer:
                continue
            line = d.LogMessage(data=f"from {self.node_id}\n".encode())
            line.context.node_id = self.node_id
            line.context.task_id = f"t{self.node_id[1:]}"     # task tN runs on node nN
            self.broker.publish(self.node_id, d.PublishLogsMessage(
                subscription_id=msg.id, messages=[line], close=True))

    async def gone(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def request(follow: bool = False) -> d.SubscribeLogsRequest:
    r = d.SubscribeLogsRequest(options=d.LogSubscriptionOptions(follow=follow, tail=-1))
    r.selector.service_ids.append("web")
    return r


async def collect(stream: AsyncIterator[d.SubscribeLogsMessage]) -> tuple[list[str], list[str]]:
    lines, warnings = [], []
    async for m in stream:
        lines += [x.data.decode().strip() for x in m.messages]
        if m.warning:
            warnings.append(m.warning)
    return sorted(lines), warnings


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def mark_down(st: MemStore, node_id: str) -> None:
    """What the dispatcher's heartbeat check does to a node that stopped beating."""
    n = Reader(st).get(Node, node_id)
    assert n is not None
    n.status.state = NodeStatus.DOWN
    await st.apply([typed.update(n)])


async def waiting_on_silent_n3(b: LogBroker) -> tuple[Agent, asyncio.Future[tuple[list[str], list[str]]]]:
    """n1 and n2 answer; n3 takes the subscription and never answers: the stream waits on it."""
    Agent(b, "n1")
    Agent(b, "n2")
    silent = Agent(b, "n3", answer=False)
    await settle()
    got = asyncio.ensure_future(collect(b.subscribe(request())))
    await asyncio.sleep(0.2)
    assert not got.done()
    return silent, got


def test_every_node_sends_its_part_and_the_stream_ends() -> None:
    async def body(st: MemStore, b: LogBroker) -> None:
        agents = [Agent(b, n) for n in ("n1", "n2", "n3")]
        await settle()
        lines, warnings = await collect(b.subscribe(request()))
        assert lines == ["from n1", "from n2", "from n3"] and warnings == []
        assert b.subs == {}
        await settle()
        # each agent got the subscription (with the service's task ids filled in), then its close
        for a in agents:
            assert [m.close for m in a.seen] == [False, True]
            assert sorted(a.seen[0].selector.task_ids) == ["t1", "t2", "t3"]
            await a.gone()
        assert b.listeners == {}

    run(body)


def test_node_without_listener_is_named_in_the_warning() -> None:
    async def body(st: MemStore, b: LogBroker) -> None:
        for n in ("n1", "n2"):
            Agent(b, n)
        await settle()
        lines, warnings = await collect(b.subscribe(request()))
        assert lines == ["from n1", "from n2"]
        assert warnings == ["incomplete log stream. some logs could not be retrieved for the "
                            "following reasons: node n3 is not available"]

    run(body)


def test_listener_that_goes_away_mid_stream_ends_its_part() -> None:
    async def body(st: MemStore, b: LogBroker) -> None:
        silent, got = await waiting_on_silent_n3(b)
        await silent.gone()                        # its agent's stream ends (daemon killed)
        lines, warnings = await got
        assert lines == ["from n1", "from n2"] and warnings == [
            "incomplete log stream. some logs could not be retrieved for the following reasons: "
            "node n3 is not available"]

    run(body)


def test_node_marked_down_while_waiting_ends_its_part() -> None:
    async def body(st: MemStore, b: LogBroker) -> None:
        _, got = await waiting_on_silent_n3(b)      # n3's connection vanished: listener still there
        await mark_down(st, "n3")
        lines, warnings = await got
        assert lines == ["from n1", "from n2"] and warnings and "node n3 is not available" in warnings[0]

    run(body)


def test_down_node_with_a_stale_listener_is_not_waited_for() -> None:
    async def body(st: MemStore, b: LogBroker) -> None:
        for n in ("n1", "n2", "n3"):
            Agent(b, n)
        await settle()
        await mark_down(st, "n2")
        lines, warnings = await collect(b.subscribe(request()))
        assert lines == ["from n1", "from n3"] and "node n2 is not available" in warnings[0]

    run(body)


def test_follow_keeps_waiting_for_a_node_that_went_away() -> None:
    async def body(st: MemStore, b: LogBroker) -> None:
        a1 = Agent(b, "n1", answer=False)
        await settle()
        got = asyncio.ensure_future(collect(b.subscribe(request(follow=True))))
        await settle()
        await a1.gone()
        await asyncio.sleep(0.2)
        assert not got.done()                       # follow ends only when the client leaves
        again = Agent(b, "n1", answer=False)        # the node comes back and rejoins the stream
        await settle()
        assert [m.close for m in again.seen] == [False]
        got.cancel()
        await asyncio.gather(got, return_exceptions=True)

    run(body)


def test_follow_joins_a_node_a_new_task_of_the_service_lands_on() -> None:
    async def body(st: MemStore, b: LogBroker) -> None:
        await st.apply([typed.create(node("n4"))])
        agents = {n: Agent(b, n, answer=False) for n in ("n1", "n2", "n3", "n4")}
        await settle()
        got = asyncio.ensure_future(collect(b.subscribe(request(follow=True))))
        await asyncio.sleep(0.1)
        assert [len(agents[n].seen) for n in ("n1", "n2", "n3", "n4")] == [1, 1, 1, 0]
        await st.apply([typed.create(task("t4", service_id="web", slot=4, node="n4"))])  # scaled up
        await asyncio.sleep(0.2)
        assert [m.close for m in agents["n4"].seen] == [False]
        assert agents["n4"].seen[0].selector.service_ids == ["web"]   # the agent finds t4 itself
        got.cancel()
        await asyncio.gather(got, return_exceptions=True)
        await settle()
        assert all(a.seen[-1].close for a in agents.values())          # every node told to stop

    run(body)


def test_a_busy_stream_still_notices_a_node_going_down() -> None:
    async def body(st: MemStore, b: LogBroker) -> None:
        Agent(b, "n2")
        Agent(b, "n3", answer=False)
        chatty = Agent(b, "n1", answer=False)
        await settle()
        got = asyncio.ensure_future(collect(b.subscribe(request())))
        await settle()
        sub_id = chatty.seen[0].id

        async def chatter() -> None:        # a line every 10 ms: the stream is never idle
            while True:
                line = d.LogMessage(data=b"x")
                line.context.node_id, line.context.task_id = "n1", "t1"
                b.publish("n1", d.PublishLogsMessage(subscription_id=sub_id, messages=[line]))
                await asyncio.sleep(0.01)

        talk = asyncio.ensure_future(chatter())
        await asyncio.sleep(0.1)
        await mark_down(st, "n3")
        await asyncio.sleep(0.3)
        sub = b.subs[sub_id]                # dropped while lines kept coming, not after a lull
        assert sub.open_nodes == {"n1"} and sub.missing == {"n3"}
        talk.cancel()
        b.publish("n1", d.PublishLogsMessage(subscription_id=sub_id, close=True))
        lines, warnings = await got
        assert len(lines) > 10 and "node n3 is not available" in warnings[0]

    run(body)


def test_a_node_cannot_publish_lines_for_another_nodes_tasks() -> None:
    async def body(st: MemStore, b: LogBroker) -> None:
        Agent(b, "n2")
        Agent(b, "n3")
        liar = Agent(b, "n1", answer=False)
        await settle()
        got = asyncio.ensure_future(collect(b.subscribe(request())))
        await settle()
        sub_id = liar.seen[0].id
        forged = []
        for tid, nid in (("t2", "n1"), ("t2", "n2"), ("t3", ""), ("nope", "n1")):  # not n1's tasks
            m = d.LogMessage(data=f"forged {tid} {nid}\n".encode())
            m.context.task_id, m.context.node_id = tid, nid
            forged.append(m)
        honest = d.LogMessage(data=b"from n1\n")
        honest.context.task_id, honest.context.node_id = "t1", "n2"   # mislabelled: relabelled n1
        b.publish("n1", d.PublishLogsMessage(subscription_id=sub_id, messages=[*forged, honest],
                                             close=True))
        lines, warnings = await got
        assert lines == ["from n1", "from n2", "from n3"] and warnings == []

    run(body)


def test_subscribe_logs_serves_from_the_broker_relays_from_a_follower_or_needs_a_leader() -> None:
    from swarm.store import NoLeaderError

    relayed: list[tuple[str, d.SubscribeLogsRequest]] = []

    async def relay(leader: str, req: d.SubscribeLogsRequest) -> AsyncIterator[d.SubscribeLogsMessage]:
        relayed.append((leader, req))
        yield d.SubscribeLogsMessage(warning="from the leader")

    async def body(st: MemStore, broker: LogBroker) -> None:
        req = d.SubscribeLogsRequest()
        req.selector.service_ids.append("web")
        local = [m async for m in logbroker.subscribe_logs(broker, lambda: "unused", req, relay)]
        assert "n1" in local[-1].warning and not relayed          # the leader's own broker
        remote = [m async for m in logbroker.subscribe_logs(None, lambda: "10.0.0.1:2377", req, relay)]
        assert [m.warning for m in remote] == ["from the leader"]
        assert relayed == [("10.0.0.1:2377", req)]
        with pytest.raises(NoLeaderError):
            [m async for m in logbroker.subscribe_logs(None, lambda: None, req, relay)]

    run(body)
