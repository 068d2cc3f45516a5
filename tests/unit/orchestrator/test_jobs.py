"""Jobs: the pure plans (replicated job slots and concurrency, global job nodes, iterations) and the
jobs orchestrator with the restart supervisor and the reaper on an in-memory store (fake clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from swarm.api.objects_pb2 import Service, Task
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import COMPLETE, FAILED, READY, RUNNING, SHUTDOWN, RestartPolicy
from swarm.orchestrator.jobs import JobsOrchestrator, plan_global_job, plan_replicated_job
from swarm.orchestrator.reaper import TaskReaper
from swarm.orchestrator.replicated import ReplicatedOrchestrator
from swarm.orchestrator.restart import RestartSupervisor, restart_cause, should_restart
from swarm.orchestrator.update import UpdateSupervisor
from swarm.store import typed
from swarm.store.typed import Reader

from .factories import node, service, task
from .memstore import Clock, MemStore, drain


def job(sid: str = "job", *, total: int = 6, concurrent: int = 2, iteration: int = 0,
        global_job: bool = False, condition: int = RestartPolicy.RESTART_ON_ANY,
        max_attempts: int = 0, delay: float | None = None) -> Service:
    s = service(sid, replicas=None, condition=condition, max_attempts=max_attempts, delay=delay)
    if global_job:
        s.spec.global_job.SetInParent()
    else:
        s.spec.replicated_job.total_completions = total
        s.spec.replicated_job.max_concurrent = concurrent
    s.job_status.job_iteration.index = iteration
    return s


def jtask(tid: str, *, slot: int = 0, node: str = "", state: int = RUNNING, desired: int = COMPLETE,
          iteration: int = 0) -> Task:
    t = task(tid, service_id="job", slot=slot, node=node, state=state, desired=desired)
    t.job_iteration.index = iteration
    return t


# ---- pure plans ---------------------------------------------------------------------------------

def test_replicated_job_starts_max_concurrent_tasks_in_the_lowest_slots() -> None:
    assert plan_replicated_job(job(), []).create_slots == [1, 2]
    assert plan_replicated_job(job(concurrent=10), []).create_slots == [1, 2, 3, 4, 5, 6]
    # 0 is the Engine API's "unset": one at a time
    assert plan_replicated_job(job(concurrent=0), []).create_slots == [1]


def test_replicated_job_fills_room_left_by_completions_only() -> None:
    tasks = [jtask("a", slot=1, state=COMPLETE), jtask("b", slot=2, state=RUNNING)]
    assert plan_replicated_job(job(), tasks).create_slots == [3]
    tasks.append(jtask("c", slot=3, state=RUNNING))
    assert plan_replicated_job(job(), tasks).create_slots == []


def test_failed_task_awaiting_the_restart_supervisor_keeps_its_slot_active() -> None:
    tasks = [jtask("a", slot=1, state=FAILED), jtask("b", slot=2, state=RUNNING)]
    assert plan_replicated_job(job(), tasks).create_slots == []
    # a delayed replacement (desired READY) is active too
    tasks = [jtask("a", slot=1, state=FAILED, desired=SHUTDOWN), jtask("a2", slot=1, state=0, desired=READY),
             jtask("b", slot=2, state=RUNNING)]
    assert plan_replicated_job(job(), tasks).create_slots == []


def test_slot_that_failed_for_good_is_not_refilled() -> None:
    tasks = [jtask("a", slot=1, state=FAILED, desired=SHUTDOWN)]
    assert plan_replicated_job(job(total=2), tasks).create_slots == [2]


def test_finished_job_creates_nothing() -> None:
    tasks = [jtask(f"t{i}", slot=i, state=COMPLETE) for i in range(1, 7)]
    plan = plan_replicated_job(job(), tasks)
    assert plan.create_slots == [] and plan.shutdown == []
    assert plan.cause == "job iteration 0: 6/6 completed, 0 active"


def test_new_iteration_runs_again_and_stops_the_old_run() -> None:
    tasks = [jtask("done", slot=1, state=COMPLETE), jtask("busy", slot=2, state=RUNNING),
             jtask("failed", slot=3, state=FAILED)]
    plan = plan_replicated_job(job(iteration=1), tasks)
    assert plan.create_slots == [1, 2]
    assert sorted(plan.shutdown) == ["busy", "failed"]


def test_global_job_one_task_per_eligible_node_of_this_iteration() -> None:
    nodes = [node("n1"), node("n2"), node("n3", availability=NodeSpec.DRAIN), node("n4")]
    tasks = [jtask("a", node="n1", state=COMPLETE), jtask("b", node="n4", state=COMPLETE, iteration=1)]
    assert plan_global_job(job(global_job=True), nodes, tasks).create_on == ["n2", "n4"]
    assert plan_global_job(job(global_job=True, iteration=1), nodes, tasks).create_on == ["n1", "n2"]


def test_global_job_task_is_stopped_where_the_node_went_away_and_not_rerun() -> None:
    from swarm.api.objects_pb2 import NodeStatus

    nodes = [node("n1", availability=NodeSpec.DRAIN), node("n2", state=NodeStatus.DOWN), node("n3")]
    tasks = [jtask("a", node="n1"), jtask("b", node="n2"), jtask("c", node="gone"),
             jtask("d", node="n3", state=COMPLETE), jtask("e", node="n1", state=COMPLETE, iteration=0)]
    plan = plan_global_job(job(global_job=True), nodes, tasks)
    assert sorted(plan.shutdown) == ["a", "b", "c"] and plan.create_on == []


def test_non_job_services_are_left_alone() -> None:
    assert plan_replicated_job(service(), []).create_slots == []
    assert plan_global_job(service(mode_global=True), [node("n1")], []).create_on == []


def test_restart_rules_for_job_tasks() -> None:
    assert restart_cause(jtask("t", slot=1, state=COMPLETE), node("n1")) is None
    assert restart_cause(jtask("t", slot=1, state=FAILED), node("n1")) == "task failed"
    assert restart_cause(jtask("t", slot=1, state=RUNNING), node("n1")) is None
    assert restart_cause(jtask("t", slot=1, state=FAILED, desired=SHUTDOWN), node("n1")) is None
    # "any" is read as "on-failure" for a job: a completed task is never run again
    done = jtask("t", slot=1, state=COMPLETE)
    assert not should_restart(done, [done], 0.0)[0]


# ---- components on the in-memory store ----------------------------------------------------------

def run(body: Callable[[MemStore, Clock], Awaitable[None]]) -> None:
    asyncio.run(body(MemStore(), Clock()))


def job_tasks(st: MemStore) -> list[Task]:
    return sorted(Reader(st).list(Task), key=lambda t: (t.slot, t.meta.created_at.ToNanoseconds(), t.id))


async def set_state(st: MemStore, tid: str, state: int) -> None:
    t = Reader(st).get(Task, tid)
    assert t is not None
    t.status.state = state  # type: ignore[assignment]
    await st.apply([typed.update(t)])


def test_six_completions_two_at_a_time() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1")), typed.create(job())])
        orch, sup = JobsOrchestrator(st, clock), RestartSupervisor(st, clock)
        # other components on the same events must leave the job alone
        rep, upd = ReplicatedOrchestrator(st, clock), UpdateSupervisor(st, clock)
        sub = st.subscribe()
        await orch.reconcile_all()
        await rep.reconcile_all()
        await upd.reconcile_all()
        peak = 0
        for _ in range(20):
            live = [t for t in job_tasks(st) if t.desired_state <= COMPLETE and t.status.state != COMPLETE]
            peak = max(peak, len(live))
            if not live:
                break
            assert all(t.desired_state == COMPLETE and t.job_iteration.index == 0 for t in live)
            await set_state(st, live[0].id, COMPLETE)
            events = drain(sub)
            await sup.handle(events)
            await rep.handle(events)
            await upd.handle(events)
            await orch.handle(events)
        ts = job_tasks(st)
        assert peak == 2
        assert [t.slot for t in ts] == [1, 2, 3, 4, 5, 6]
        assert all(t.status.state == COMPLETE for t in ts)
        assert [t.annotations.name for t in ts][:2] == ["job.1", "job.2"]
    run(body)


def test_failed_job_task_is_retried_after_the_delay_then_runs_to_complete() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1")), typed.create(job(total=1, concurrent=1, delay=2.0))])
        orch, sup = JobsOrchestrator(st, clock), RestartSupervisor(st, clock)
        sub = st.subscribe()
        await orch.reconcile_all()
        (first,) = job_tasks(st)
        await set_state(st, first.id, FAILED)
        events = drain(sub)
        await sup.handle(events)
        await orch.handle(drain(sub) + events)
        ts = job_tasks(st)
        assert len(ts) == 2
        (old,) = [t for t in ts if t.id == first.id]
        (new,) = [t for t in ts if t.id != first.id]
        assert old.desired_state == SHUTDOWN
        assert new.slot == 1 and new.desired_state == READY and new.job_iteration.index == 0
        clock.now += 2.0
        await sup.tick(clock.now)
        assert Reader(st).get(Task, new.id).desired_state == COMPLETE  # type: ignore[union-attr]
        await set_state(st, new.id, COMPLETE)
        await orch.handle(drain(sub))
        assert len(job_tasks(st)) == 2   # done: nothing more
    run(body)


def test_restart_condition_none_leaves_the_slot_failed() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1")),
                        typed.create(job(total=1, concurrent=1, condition=RestartPolicy.RESTART_ON_NONE))])
        orch, sup = JobsOrchestrator(st, clock), RestartSupervisor(st, clock)
        sub = st.subscribe()
        await orch.reconcile_all()
        (first,) = job_tasks(st)
        await set_state(st, first.id, FAILED)
        events = drain(sub)
        await sup.handle(events)
        await orch.handle(events + drain(sub))
        (only,) = job_tasks(st)
        assert only.desired_state == SHUTDOWN
    run(body)


def test_new_iteration_reruns_and_reaper_keeps_the_current_completions() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        cl = node("n1")
        await st.apply([typed.create(cl), typed.create(job(total=2, concurrent=2))])
        orch = JobsOrchestrator(st, clock)
        sub = st.subscribe()
        await orch.reconcile_all()
        for t in job_tasks(st):
            await set_state(st, t.id, COMPLETE)
        await orch.handle(drain(sub))
        assert len(job_tasks(st)) == 2
        # the reaper with a history limit of 0 must not delete what the job counts
        from swarm.api.objects_pb2 import Cluster

        cluster = Cluster(id="c")
        cluster.spec.annotations.name = "default"
        cluster.spec.orchestration.task_history_retention_limit = 0
        await st.apply([typed.create(cluster)])
        reaper = TaskReaper(st, clock)
        await reaper.reconcile_all()
        assert len(job_tasks(st)) == 2
        # service update: iteration 1 runs both again
        svc = Reader(st).get(Service, "job")
        assert svc is not None
        svc.job_status.job_iteration.index = 1
        svc.spec_version.index = 2
        await st.apply([typed.update(svc)])
        await orch.handle(drain(sub))
        fresh = [t for t in job_tasks(st) if t.job_iteration.index == 1]
        assert sorted(t.slot for t in fresh) == [1, 2]
        assert all(t.desired_state == COMPLETE and t.spec_version.index == 2 for t in fresh)
        # now the old run's completions are history and go
        await reaper.reconcile_all()
        assert {t.job_iteration.index for t in job_tasks(st)} == {1}
    run(body)


def test_global_job_runs_on_each_node_and_on_a_node_that_joins() -> None:
    async def body(st: MemStore, clock: Clock) -> None:
        await st.apply([typed.create(node("n1")), typed.create(node("n2")),
                        typed.create(job(global_job=True))])
        orch = JobsOrchestrator(st, clock)
        sub = st.subscribe()
        await orch.reconcile_all()
        assert sorted(t.node_id for t in job_tasks(st)) == ["n1", "n2"]
        for t in job_tasks(st):
            await set_state(st, t.id, COMPLETE)
        await st.apply([typed.create(node("n3"))])
        await orch.handle(drain(sub))
        ts = job_tasks(st)
        assert sorted(t.node_id for t in ts) == ["n1", "n2", "n3"]
        assert all(t.slot == 0 and t.desired_state == COMPLETE for t in ts)
    run(body)
