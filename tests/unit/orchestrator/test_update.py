"""The rolling updater on the in-memory store with a fake clock: it follows the change stream."""

from __future__ import annotations

import asyncio

from swarm.api.objects_pb2 import Service, Task
from swarm.api.types_pb2 import FAILED, READY, RUNNING, SHUTDOWN, UpdateConfig, UpdateStatus
from swarm.orchestrator.update import PAUSED_MSG, UpdateSupervisor
from swarm.store import typed
from swarm.store.typed import Reader

from .factories import node, service, task
from .memstore import Clock, MemStore


async def _until(st: MemStore, ok: object, what: str) -> None:
    sub = st.subscribe()
    try:
        while not ok():  # type: ignore[operator]
            await asyncio.wait_for(sub.__anext__(), 10)
    finally:
        sub.close()


def test_a_failing_new_task_pauses_the_update() -> None:
    async def main() -> None:
        st, clock = MemStore(), Clock()
        old_svc = service(replicas=1, version=1)
        svc = service(replicas=1, version=2)
        svc.spec.task.container.image = "busybox:2"
        svc.spec.update.failure_action = UpdateConfig.PAUSE
        await st.apply([typed.create(node("n1")), typed.create(svc),
                        typed.create(task("t1", slot=1, node="n1", svc=old_svc, version=1))])
        sup = UpdateSupervisor(st, clock)
        run = asyncio.create_task(sup.run())
        new: list[Task] = []

        def created() -> bool:
            new[:] = [t for t in Reader(st).list(Task) if t.id != "t1"]
            return bool(new)

        await _until(st, created, "the new task")
        assert new[0].desired_state == READY
        old = Reader(st).get(Task, "t1")
        assert old is not None and old.desired_state == SHUTDOWN
        old.status.state = SHUTDOWN  # type: ignore[assignment]
        await st.apply([typed.update(old)])

        def promoted() -> bool:
            t = Reader(st).get(Task, new[0].id)
            return t is not None and t.desired_state == RUNNING

        await _until(st, promoted, "the new task promoted")
        t = Reader(st).get(Task, new[0].id)
        assert t is not None
        t.status.state = FAILED  # type: ignore[assignment]
        await st.apply([typed.update(t)])

        def paused() -> bool:
            s = Reader(st).get(Service, "svc")
            return s is not None and s.update_status.state == UpdateStatus.PAUSED

        await _until(st, paused, "paused")
        s = Reader(st).get(Service, "svc")
        assert s is not None and s.update_status.message == PAUSED_MSG.format(new[0].id)
        sup.stop()
        run.cancel()
        await asyncio.wait([run])

    asyncio.run(main())
