"""The node's secrets and configs: in memory only, COMPLETE/UPDATE/REMOVE, handed to the executor
(proof with the fake executor: it maps the files but creates none)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from node.agent.dependencies import DependencyStore
from node.agent.worker import Worker
from node.exec.fake import FakeExecutor
from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Config, Secret, Task
from swarm.api.types_pb2 import TaskState as S
from tests.unit.agent.helpers import Recorder, eventually, make_task, run

VALUE = b"s3cr3t-value-never-on-disk"


def sec(sid: str, data: bytes = VALUE) -> d.AssignmentChange:
    s = Secret(id=sid)
    s.spec.data = data
    return d.AssignmentChange(assignment=d.Assignment(secret=s))


def cfg(cid: str, data: bytes = b"cfg-data") -> d.AssignmentChange:
    c = Config(id=cid)
    c.spec.data = data
    return d.AssignmentChange(assignment=d.Assignment(config=c))


def gone(change: d.AssignmentChange) -> d.AssignmentChange:
    kind = change.assignment.WhichOneof("item")
    oid = getattr(change.assignment, str(kind)).id
    a = d.Assignment(secret=Secret(id=oid)) if kind == "secret" else d.Assignment(config=Config(id=oid))
    return d.AssignmentChange(assignment=a, action=d.AssignmentChange.REMOVE)


def task_change(t: Task) -> d.AssignmentChange:
    return d.AssignmentChange(assignment=d.Assignment(task=t))


def msg(*changes: d.AssignmentChange, complete: bool = False) -> d.AssignmentsMessage:
    return d.AssignmentsMessage(type=d.AssignmentsMessage.COMPLETE if complete else
                                d.AssignmentsMessage.INCREMENTAL, changes=list(changes))


def with_secret(tid: str, sid: str, target: str = "", uid: str = "", gid: str = "", mode: int = 0,
                env: tuple[str, ...] = ()) -> Task:
    t = make_task(tid, env=env)
    ref = t.spec.container.secrets.add(secret_id=sid, secret_name=f"name-{sid}")
    ref.file.name, ref.file.uid, ref.file.gid, ref.file.mode = target or f"name-{sid}", uid, gid, mode
    return t


def test_store_complete_replaces_update_upserts_remove_drops() -> None:
    st = DependencyStore()
    assert not st.complete and st.get("secret", "s1") is None
    st.apply(msg(sec("s1"), sec("s2"), cfg("c1"), complete=True))
    assert st.complete
    assert (st.held_secrets(), st.held_configs()) == (["s1", "s2"], ["c1"])
    assert st.get("secret", "s1") == VALUE and st.get("config", "c1") == b"cfg-data"
    st.apply(msg(sec("s3", b"other"), gone(sec("s1")), gone(cfg("c1"))))
    assert (st.held_secrets(), st.held_configs()) == (["s2", "s3"], [])
    assert st.get("secret", "s1") is None and st.get("secret", "s3") == b"other"
    st.apply(msg(gone(sec("nope"))))              # removing what is not held: nothing happens
    assert st.held_secrets() == ["s2", "s3"]
    st.apply(msg(cfg("c2"), complete=True))       # the whole truth: the rest goes
    assert (st.held_secrets(), st.held_configs()) == ([], ["c2"])
    assert VALUE.decode() not in repr(st)
    st.clear()
    assert not st.complete and st.held_configs() == []


def test_an_update_for_a_kind_never_touches_the_other() -> None:
    st = DependencyStore()
    st.apply(msg(sec("x"), cfg("x", b"c"), complete=True))
    st.apply(msg(gone(cfg("x"))))
    assert st.get("secret", "x") == VALUE and st.get("config", "x") is None
    assert st.get("volume", "x") is None


def test_worker_keeps_values_in_memory_only_and_hands_them_to_the_executor(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec, retry_delay=0.01)
        await w.start()
        t1 = with_secret("t1", "s1", uid="1000", gid="10", mode=0o400)
        await w.assign(msg(sec("s1"), task_change(t1), complete=True))
        await eventually(lambda: "t1" in w.managers and w.managers["t1"].status.state == S.RUNNING)
        assert w.dependencies.held_secrets() == ["s1"]
        [f] = x.containers["t1"].files
        assert (f.target, f.data, f.uid, f.gid, f.mode) == ("/run/secrets/name-s1", VALUE, 1000, 10, 0o400)
        # the network layer never sees secret items
        assert all(c.assignment.WhichOneof("item") not in ("secret", "config")
                   for m in x.network_updates for c in m.changes)
        await w.assign(msg(gone(sec("s1"))))
        assert w.dependencies.get("secret", "s1") is None and w.dependencies.held_secrets() == []
        await w.stop()

    with caplog.at_level(logging.DEBUG):
        run(main())
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files, "the task DB should have been written"
    for p in files:
        assert VALUE not in p.read_bytes(), p
    assert VALUE.decode() not in caplog.text


def test_a_task_whose_secret_the_node_does_not_hold_is_rejected(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec, retry_delay=0.01)
        await w.start()
        await w.assign(msg(task_change(with_secret("t1", "missing")), complete=True))
        await eventually(lambda: w.managers["t1"].status.state == S.REJECTED)
        assert w.managers["t1"].status.err == \
            "unable to get secret from secret store: secret missing not found"
        assert "t1" not in x.containers
        await w.stop()

    run(main())


def test_before_the_first_complete_set_a_missing_secret_is_retried_not_rejected(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec, retry_delay=0.01, max_temporary=1000)
        await w.start()
        await w.assign(msg(task_change(with_secret("t1", "s1"))))          # INCREMENTAL first
        await eventually(lambda: "not received from the manager yet" in w.managers["t1"].status.err)
        assert w.managers["t1"].status.state < S.REJECTED
        await w.assign(msg(sec("s1"), task_change(with_secret("t1", "s1")), complete=True))
        await eventually(lambda: w.managers["t1"].status.state == S.RUNNING)
        assert x.containers["t1"].files[0].data == VALUE
        await w.stop()

    run(main())


def test_fake_prints_what_a_task_got_when_asked(tmp_path: Path) -> None:
    async def main() -> None:
        x, rec = FakeExecutor(), Recorder()
        w = Worker(tmp_path, x, rec, retry_delay=0.01)
        await w.start()
        t = with_secret("t1", "s1", target="/etc/app.key", mode=0o440,
                        env=("FAKE_CAT=/etc/app.key,/nope", "FAKE_MOUNTS=1"))
        m = t.spec.container.mounts.add(target="/data", source="vol1")
        m.type = m.VOLUME
        await w.assign(msg(sec("s1", b"k"), task_change(t), complete=True))
        await eventually(lambda: w.managers["t1"].status.state == S.RUNNING)
        lines = [r.data.decode() async for r in x.logs("t1")]
        assert lines == ["mount volume vol1 /data rw\n", "/etc/app.key 0:0 0440 k\n", "/nope: no such file\n"]
        await w.stop()

    run(main())


def test_the_store_knows_which_are_templates_through_complete_update_and_remove() -> None:
    tpl = cfg("c1", b"{{.Service.Name}}")
    tpl.assignment.config.spec.templating.name = "golang"
    store = DependencyStore()
    store.apply(msg(tpl, sec("s1"), complete=True))
    assert store.templated("config", "c1") and not store.templated("secret", "s1")
    plain = cfg("c1", b"plain")                                   # an update that is no template
    store.apply(msg(plain))
    assert not store.templated("config", "c1")
    store.apply(msg(tpl))
    assert store.templated("config", "c1")
    store.apply(msg(gone(tpl)))
    assert not store.templated("config", "c1") and store.get("config", "c1") is None
    store.apply(msg(tpl))
    store.apply(msg(sec("s1"), complete=True))                    # a COMPLETE set without it
    assert not store.templated("config", "c1")
