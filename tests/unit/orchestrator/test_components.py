"""The reconcilers themselves, driven step by step on an in-memory store with a fake clock:
``reconcile_all`` / ``handle(events)`` / ``tick(now)`` are called directly, so every timing rule
(restart delay, scheduler debounce, reaper batching) is checked without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from swarm.allocator import Allocator
from swarm.api.objects_pb2 import Node, Service, Task
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import ASSIGNED, FAILED, PENDING, READY, RUNNING, SHUTDOWN
from swarm.daemon.manager import leader_components
from swarm.orchestrator.reaper import BATCH_DELAY, TaskReaper
from swarm.orchestrator.replicated import ReplicatedOrchestrator
from swarm.orchestrator.restart import RestartSupervisor
from swarm.scheduler.loop import DEBOUNCE, MAX_WAIT, SchedulerLoop
from swarm.store import typed
from swarm.store.typed import Reader

from .factories import node, service
from .memstore import Clock, MemStore, drain


def run(body: Callable[[MemStore, Clock], Awaitable[None]]) -> None:
    asyncio.run(body(MemStore(), Clock()))


def tasks(st: MemStore) -> list[Task]:
    return sorted(Reader(st).list(Task), key=lambda t: (t.slot, t.meta.created_at.ToNanoseconds()))


async def set_state(st: MemStore, tid: str, state: int) -> None:
    t = Reader(st).get(Task, tid)
    assert t is not None
    t.status.state = state  # type: ignore[assignment]
    await st.apply([typed.update(t)])


def test_leader_components_order_and_shape() -> None:
    st = MemStore()
    comps = [make(st) for make in leader_components()]
    assert [type(c).__name__ for c in comps] == ["Allocator", "SchedulerLoop", "RestartSupervisor",
                                                 "ReplicatedOrchestrator", "GlobalOrchestrator",
                                                 "JobsOrchestrator", "TaskReaper", "ConstraintEnforcer"]
    assert all(callable(c.run) and callable(c.stop) for c in comps)


def test_pipeline_create_allocate_schedule() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1")), typed.create(node("n2"))])
        await st.apply([typed.create(service("web", replicas=4))])
        orch, alloc, sched = (ReplicatedOrchestrator(st, clock), Allocator(st, clock),
                              SchedulerLoop(st, clock))
        sub = st.subscribe()
        await orch.reconcile_all()
        assert [t.status.state for t in tasks(st)] == [0, 0, 0, 0]
        await alloc.handle(drain(sub))
        assert all(t.status.state == PENDING and t.status.message == "pending task scheduling"
                   for t in tasks(st))
        await sched.handle(drain(sub))
        assert sched._deadline == clock.now + DEBOUNCE   # waits for more
        clock.now += DEBOUNCE
        await sched.tick(clock.now)
        assert sorted(t.node_id for t in tasks(st)) == ["n1", "n1", "n2", "n2"]
        assert all(t.status.state == ASSIGNED and t.status.message == "scheduler assigned task to node"
                   for t in tasks(st))
        assert st.applied[2:] == [4, 4, 4]   # one batch per stage
    run(body)


def test_scheduler_debounce_is_capped_at_one_second() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        sched = SchedulerLoop(st, clock)
        passes: list[float] = []

        async def record(now: float) -> None:
            passes.append(now)
        sched.run_pass = record  # type: ignore[method-assign]
        sched.pending.add("x")
        start = clock.now
        for _ in range(50):           # a task every 30 ms: the 50 ms debounce never expires...
            sched._arrived(clock.now)
            clock.now += 0.03
            if sched._deadline is not None and clock.now >= sched._deadline:
                sched._deadline = None  # what the loop does before calling tick
                await sched.tick(clock.now)
        assert passes and abs(passes[0] - (start + MAX_WAIT)) < 0.031   # ...but 1 s is the limit
        passes.clear()
        sched._arrived(clock.now)
        clock.now += DEBOUNCE
        sched._deadline = None
        await sched.tick(clock.now)
        assert passes == [clock.now]
    run(body)


def test_unschedulable_error_written_once_then_placed_when_a_node_fits() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1", availability=NodeSpec.DRAIN))])
        await st.apply([typed.create(service("web", replicas=1))])
        orch, alloc, sched = (ReplicatedOrchestrator(st, clock), Allocator(st, clock),
                              SchedulerLoop(st, clock))
        await orch.reconcile_all()
        await alloc.reconcile_all()
        await sched.reconcile_all()
        await sched.tick(clock.now + 1)
        [t] = tasks(st)
        assert t.status.state == PENDING
        assert t.status.err == "no suitable node (1 node not available for new tasks)"
        before = st.index
        await sched.run_pass(clock.now)
        assert st.index == before   # unchanged explanation: no write
        sub = st.subscribe()
        n = Reader(st).get(Node, "n1")
        assert n is not None
        n.spec.availability = NodeSpec.ACTIVE
        await st.apply([typed.update(n)])
        await sched.handle(drain(sub))
        await sched.tick(clock.now + 1)
        [t] = tasks(st)
        assert t.status.state == ASSIGNED and t.node_id == "n1" and t.status.err == ""
    run(body)


def test_restart_delay_with_fake_clock() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1"))])
        svc = service("web", replicas=1, delay=5.0)
        await st.apply([typed.create(svc)])
        await ReplicatedOrchestrator(st, clock).reconcile_all()
        [t] = tasks(st)
        t.node_id = "n1"
        t.status.state = FAILED
        await st.apply([typed.update(t)])
        sup = RestartSupervisor(st, clock)
        sub = st.subscribe()
        await sup.reconcile_all()
        old, new = tasks(st)
        assert old.id == t.id and old.desired_state == SHUTDOWN
        assert new.slot == 1 and new.desired_state == READY and new.annotations.name == "web.1"
        assert sup._deadline == clock.now + 5.0
        clock.now += 4.9
        await sup.tick(clock.now)
        assert tasks(st)[1].desired_state == READY
        clock.now += 0.2
        await sup.tick(clock.now)
        assert tasks(st)[1].desired_state == RUNNING
        # the old task had ended: nothing to wait for. Events of our own writes change nothing.
        await sup.handle(drain(sub))
        assert len(tasks(st)) == 2
    run(body)


def test_drained_node_replacement_has_no_delay_but_waits_for_the_old_task() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1")), typed.create(node("n2"))])
        await st.apply([typed.create(service("web", replicas=1, delay=30.0))])
        await ReplicatedOrchestrator(st, clock).reconcile_all()
        [t] = tasks(st)
        t.node_id, t.status.state = "n1", RUNNING  # type: ignore[assignment]
        await st.apply([typed.update(t)])
        n1 = Reader(st).get(Node, "n1")
        assert n1 is not None
        n1.spec.availability = NodeSpec.DRAIN
        await st.apply([typed.update(n1)])
        sup = RestartSupervisor(st, clock)
        await sup.reconcile_all()
        old, new = tasks(st)
        assert old.desired_state == SHUTDOWN and new.desired_state == READY
        await sup.tick(clock.now)
        assert tasks(st)[1].desired_state == READY     # old still running on n1
        await set_state(st, old.id, SHUTDOWN)
        await sup.tick(clock.now)
        assert tasks(st)[1].desired_state == RUNNING   # no 30 s delay
    run(body)


def test_reaper_batches_and_deletes_removed_tasks() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(service("web", replicas=2))])
        orch = ReplicatedOrchestrator(st, clock)
        await orch.reconcile_all()
        svc = Reader(st).get(Service, "web")
        assert svc is not None
        svc.spec.replicated.replicas = 0
        await st.apply([typed.update(svc)])
        await orch.reconcile_all()
        assert all(t.desired_state == 800 for t in tasks(st))
        reaper = TaskReaper(st, clock)
        sub = st.subscribe()
        await set_state(st, tasks(st)[0].id, PENDING)
        await reaper.handle(drain(sub))
        assert reaper._deadline == clock.now + BATCH_DELAY and len(tasks(st)) == 2
        await reaper.tick(clock.now + BATCH_DELAY)
        assert len(tasks(st)) == 1            # only the task it heard about...
        await reaper.reconcile_all()
        assert tasks(st) == []                # ...the full pass finds the other
    run(body)


def test_failure_during_the_delay_chains_the_next_delay() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(service("web", replicas=1, delay=5.0))])
        await ReplicatedOrchestrator(st, clock).reconcile_all()
        sup = RestartSupervisor(st, clock)
        first = tasks(st)[0]
        await set_state(st, first.id, FAILED)
        await sup.reconcile_all()
        second = tasks(st)[1]
        assert second.desired_state == READY and sup.delayed[second.id] == clock.now + 5.0
        clock.now += 1.0
        await set_state(st, second.id, 768)   # rejected (image pull) while waiting out its delay
        await sup.reconcile_all()
        third = tasks(st)[2]
        # starts 5 s after the second one's own start time, not 5 s from now: no tight loop
        assert sup.delayed[third.id] == clock.now - 1.0 + 10.0
    run(body)


def test_removed_node_tasks_replaced_without_waiting() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1")), typed.create(node("n2"))])
        await st.apply([typed.create(service("web", replicas=1, delay=1.0))])
        await ReplicatedOrchestrator(st, clock).reconcile_all()
        [t] = tasks(st)
        t.node_id, t.status.state = "n1", RUNNING  # type: ignore[assignment]
        await st.apply([typed.update(t)])
        sup = RestartSupervisor(st, clock)
        sub = st.subscribe()
        await st.apply([typed.delete(table="nodes", id="n1")])
        await sup.handle(drain(sub))
        old, new = tasks(st)
        assert old.desired_state == SHUTDOWN and old.status.state == RUNNING
        clock.now += 1.0
        await sup.tick(clock.now)
        assert tasks(st)[1].desired_state == RUNNING   # nobody can confirm the old one stopped
        assert new.node_id == ""
    run(body)


def test_stale_pick_rechecked_and_placed_again(monkeypatch: object) -> None:
    import swarm.scheduler.loop as scheduling

    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1")), typed.create(node("n2"))])
        await st.apply([typed.create(service("web", replicas=2))])
        await ReplicatedOrchestrator(st, clock).reconcile_all()
        await Allocator(st, clock).reconcile_all()
        sched = SchedulerLoop(st, clock)
        await sched.reconcile_all()
        real_apply = st.apply
        drained: list[str] = []

        async def apply_then_drain(actions: list, timeout: float = 5.0) -> int:
            idx = await real_apply(actions)
            if not drained:   # another writer drains the node of the second pick meanwhile
                t = Reader(st).get(Task, actions[0].id)
                assert t is not None
                other = "n2" if t.node_id == "n1" else "n1"
                n = Reader(st).get(Node, other)
                assert n is not None
                n.spec.availability = NodeSpec.DRAIN
                drained.append(other)
                await real_apply([typed.update(n)])
            return idx
        st.apply = apply_then_drain  # type: ignore[method-assign]
        monkeypatch.setattr(scheduling, "MAX_ACTIONS", 1)  # type: ignore[attr-defined]
        await sched.run_pass(clock.now)
        states = sorted((t.status.state, t.node_id) for t in tasks(st))
        assert states[0][0] == PENDING and states[1][0] == ASSIGNED   # the stale pick was dropped
        assert sched._deadline is not None                             # and is retried soon
        await sched.run_pass(clock.now)
        assert {t.node_id for t in tasks(st)} == ({"n1", "n2"} - set(drained))
        assert all(t.status.state == ASSIGNED for t in tasks(st))
    run(body)
