"""Tasks through the control API's handlers: inspect by id, name or prefix; list filters."""

from __future__ import annotations

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import RUNNING, SHUTDOWN
from swarm.controlapi import services
from swarm.store import typed

from .conftest import Swarm
from .helpers import call, create, refused, service_spec, snapshot


def add_tasks(swarm: Swarm) -> tuple[str, str]:
    web = create(swarm.ctx, service_spec("web", replicas=2))
    db = create(swarm.ctx, service_spec("db"))
    rows = [("aaa1", web.id, 1, "n1", RUNNING, web.spec_version.index),
            ("aaa2", web.id, 2, "n2", RUNNING, web.spec_version.index),
            ("bbb1", web.id, 1, "n1", SHUTDOWN, web.spec_version.index + 99),   # out of date
            ("ccc1", db.id, 1, "n2", RUNNING, db.spec_version.index)]
    tasks = []
    for tid, sid, slot, nid, desired, version in rows:
        t = Task(id=tid, service_id=sid, slot=slot, node_id=nid, desired_state=desired)  # type: ignore[arg-type]
        t.annotations.name = f"{'web' if sid == web.id else 'db'}.{slot}.{tid}"
        t.spec_version.index = version
        tasks.append(t)
    call(lambda ctx, _: ctx.apply([typed.create(t) for t in tasks]), swarm.ctx, None)
    return web.id, db.id


def test_get_by_id_name_and_prefix(swarm: Swarm) -> None:
    add_tasks(swarm)
    for ref in ("aaa1", "web.1.aaa1", "cc"):
        got = call(services.get_task, swarm.ctx, c.GetTaskRequest(task_id=ref)).task
        assert got.id == ("ccc1" if ref == "cc" else "aaa1")
    refused(services.get_task, swarm.ctx, c.GetTaskRequest(task_id="aaa"),
            "INVALID_ARGUMENT", "multiple tasks found with provided prefix: aaa")
    refused(services.get_task, swarm.ctx, c.GetTaskRequest(task_id="zzz"),
            "NOT_FOUND", "no such task: zzz")


def test_list_filters(swarm: Swarm) -> None:
    web, db = add_tasks(swarm)
    before = snapshot(swarm.store)

    def ls(**kw: object) -> list[str]:
        req = c.ListTasksRequest(filters=c.ListTasksRequest.Filters(**kw))  # type: ignore[arg-type]
        return sorted(t.id for t in call(services.list_tasks, swarm.ctx, req).tasks)

    assert ls() == ["aaa1", "aaa2", "bbb1", "ccc1"]
    assert ls(service_ids=[web]) == ["aaa1", "aaa2", "bbb1"]
    assert ls(service_ids=[web, db]) == ["aaa1", "aaa2", "bbb1", "ccc1"]
    assert ls(node_ids=["n1"]) == ["aaa1", "bbb1"]
    assert ls(service_ids=[web], node_ids=["n2"]) == ["aaa2"]
    assert ls(id_prefixes=["aaa", "c"]) == ["aaa1", "aaa2", "ccc1"]
    assert ls(names=["web.1.bbb1"]) == ["bbb1"]
    assert ls(desired_states=[RUNNING]) == ["aaa1", "aaa2", "ccc1"]
    assert ls(service_ids=[web], up_to_date=True) == ["aaa1", "aaa2"]
    assert snapshot(swarm.store) == before
