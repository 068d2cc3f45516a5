"""Restart policy, node failure, drain and global services end to end (see test_orchestrator.py
for the rig: real store, every leader component, fake agents)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from swarm.api.objects_pb2 import Cluster, Node
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import COMPLETE, FAILED, READY, REJECTED, RUNNING, SHUTDOWN, RestartPolicy
from swarm.store import typed

from .test_orchestrator import Rig, run, summary, three_nodes

pytestmark = pytest.mark.timeout(180)


def current(rig: Rig, sid: str, slot: int) -> list:
    return [t for t in rig.tasks(sid) if t.slot == slot and t.desired_state <= RUNNING]


def test_failed_task_replaced_in_slot_after_delay_and_history_kept(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("web", replicas=2, delay=1.0)
        show = lambda: summary(rig, sid)  # noqa: E731
        await rig.wait("2 running", lambda: len(rig.running(sid)) == 2, show=show)
        victim = next(t for t in rig.running(sid) if t.slot == 1)
        await rig.report(victim.id, FAILED, err="exit 1", exit_code=1)
        # the replacement exists at once, held at desired READY, then started after the delay
        new = await rig.wait("replacement created READY",
                             lambda: [t for t in current(rig, sid, 1) if t.id != victim.id
                                      and t.desired_state == READY], show=show)
        assert rig.r.get(type(victim), victim.id).desired_state == SHUTDOWN
        await rig.wait("replacement running", lambda: [t for t in rig.running(sid)
                                                       if t.id == new[0].id], timeout=10, show=show)
        assert len([t for t in rig.tasks(sid) if t.slot == 1]) == 2
        # history per slot is capped at 5 tasks, the running one included
        for _ in range(6):
            cur = await rig.wait("slot 1 running", lambda: [t for t in rig.running(sid) if t.slot == 1],
                                 timeout=10, show=show)
            await rig.report(cur[0].id, FAILED, err="exit 1", exit_code=1)
            gone = cur[0].id
            await rig.wait("slot 1 replaced", lambda gone=gone: [t for t in current(rig, sid, 1)
                                                                 if t.id != gone], show=show)
        await rig.wait("slot 1 running again", lambda: [t for t in rig.running(sid) if t.slot == 1],
                       timeout=10, show=show)
        await rig.wait("history trimmed to 5", lambda: len([t for t in rig.tasks(sid) if t.slot == 1]) == 5,
                       show=show)
        assert len([t for t in rig.tasks(sid) if t.slot == 2]) == 1
    run(tmp_path, body)


def test_cluster_history_limit_applies_at_once(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("web", replicas=1, delay=0.05)
        show = lambda: summary(rig, sid)  # noqa: E731
        for _ in range(3):
            cur = await rig.wait("running", lambda: rig.running(sid), timeout=10, show=show)
            await rig.report(cur[0].id, FAILED, exit_code=1)
            gone = cur[0].id
            await rig.wait("replaced", lambda gone=gone: [t for t in rig.running(sid) if t.id != gone],
                           timeout=10, show=show)
        assert len(rig.tasks(sid)) == 4
        cluster = rig.r.cluster()
        assert cluster is not None

        def limit(c: Cluster) -> None:
            c.spec.orchestration.task_history_retention_limit = 2
        await rig._update(Cluster, cluster.id, limit)
        await rig.wait("trimmed to 2", lambda: len(rig.tasks(sid)) == 2, show=show)
        assert len(rig.running(sid)) == 1
    run(tmp_path, body)


def test_label_removed_tasks_rejected_and_rescheduled(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await rig.add_node("n1", labels={"disk": "ssd"})
        await rig.add_node("n2", labels={"disk": "ssd"})
        sid = await rig.create_service("db", replicas=4, delay=0.05, constraints=["node.labels.disk==ssd"])
        show = lambda: summary(rig, sid)  # noqa: E731
        await rig.wait("2/2", lambda: rig.spread(sid) == Counter({"n1": 2, "n2": 2}), show=show)

        def drop(n: Node) -> None:
            del n.spec.annotations.labels["disk"]
        await rig.update_node("n1", drop)
        await rig.wait("all 4 on n2", lambda: rig.spread(sid) == Counter({"n2": 4}), show=show)
        old = [t for t in rig.tasks(sid) if t.node_id == "n1"]
        assert len(old) == 2 and all(t.status.state == REJECTED and t.desired_state == SHUTDOWN
                                     and t.status.err == "assigned node no longer meets constraints"
                                     for t in old), show()
    run(tmp_path, body)


def test_node_down_tasks_replaced_elsewhere(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("web", replicas=6, delay=0.2)
        show = lambda: summary(rig, sid)  # noqa: E731
        await rig.wait("2/2/2", lambda: rig.spread(sid) == Counter({"n1": 2, "n2": 2, "n3": 2}), show=show)
        await rig.node_down("n3")
        await rig.wait("6 running on n1 and n2",
                       lambda: rig.spread(sid) == Counter({"n1": 3, "n2": 3}), show=show)
        old = [t for t in rig.tasks(sid) if t.node_id == "n3"]
        assert len(old) == 2 and all(t.desired_state == SHUTDOWN and t.status.state == RUNNING for t in old)
        assert sorted(t.slot for t in rig.running(sid)) == [1, 2, 3, 4, 5, 6]
    run(tmp_path, body)


def test_drain_moves_tasks_at_once(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        # a long restart delay: drained tasks must not wait for it
        sid = await rig.create_service("web", replicas=6, delay=60.0)
        show = lambda: summary(rig, sid)  # noqa: E731
        await rig.wait("2/2/2", lambda: rig.spread(sid) == Counter({"n1": 2, "n2": 2, "n3": 2}), show=show)
        await rig.drain("n1")
        await rig.wait("moved off n1", lambda: rig.spread(sid) == Counter({"n2": 3, "n3": 3}),
                       timeout=15, show=show)
        assert all(t.status.state == SHUTDOWN for t in rig.tasks(sid) if t.node_id == "n1")
    run(tmp_path, body)


@pytest.mark.parametrize("condition,end,replaced", [
    (RestartPolicy.RESTART_ON_NONE, FAILED, False),
    (RestartPolicy.RESTART_ON_FAILURE, COMPLETE, False),
    (RestartPolicy.RESTART_ON_FAILURE, FAILED, True),
    (RestartPolicy.RESTART_ON_ANY, COMPLETE, True),
])
def test_restart_conditions(tmp_path: Path, condition: int, end: int, replaced: bool) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("job", replicas=1, delay=0.1, condition=condition)
        show = lambda: summary(rig, sid)  # noqa: E731
        first = (await rig.wait("running", lambda: rig.running(sid), show=show))[0]
        await rig.report(first.id, end, exit_code=0 if end == COMPLETE else 2)
        await rig.wait("old task shut down",
                       lambda: rig.r.get(type(first), first.id).desired_state == SHUTDOWN, show=show)
        if replaced:
            await rig.wait("replaced", lambda: [t for t in rig.running(sid) if t.id != first.id], show=show)
        else:
            # bounded: give the supervisor ample time (10x the delay) to (wrongly) replace it
            for _ in range(20):
                assert [t.id for t in rig.tasks(sid)] == [first.id], summary(rig, sid)
                await asyncio.sleep(0.05)
    run(tmp_path, body)


def test_max_attempts(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("flaky", replicas=1, delay=0.1, max_attempts=2)
        show = lambda: summary(rig, sid)  # noqa: E731
        for _ in range(3):
            cur = await rig.wait("running", lambda: rig.running(sid), timeout=10, show=show)
            await rig.report(cur[0].id, FAILED, exit_code=1)
            gone = cur[0]
            await rig.wait("shut down", lambda gone=gone: rig.r.get(type(gone), gone.id).desired_state
                           == SHUTDOWN, show=show)
        await asyncio.sleep(0.5)
        ts = rig.tasks(sid)
        assert len(ts) == 3 and not any(t.desired_state <= RUNNING for t in ts), summary(rig, sid)
        # a new spec version resets the count
        await rig.update_service(sid, lambda s: s.spec.task.container.env.append("X=1"))
        await rig.wait("running again after update", lambda: rig.running(sid), show=show)
    run(tmp_path, body)


def test_global_service_follows_nodes(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("agent", mode_global=True, replicas=None,
                                       constraints=["node.labels.skip!=yes"])
        show = lambda: summary(rig, sid)  # noqa: E731
        await rig.wait("one per node", lambda: rig.spread(sid) == Counter({"n1": 1, "n2": 1, "n3": 1}),
                       show=show)
        assert {t.annotations.name for t in rig.tasks(sid)} == {"agent.n1", "agent.n2", "agent.n3"}
        await rig.add_node("n4")
        await rig.add_node("n5", labels={"skip": "yes"})
        await rig.wait("joined node gets one", lambda: rig.spread(sid) ==
                       Counter({"n1": 1, "n2": 1, "n3": 1, "n4": 1}), show=show)
        await rig.drain("n1")
        await rig.node_down("n2")
        await rig.wait("drained and down nodes lose theirs", lambda: rig.spread(sid) ==
                       Counter({"n3": 1, "n4": 1}) and all(t.desired_state == SHUTDOWN for t in rig.tasks(sid)
                                                          if t.node_id in ("n1", "n2")), show=show)
        await rig.store.apply([typed.delete(table="nodes", id="n4")])
        await rig.wait("removed node's task shut down",
                       lambda: all(t.desired_state == SHUTDOWN for t in rig.tasks(sid) if t.node_id == "n4"),
                       show=show)

        def undrain(n: Node) -> None:
            n.spec.availability = NodeSpec.ACTIVE
        await rig.update_node("n1", undrain)
        await rig.wait("undrained node gets one again",
                       lambda: rig.spread(sid) == Counter({"n1": 1, "n3": 1}), show=show)
        # a failed global task is restarted on its node
        t3 = next(t for t in rig.running(sid) if t.node_id == "n3")
        await rig.report(t3.id, FAILED, exit_code=1)
        await rig.wait("restarted on n3", lambda: [t for t in rig.running(sid)
                                                  if t.node_id == "n3" and t.id != t3.id], show=show)
    run(tmp_path, body)


__all__ = ["RUNNING"]
