"""Jobs with every leader component on a real single-member Raft store (the rig of
test_orchestrator: fake agents run assigned tasks; the test reports their ends). A replicated job
survives a new leadership term mid-run, a failed task is retried in its slot, and no more than
MaxConcurrent tasks are ever alive."""

from __future__ import annotations

from pathlib import Path

from swarm.api.objects_pb2 import Service, Task
from swarm.api.types_pb2 import COMPLETE, FAILED, RUNNING
from swarm.ca.ids import new_id
from swarm.store import typed
from tests.integration.test_orchestrator import Rig, run, summary, three_nodes


async def create_job(rig: Rig, name: str, *, total: int, concurrent: int, global_job: bool = False) -> str:
    s = Service(id=new_id())
    s.spec.annotations.name = name
    s.spec.task.container.image = "busybox"
    s.spec.task.restart.delay.FromNanoseconds(200_000_000)
    if global_job:
        s.spec.global_job.SetInParent()
    else:
        s.spec.replicated_job.total_completions = total
        s.spec.replicated_job.max_concurrent = concurrent
    s.spec_version.index = 1
    s.job_status.job_iteration.SetInParent()
    await rig.store.apply([typed.create(s)])
    return s.id


def alive(rig: Rig, sid: str) -> list[Task]:
    return [t for t in rig.tasks(sid) if t.desired_state <= COMPLETE and t.status.state < COMPLETE]


def running(rig: Rig, sid: str) -> list[Task]:
    return [t for t in rig.tasks(sid) if t.status.state == RUNNING and t.desired_state == COMPLETE]


def test_replicated_job_across_a_new_term_with_a_retry(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await create_job(rig, "job", total=5, concurrent=2)
        show = lambda: summary(rig, sid)  # noqa: E731
        peak = 0
        failed_once = False
        for step in range(12):
            got = await rig.wait("a running job task", lambda: running(rig, sid)
                                 or len([t for t in rig.tasks(sid) if t.status.state == COMPLETE]) == 5,
                                 show=show)
            peak = max(peak, len(alive(rig, sid)))
            if not isinstance(got, list):
                break
            t = got[0]
            if step == 1 and not failed_once:
                failed_once = True
                await rig.report(t.id, FAILED, err="exit 1", exit_code=1)
                continue
            if step == 3:
                # a leadership term ends and a new one starts: rebuilt from the store
                await rig.stop_components()
                await rig.report(t.id, COMPLETE, exit_code=0)
                rig.start_components()
                continue
            await rig.report(t.id, COMPLETE, exit_code=0)
        tasks = rig.tasks(sid)
        done = [t for t in tasks if t.status.state == COMPLETE]
        assert sorted(t.slot for t in done) == [1, 2, 3, 4, 5], show()
        failed = [t for t in tasks if t.status.state == FAILED]
        assert len(failed) == 1 and len(tasks) == 6, show()      # one retry, in the failed task's slot
        assert failed[0].slot in {t.slot for t in done}
        assert 1 <= peak <= 2, (peak, show())
    run(tmp_path, body)


def test_global_job_once_per_node(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await create_job(rig, "g", total=0, concurrent=0, global_job=True)
        show = lambda: summary(rig, sid)  # noqa: E731
        got = await rig.wait("3 running", lambda: len(running(rig, sid)) == 3 and running(rig, sid),
                             show=show)
        assert sorted(t.node_id for t in got) == ["n1", "n2", "n3"]
        for t in got:
            await rig.report(t.id, COMPLETE, exit_code=0)
        await rig.add_node("n4")
        (late,) = await rig.wait("a task on the new node", lambda: running(rig, sid), show=show)
        assert late.node_id == "n4"
        await rig.report(late.id, COMPLETE, exit_code=0)
        await rig.wait("4 complete", lambda: len(rig.tasks(sid)) == 4
                       and all(t.status.state == COMPLETE for t in rig.tasks(sid)), show=show)
    run(tmp_path, body)
