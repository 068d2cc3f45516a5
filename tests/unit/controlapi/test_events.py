"""swarm.controlapi.events: the store's change stream as Docker's swarm events, kept and followed
(the real handlers write through the real state machine of the in-memory store)."""

from __future__ import annotations

import asyncio
from typing import Any

from swarm.api import control_pb2 as c
from swarm.api.specs_pb2 import NetworkSpec, NodeSpec
from swarm.controlapi import networks, nodes, services
from swarm.controlapi.api import ControlAPI
from swarm.controlapi.common import Context
from swarm.controlapi.events import EventHistory
from tests.unit.orchestrator.memstore import MemStore

from .helpers import make_node, service_spec


def seen(m: c.EventMessage) -> tuple[str, str, dict[str, str]]:
    return m.type, m.action, dict(m.attributes)


def test_object_changes_become_dockers_events_and_since_replays_them(swarm: Any) -> None:
    async def run() -> None:
        ticks = iter(range(1, 10_000))
        history = EventHistory(swarm.store, clock=lambda: 1_000.0 + next(ticks))
        follower = asyncio.create_task(history.run())
        swarm.store.leader = lambda: "mgr1"           # the control API reads only with a leader
        ctx = Context(store=swarm.store, clock=swarm.clock, raft=swarm.raft, events=history)
        api = ControlAPI(ctx)
        live = await api.events(c.EventsRequest())
        await asyncio.sleep(0)                       # the follower subscribes

        svc = (await services.create_service(ctx, c.CreateServiceRequest(spec=service_spec("web")))).service
        spec = service_spec("web", image="busybox:2", replicas=3)
        await services.update_service(ctx, c.UpdateServiceRequest(
            service_id=svc.id, service_version=svc.meta.version, spec=spec))
        node = nodes.get_node(ctx, c.GetNodeRequest(node_id=swarm.manager_id)).node
        await nodes.update_node(ctx, c.UpdateNodeRequest(
            node_id=node.id, node_version=node.meta.version,
            spec=NodeSpec(availability=NodeSpec.DRAIN, membership=node.spec.membership,
                          desired_role=node.spec.desired_role)))
        netspec = NetworkSpec()
        netspec.annotations.name = "appnet"
        net = (await networks.create_network(ctx, c.CreateNetworkRequest(spec=netspec))).network
        await networks.remove_network(ctx, c.RemoveNetworkRequest(network_id=net.id))
        await services.remove_service(ctx, c.RemoveServiceRequest(service_id=svc.id))

        want = [
            ("service", "create", {"name": "web"}),
            ("service", "update", {"name": "web", "image.old": "busybox:latest", "image.new": "busybox:2",
                                   "replicas.old": "1", "replicas.new": "3"}),
            ("node", "update", {"name": "mgr1", "availability.old": "active", "availability.new": "drain"}),
            ("network", "create", {"name": "appnet"}),
            ("network", "remove", {"name": "appnet"}),
            ("service", "remove", {"name": "web"}),
        ]
        got = []
        async with asyncio.timeout(5):
            async for m in live:
                got.append(m)
                if len(got) == len(want):
                    break
        assert [seen(m) for m in got] == want
        assert got[0].actor_id == svc.id and got[2].actor_id == swarm.manager_id
        times = [m.time_nanos for m in got]
        assert times == sorted(times) and times[0] > 1_000 * 10**9

        # since: the kept events from that time on, then live again
        replay = await api.events(c.EventsRequest(since_nanos=got[3].time_nanos))
        async with asyncio.timeout(5):
            again = [await anext(replay) for _ in range(3)]
        assert [seen(m) for m in again] == want[3:]
        follower.cancel()

    asyncio.run(run())


def test_only_the_last_events_are_kept() -> None:
    history = EventHistory(MemStore(), keep=3)
    history.add(c.EventMessage(type="service", action="create", actor_id=str(i), time_nanos=i)
                for i in range(1, 6))

    async def first(since: int) -> str:
        return (await anext(history.stream(since))).actor_id

    assert asyncio.run(first(1)) == "3"      # 1 and 2 fell off
    assert asyncio.run(first(4)) == "4"


def test_tasks_and_the_cluster_give_no_events(swarm: Any) -> None:
    from swarm.controlapi.events import to_events
    from swarm.store.types import Event

    node = make_node("wkr9")
    events = [Event("create", "tasks", "t1", 5, b"", None), Event("update", "cluster", "c", 5, b"", b""),
              Event("create", "nodes", node.id, 5, node.SerializeToString(), None)]
    out = to_events(events, 7)
    assert [(m.type, m.action, m.actor_id, m.attributes["name"]) for m in out] == [
        ("node", "create", node.id, "wkr9")]


def test_until_ends_the_stream_after_the_events_up_to_it() -> None:
    clock = {"now": 10.0, "step": 0.0}

    def now() -> float:
        clock["now"] += clock["step"]
        return clock["now"]

    history = EventHistory(MemStore(), clock=now)
    history.add(c.EventMessage(type="service", action="create", actor_id=str(i), time_nanos=i * 10**9)
                for i in range(1, 6))

    async def upto(since: int, until: int) -> list[str]:
        async with asyncio.timeout(5):
            return [m.actor_id async for m in history.stream(since, until)]

    assert asyncio.run(upto(2 * 10**9, 4 * 10**9)) == ["2", "3", "4"]
    clock.update(now=5.5, step=0.05)   # until still ahead: waits for it (nothing comes), then ends
    assert asyncio.run(upto(5 * 10**9, int(5.6 * 10**9))) == ["5"]
