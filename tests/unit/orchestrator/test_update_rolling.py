"""The rolling updater on the in-memory store: failure actions, start-first order, parallelism with a
delay on a fake clock, and a new leader resuming an update. A fake agent follows the change stream and
moves tasks to their desired state; the updater's only sleeps (the update delay and the final monitor
wait) go through ``asyncio.sleep`` / ``asyncio.wait_for`` of its module, which these tests point at
the fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from swarm.api.objects_pb2 import Service, Task
from swarm.api.types_pb2 import FAILED, RUNNING, SHUTDOWN, UpdateConfig, UpdateStatus
from swarm.orchestrator import update as update_mod
from swarm.orchestrator.update import UpdateSupervisor
from swarm.reconciler.base import decode_event
from swarm.store import Commit, typed
from swarm.store.typed import Reader

from .factories import node, service, task
from .memstore import MemStore

_real_sleep = asyncio.sleep
_real_wait_for = asyncio.wait_for


class FakeClock:
    """Clock time that moves only by ``advance``; ``sleep`` waits for it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        if delay <= 0:
            await _real_sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + delay, fut))
        await fut

    def advance(self, by: float) -> None:
        self.now += by
        keep = []
        for when, fut in self.sleepers:
            if when <= self.now:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((when, fut))
        self.sleepers = keep


class _AsyncioOnClock:
    """``asyncio`` as the updater module sees it: sleep and wait_for's timeout on the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float) -> None:
        await self.clock.sleep(delay)

    async def wait_for(self, aw: Awaitable[Any], timeout: float | None) -> Any:
        if timeout is None:
            return await aw
        main = asyncio.ensure_future(aw)
        timer = asyncio.ensure_future(self.clock.sleep(timeout))
        try:
            await asyncio.wait([main, timer], return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if main.done():
            return main.result()
        main.cancel()
        raise TimeoutError


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    c = FakeClock()
    monkeypatch.setattr(update_mod, "asyncio", _AsyncioOnClock(c))
    yield c


def _tiny_monitor(cfg: UpdateConfig) -> None:
    cfg.monitor.FromNanoseconds(1)


async def agent(st: MemStore, failing_image: str = "") -> None:
    """Runs tasks desired RUNNING (FAILED when their image is ``failing_image``), stops tasks desired
    SHUTDOWN."""
    sub = st.subscribe()
    try:
        while True:
            actions = []
            for t in Reader(st).list(Task):
                if t.desired_state == RUNNING and t.status.state < RUNNING:
                    t.node_id = t.node_id or "n1"
                    bad = failing_image and t.spec.container.image == failing_image
                    t.status.state = FAILED if bad else RUNNING  # type: ignore[assignment]
                    actions.append(typed.update(t))
                elif t.desired_state == SHUTDOWN and t.status.state <= RUNNING:
                    t.status.state = SHUTDOWN  # type: ignore[assignment]
                    actions.append(typed.update(t))
            if actions:
                await st.apply(actions)
                continue
            await sub.__anext__()
            while sub.poll() is not None:
                pass
    finally:
        sub.close()


async def until(st: MemStore, ok: Callable[[], bool], what: str, tick: Callable[[], None] | None = None,
                rounds: int = 2000) -> None:
    """Wait for ``ok`` over commits (or over yields, calling ``tick`` between them), bounded."""
    for _ in range(rounds):
        if ok():
            return
        if tick is not None:
            tick()
        await _real_sleep(0)
    tasks = [(t.id, t.slot, t.desired_state, t.status.state) for t in Reader(st).list(Task)]
    raise AssertionError(f"timed out waiting for {what}: {status_of(st)}, {tasks}")


def status_of(st: MemStore) -> Any:
    s = Reader(st).get(Service, "svc")
    assert s is not None
    return s.update_status


def updated(svc: Service) -> Service:
    """The service after `service update --image busybox:2`: version 2, previous spec kept."""
    new = Service()
    new.CopyFrom(svc)
    new.previous_spec.CopyFrom(svc.spec)
    new.previous_spec_version.CopyFrom(svc.spec_version)
    new.spec.task.container.image = "busybox:2"
    new.spec_version.index = svc.spec_version.index + 1
    _tiny_monitor(new.spec.update)
    _tiny_monitor(new.spec.rollback)
    new.previous_spec.update.CopyFrom(new.spec.update)
    new.previous_spec.rollback.CopyFrom(new.spec.rollback)
    return new


async def setup(st: MemStore, replicas: int, cfg: Callable[[Service], None]) -> Service:
    old = service(replicas=replicas, version=1)
    new = updated(old)
    cfg(new)
    new.previous_spec.update.CopyFrom(new.spec.update)
    new.previous_spec.rollback.CopyFrom(new.spec.rollback)
    await st.apply([typed.create(node("n1")), typed.create(new)]
                   + [typed.create(task(f"t{i}", slot=i, node="n1", svc=old, version=1))
                      for i in range(1, replicas + 1)])
    return new


async def stop(sup: UpdateSupervisor, *runs: asyncio.Task[Any]) -> None:
    sup.stop()
    for r in runs:
        r.cancel()
    await asyncio.wait(runs)


def live(st: MemStore) -> list[Task]:
    return [t for t in Reader(st).list(Task) if t.desired_state <= RUNNING]


def test_failure_action_continue_completes_despite_a_failing_task(clock: FakeClock) -> None:
    async def main() -> None:
        st = MemStore()

        def cfg(s: Service) -> None:
            s.spec.update.failure_action = UpdateConfig.CONTINUE
            s.spec.update.parallelism = 1
        await setup(st, 2, cfg)
        sup = UpdateSupervisor(st, clock)
        runs = [asyncio.create_task(agent(st, failing_image="busybox:2")), asyncio.create_task(sup.run())]
        await until(st, lambda: status_of(st).state == UpdateStatus.COMPLETED, "completed",
                    tick=lambda: clock.advance(0.001))
        assert status_of(st).message == "update completed"
        news = live(st)
        assert sorted(t.slot for t in news) == [1, 2]
        assert all(t.spec.container.image == "busybox:2" and t.status.state == FAILED for t in news)
        await stop(sup, *runs)

    asyncio.run(main())


def test_failure_action_rollback_rolls_back_to_the_previous_spec(clock: FakeClock) -> None:
    async def main() -> None:
        st = MemStore()

        def cfg(s: Service) -> None:
            s.spec.update.failure_action = UpdateConfig.ROLLBACK
            s.spec.update.parallelism = 1
        await setup(st, 2, cfg)
        sub = st.subscribe()
        sup = UpdateSupervisor(st, clock)
        runs = [asyncio.create_task(agent(st, failing_image="busybox:2")), asyncio.create_task(sup.run())]
        await until(st, lambda: status_of(st).state == UpdateStatus.ROLLBACK_COMPLETED, "rollback completed",
                    tick=lambda: clock.advance(0.001))
        states: list[tuple[int, str]] = []
        while (item := sub.poll()) is not None:
            assert isinstance(item, Commit)
            for ev in item.events:
                if ev.table == "services":
                    new, _ = decode_event(ev)
                    states.append((new.update_status.state, new.update_status.message))
        sub.close()
        started = [m for s, m in states if s == UpdateStatus.ROLLBACK_STARTED]
        assert started and started[0].startswith("update rolled back due to failure or early termination")
        svc = Reader(st).get(Service, "svc")
        assert svc is not None
        assert svc.spec.task.container.image == "busybox"
        assert svc.spec_version.index == 1
        assert not svc.HasField("previous_spec")
        news = live(st)
        assert sorted(t.slot for t in news) == [1, 2]
        assert all(t.spec.container.image == "busybox" and t.status.state == RUNNING for t in news)
        await stop(sup, *runs)

    asyncio.run(main())


def test_start_first_runs_the_new_task_before_the_old_one_is_shut_down(clock: FakeClock) -> None:
    async def main() -> None:
        st = MemStore()

        def cfg(s: Service) -> None:
            s.spec.update.order = UpdateConfig.START_FIRST
        await setup(st, 1, cfg)
        sub = st.subscribe()
        sup = UpdateSupervisor(st, clock)
        runs = [asyncio.create_task(agent(st)), asyncio.create_task(sup.run())]
        await until(st, lambda: status_of(st).state == UpdateStatus.COMPLETED, "completed",
                    tick=lambda: clock.advance(0.001))
        seen: list[tuple[str, int]] = []   # (task id, desired state) at each change of desired state
        last: dict[str, int] = {}
        while (item := sub.poll()) is not None:
            assert isinstance(item, Commit)
            for ev in item.events:
                if ev.table != "tasks" or ev.kind == "delete":
                    continue
                t, _ = decode_event(ev)
                if last.get(t.id) != t.desired_state:
                    last[t.id] = t.desired_state
                    seen.append((t.id, t.desired_state))
        sub.close()
        new_id = next(t.id for t in Reader(st).list(Task) if t.id != "t1")
        assert seen.index((new_id, RUNNING)) < seen.index(("t1", SHUTDOWN))
        await stop(sup, *runs)

    asyncio.run(main())


def test_parallelism_two_waits_for_the_delay_between_batches(clock: FakeClock) -> None:
    async def main() -> None:
        st = MemStore()

        def cfg(s: Service) -> None:
            s.spec.update.parallelism = 2
            s.spec.update.delay.FromSeconds(10)
        await setup(st, 4, cfg)
        sup = UpdateSupervisor(st, clock)
        runs = [asyncio.create_task(agent(st)), asyncio.create_task(sup.run())]

        def new_tasks() -> list[Task]:
            return [t for t in Reader(st).list(Task) if t.spec.container.image == "busybox:2"]

        def first_batch_sleeping() -> bool:
            return len(clock.sleepers) == 2 and all(t.status.state == RUNNING for t in new_tasks())
        await until(st, first_batch_sleeping, "the first batch running, both workers in the delay")
        assert sorted(t.slot for t in new_tasks()) == [1, 2]
        for _ in range(50):   # nothing more happens while the fake clock stands still
            await _real_sleep(0)
        assert len(new_tasks()) == 2
        clock.advance(9)
        for _ in range(50):
            await _real_sleep(0)
        assert len(new_tasks()) == 2
        clock.advance(1)
        await until(st, lambda: len(new_tasks()) == 4 and len(clock.sleepers) == 2
                    and all(t.status.state == RUNNING for t in new_tasks()), "the second batch")
        assert sorted(t.slot for t in new_tasks()) == [1, 2, 3, 4]
        assert status_of(st).state == UpdateStatus.UPDATING
        await until(st, lambda: status_of(st).state == UpdateStatus.COMPLETED, "completed",
                    tick=lambda: clock.advance(1))
        await stop(sup, *runs)

    asyncio.run(main())


def test_a_new_updater_resumes_without_redoing_an_updated_slot(clock: FakeClock) -> None:
    async def main() -> None:
        st = MemStore()

        def cfg(s: Service) -> None:
            s.spec.update.parallelism = 1
            s.spec.update.delay.FromSeconds(10)
        await setup(st, 3, cfg)
        ag = asyncio.create_task(agent(st))
        sup = UpdateSupervisor(st, clock)
        run = asyncio.create_task(sup.run())

        def new_tasks() -> list[Task]:
            return [t for t in Reader(st).list(Task) if t.spec.container.image == "busybox:2"]

        await until(st, lambda: len(clock.sleepers) == 1 and len(new_tasks()) == 1
                    and new_tasks()[0].status.state == RUNNING, "slot 1 updated, the worker in the delay")
        first = new_tasks()[0]
        assert first.slot == 1
        await stop(sup, run)
        assert status_of(st).state == UpdateStatus.UPDATING

        sup2 = UpdateSupervisor(st, clock)
        run2 = asyncio.create_task(sup2.run())
        await until(st, lambda: status_of(st).state == UpdateStatus.COMPLETED, "completed",
                    tick=lambda: clock.advance(1))
        assert [t.id for t in Reader(st).list(Task) if t.slot == 1 and t.id != "t1"] == [first.id]
        news = new_tasks()
        assert sorted(t.slot for t in news) == [1, 2, 3]
        assert all(t.status.state == RUNNING for t in news)
        assert all(t.desired_state == SHUTDOWN for t in Reader(st).list(Task) if t.id in ("t1", "t2", "t3"))
        await stop(sup2, run2, ag)

    asyncio.run(main())
