"""Secret and config delivery in the assignments stream (swarm.dispatcher.dependencies):
only to the node with a task that needs them, before that task, removed when no task needs them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Config, NodeDescription, Secret, Task
from swarm.api.types_pb2 import ASSIGNED, COMPLETE, FAILED, REMOVE, RUNNING, SHUTDOWN
from swarm.ca.sealing import SecretsKey
from swarm.dispatcher.dependencies import DependencyTracker, needs_dependencies
from swarm.dispatcher.dispatcher import Dispatcher
from swarm.store import typed
from swarm.store.types import StoredObject
from tests.unit.orchestrator.factories import node, task
from tests.unit.orchestrator.memstore import MemStore

KEY = SecretsKey.generate()
VALUE = b"pa55w0rd-never-logged"


class _Deps:
    """The "secrets" and "configs" tables (until the store has them: overlaid on MemStore)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredObject] = {}

    def put(self, table: str, msg: Any) -> None:
        self.rows[(table, msg.id)] = StoredObject(msg.id, 1, msg.SerializeToString())


class _View:
    def __init__(self, view: Any, deps: _Deps) -> None:
        self.view, self.deps = view, deps

    def get(self, table: str, oid: str) -> Any:
        if table in ("secrets", "configs"):
            return self.deps.rows.get((table, oid))
        return self.view.get(table, oid)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.view, name)


class DepStore(MemStore):
    def __init__(self) -> None:
        super().__init__()
        self.deps = _Deps()

    def get(self, table: str, oid: str) -> Any:
        if table in ("secrets", "configs"):
            return self.deps.rows.get((table, oid))
        return super().get(table, oid)

    def view(self) -> Any:
        return _View(super().view(), self.deps)


def secret(sid: str, key: SecretsKey = KEY, value: bytes = VALUE) -> Secret:
    s = Secret(id=sid, sealed=key.seal(sid, value))
    s.spec.annotations.name = f"name-{sid}"
    return s


def config(cid: str, value: bytes = b"cfg") -> Config:
    c = Config(id=cid)
    c.spec.annotations.name = f"name-{cid}"
    c.spec.data = value
    return c


def using(tid: str, node_id: str, secrets: tuple[str, ...] = (), configs: tuple[str, ...] = (),
          state: int = RUNNING, desired: int = RUNNING) -> Task:
    t = task(tid, node=node_id, state=state, desired=desired)
    for s in secrets:
        t.spec.container.secrets.add(secret_id=s, secret_name=f"name-{s}").file.name = f"name-{s}"
    for c in configs:
        t.spec.container.configs.add(config_id=c, config_name=f"name-{c}").file.name = f"/name-{c}"
    return t


def items(msg: d.AssignmentsMessage) -> list[tuple[str, str, str]]:
    """(action, kind, id) of the task, secret and config items, in message order."""
    out = []
    for c in msg.changes:
        kind = c.assignment.WhichOneof("item")
        if kind not in ("task", "secret", "config"):
            continue            # network items (peers, routes) are not ours here
        act = "REMOVE" if c.action == d.AssignmentChange.REMOVE else "UPDATE"
        out.append((act, str(kind), getattr(c.assignment, str(kind)).id))
    return out


def deps_of(msg: d.AssignmentsMessage) -> set[tuple[str, str, str]]:
    return {i for i in items(msg) if i[1] in ("secret", "config")}


Body = Callable[[DepStore, Dispatcher], Awaitable[None]]


def run(body: Body, key: SecretsKey | None = KEY) -> None:
    async def main() -> None:
        st = DepStore()
        st.deps.put("secrets", secret("s1"))
        st.deps.put("secrets", secret("s2"))
        st.deps.put("configs", config("c1"))
        await st.apply([typed.create(node("n1")), typed.create(node("n2"))])
        await asyncio.wait_for(body(st, Dispatcher(st, secrets_key=key)), 10)

    asyncio.run(main())


async def stream(disp: Dispatcher, node_id: str) -> Any:
    s = await disp.register(node_id, NodeDescription(), "10.0.0.9")
    return disp.assignments(node_id, s.session_id)


async def update(st: DepStore, t: Task) -> None:
    cur = typed.Reader(st).get(Task, t.id)
    assert cur is not None
    t.meta.version.index = cur.meta.version.index
    await st.apply([typed.update(t)])


def test_complete_set_carries_unsealed_secret_and_config_before_the_task_and_only_to_its_node() -> None:
    async def body(st: DepStore, disp: Dispatcher) -> None:
        await st.apply([typed.create(using("t1", "n1", ("s1",), ("c1",)))])
        n1, n2 = await stream(disp, "n1"), await stream(disp, "n2")
        m1 = await anext(n1)
        assert items(m1) == [("UPDATE", "config", "c1"), ("UPDATE", "secret", "s1"), ("UPDATE", "task", "t1")]
        s = m1.changes[1].assignment.secret
        assert s.spec.data == VALUE and s.sealed == b"" and s.spec.annotations.name == "name-s1"
        assert m1.changes[0].assignment.config.spec.data == b"cfg"
        assert items(await anext(n2)) == []
        await n1.aclose()
        await n2.aclose()

    run(body)


def test_a_new_task_brings_its_secret_in_the_same_message_before_it_once() -> None:
    async def body(st: DepStore, disp: Dispatcher) -> None:
        n1, n2 = await stream(disp, "n1"), await stream(disp, "n2")
        await anext(n1)
        await anext(n2)
        await st.apply([typed.create(using("t1", "n1", ("s1",)))])
        assert items(await anext(n1)) == [("UPDATE", "secret", "s1"), ("UPDATE", "task", "t1")]
        await st.apply([typed.create(using("t2", "n1", ("s1", "s2")))])
        assert items(await anext(n1)) == [("UPDATE", "secret", "s2"), ("UPDATE", "task", "t2")]
        # n2 has no such task: a task of its own without secrets brings nothing else
        await st.apply([typed.create(using("t3", "n2"))])
        assert items(await anext(n2)) == [("UPDATE", "task", "t3")]
        await n1.aclose()
        await n2.aclose()

    run(body)


def test_removed_only_when_the_last_task_needing_it_ends() -> None:
    async def body(st: DepStore, disp: Dispatcher) -> None:
        await st.apply([typed.create(using("t1", "n1", ("s1",), ("c1",))),
                        typed.create(using("t2", "n1", ("s1",)))])
        n1 = await stream(disp, "n1")
        assert deps_of(await anext(n1)) == {("UPDATE", "secret", "s1"), ("UPDATE", "config", "c1")}
        await update(st, using("t1", "n1", ("s1",), ("c1",), state=FAILED))      # terminal
        m = await anext(n1)
        assert items(m) == [("UPDATE", "task", "t1"), ("REMOVE", "config", "c1")]
        removed = m.changes[1].assignment.config
        assert removed == Config(id="c1")                       # the id only
        await update(st, using("t2", "n1", ("s1",), desired=SHUTDOWN))        # e.g. service rm
        m = await anext(n1)
        assert items(m) == [("UPDATE", "task", "t2"), ("REMOVE", "secret", "s1")]
        assert m.changes[1].assignment.secret == Secret(id="s1")
        await n1.aclose()

    run(body)


def test_a_deleted_task_releases_its_secret() -> None:
    async def body(st: DepStore, disp: Dispatcher) -> None:
        await st.apply([typed.create(using("t1", "n1", ("s1",)))])
        n1 = await stream(disp, "n1")
        await anext(n1)
        await st.apply([typed.delete(table="tasks", id="t1")])
        assert items(await anext(n1)) == [("REMOVE", "task", "t1"), ("REMOVE", "secret", "s1")]
        await n1.aclose()

    run(body)


def test_reconnect_complete_set_holds_exactly_the_needed_ones() -> None:
    async def body(st: DepStore, disp: Dispatcher) -> None:
        await st.apply([typed.create(using("t1", "n1", ("s1",))),
                        typed.create(using("t2", "n1", ("s2",), ("c1",))),
                        typed.create(using("t3", "n2", ("s2",)))])
        n1 = await stream(disp, "n1")
        await anext(n1)
        await update(st, using("t2", "n1", ("s2",), ("c1",), state=COMPLETE, desired=SHUTDOWN))
        await anext(n1)
        await n1.aclose()
        again = await stream(disp, "n1")
        assert deps_of(await anext(again)) == {("UPDATE", "secret", "s1")}
        await again.aclose()

    run(body)


def test_a_secret_that_does_not_open_is_skipped_and_logged_by_id_only(
        caplog: pytest.LogCaptureFixture) -> None:
    async def body(st: DepStore, disp: Dispatcher) -> None:
        st.deps.put("secrets", secret("bad", key=SecretsKey.generate()))        # another key
        await st.apply([typed.create(using("t1", "n1", ("bad", "s1", "gone"), ("c1", "nocfg")))])
        n1 = await stream(disp, "n1")
        assert deps_of(await anext(n1)) == {("UPDATE", "secret", "s1"), ("UPDATE", "config", "c1")}
        text = caplog.text
        assert "secret bad" in text and "gone" in text and "nocfg" in text
        assert VALUE.decode() not in text
        # not retried (nor logged again) on every later commit
        caplog.clear()
        await st.apply([typed.create(using("t2", "n1", ("bad",)))])
        assert items(await anext(n1)) == [("UPDATE", "task", "t2")]
        assert "bad" not in caplog.text
        await n1.aclose()

    with caplog.at_level(logging.INFO, logger="swarm.dispatcher"):
        run(body)


def test_without_a_secrets_key_secrets_are_not_delivered_configs_are(
        caplog: pytest.LogCaptureFixture) -> None:
    async def body(st: DepStore, disp: Dispatcher) -> None:
        await st.apply([typed.create(using("t1", "n1", ("s1",), ("c1",)))])
        n1 = await stream(disp, "n1")
        assert deps_of(await anext(n1)) == {("UPDATE", "config", "c1")}
        assert "secret s1 not delivered: this manager has no secrets key" in caplog.text
        await n1.aclose()

    with caplog.at_level(logging.INFO, logger="swarm.dispatcher"):
        run(body, key=None)


@pytest.mark.parametrize(("state", "desired", "needs"), [
    (ASSIGNED, RUNNING, True), (RUNNING, RUNNING, True), (RUNNING, SHUTDOWN, False),
    (FAILED, RUNNING, False), (COMPLETE, RUNNING, False), (ASSIGNED, REMOVE, False),
])
def test_needs_dependencies_rule(state: int, desired: int, needs: bool) -> None:
    assert needs_dependencies(using("t", "n", ("s",), state=state, desired=desired)) is needs


def test_tracker_forget_and_reset() -> None:
    st = DepStore()
    st.deps.put("secrets", secret("s1"))
    tr = DependencyTracker("n1", KEY)
    tr.task(using("t1", "n1", ("s1",)))
    up, rm = tr.changes(st)
    assert [c.assignment.secret.id for c in up] == ["s1"] and rm == []
    assert tr.changes(st) == ([], [])
    tr.forget("t1")
    up, rm = tr.changes(st)
    assert up == [] and [c.assignment.secret.id for c in rm] == ["s1"]
    tr.task(using("t1", "n1", ("s1",)))
    tr.changes(st)
    tr.reset()
    assert tr.sent == set() and tr.needed() == set()


def test_the_stream_feeds_a_worker_whose_task_gets_the_file_and_loses_the_value_after(
        tmp_path: Any) -> None:
    """Dispatcher -> Worker (fake executor: files mapped, not created): the wire contract."""
    from node.agent.worker import Worker
    from node.exec.fake import FakeExecutor
    from tests.unit.agent.helpers import eventually

    async def body(st: DepStore, disp: Dispatcher) -> None:
        x = FakeExecutor()
        w = Worker(tmp_path, x, lambda tid, status: None, retry_delay=0.01)
        await w.start()
        n1 = await stream(disp, "n1")
        await w.assign(await anext(n1))
        t = using("t1", "n1", ("s1",), ("c1",), state=ASSIGNED)
        t.spec.container.image = "busybox"
        await st.apply([typed.create(t)])
        await w.assign(await anext(n1))
        await eventually(lambda: "t1" in x.containers, what="the task's container")
        assert {(f.target, f.data) for f in x.containers["t1"].files} == {
            ("/run/secrets/name-s1", VALUE), ("/name-c1", b"cfg")}
        assert (w.dependencies.held_secrets(), w.dependencies.held_configs()) == (["s1"], ["c1"])
        await update(st, using("t1", "n1", ("s1",), ("c1",), state=RUNNING, desired=SHUTDOWN))
        await w.assign(await anext(n1))
        assert (w.dependencies.held_secrets(), w.dependencies.held_configs()) == ([], [])
        await w.stop()
        await n1.aclose()

    run(body)
