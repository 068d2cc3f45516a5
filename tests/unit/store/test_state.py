# mypy: disable-error-code="union-attr"
"""The replicated apply as a pure function: conflicts, atomicity, unique keys, indexes, totality."""

from __future__ import annotations

import pickle
import random
import threading

import pytest

from swarm.store.errors import InvalidArgumentError
from swarm.store.state import StoreState
from swarm.store.types import Action


def w(*actions: Action) -> list[tuple]:
    return [a.to_wire() for a in actions]


def apply(st: StoreState, *actions: Action, pid: str | None = None) -> tuple:
    apply.n += 1  # type: ignore[attr-defined]
    return st.apply_batch(pid or f"p{apply.n}", w(*actions))  # type: ignore[attr-defined]


apply.n = 0  # type: ignore[attr-defined]


def svc(oid: str, name: str, data: bytes = b"spec") -> Action:
    return Action.create("services", oid, data, unique={"name": name})


def task(oid: str, service: str, node: str = "", data: bytes = b"t") -> Action:
    idx = {"service_id": service} | ({"node_id": node} if node else {})
    return Action.create("tasks", oid, data, indexes=idx)


def test_batch_bumps_index_once_and_stamps_every_object() -> None:
    st = StoreState()
    assert apply(st, svc("s1", "web"), task("t1", "s1"), task("t2", "s1")) == ("ok", 1)
    assert [st.get("tasks", t).version for t in ("t1", "t2")] == [1, 1]
    assert st.get("services", "s1").version == 1
    assert apply(st, Action.update("tasks", "t1", b"x", expected_version=1)) == ("ok", 2)
    assert st.get("tasks", "t1").version == 2 and st.get("tasks", "t2").version == 1
    assert st.index == 2


def test_stale_version_is_a_conflict_and_nothing_applies() -> None:
    st = StoreState()
    apply(st, svc("s1", "web"), task("t1", "s1"))
    apply(st, Action.update("tasks", "t1", b"v2", expected_version=1))
    res = apply(st, Action.update("tasks", "t1", b"v3", expected_version=2),   # fine
                Action.update("services", "s1", b"new", expected_version=0))   # stale
    assert res[0] == "error" and res[1] == "conflict"
    assert "update out of sequence" in res[2]
    assert res[3:] == ("services", "s1", 1)
    assert st.get("tasks", "t1").data == b"v2" and st.index == 2


@pytest.mark.parametrize("actions,kind", [
    ([svc("s1", "other")], "exists"),
    ([Action.update("services", "nope", b"", expected_version=None)], "not_found"),
    ([Action.delete("services", "nope")], "not_found"),
    ([svc("s2", "web")], "name_conflict"),
    ([Action("create", "services", "s3", b"", 5)], "conflict"),
])
def test_error_kinds(actions: list[Action], kind: str) -> None:
    st = StoreState()
    apply(st, svc("s1", "web"))
    res = apply(st, *actions)
    assert res[:2] == ("error", kind), res
    assert st.index == 1


def test_unique_keys_follow_renames_deletes_and_batches() -> None:
    st = StoreState()
    apply(st, svc("s1", "web"))
    # rename frees the old name
    apply(st, Action.update("services", "s1", b"", expected_version=None, unique={"name": "api"}))
    assert st.find_unique("services", "name", "web") is None
    assert st.find_unique("services", "name", "api").id == "s1"
    assert apply(st, svc("s2", "web"))[0] == "ok"
    # swap names inside one batch is fine (s1 releases 'api' before s2 claims it)
    res = apply(st, Action.update("services", "s1", b"", expected_version=None, unique={"name": "tmp"}),
                Action.update("services", "s2", b"", expected_version=None, unique={"name": "api"}),
                Action.update("services", "s1", b"", expected_version=None, unique={"name": "web"}))
    assert res[0] == "ok", res
    assert st.find_unique("services", "name", "web").id == "s1"
    assert st.find_unique("services", "name", "api").id == "s2"
    # two creates claiming the same name in one batch: conflict, neither applied
    res = apply(st, svc("s3", "db"), svc("s4", "db"))
    assert res[1] == "name_conflict" and st.get("services", "s3") is None
    # delete frees the name
    apply(st, Action.delete("services", "s2"))
    assert apply(st, svc("s5", "api"))[0] == "ok"


def test_secondary_indexes() -> None:
    st = StoreState()
    apply(st, task("t1", "s1", "n1"), task("t2", "s1", "n2"), task("t3", "s2", "n1"))
    assert [o.id for o in st.find("tasks", "service_id", "s1")] == ["t1", "t2"]
    assert [o.id for o in st.find("tasks", "node_id", "n1")] == ["t1", "t3"]
    apply(st, Action.update("tasks", "t1", b"", expected_version=None,
                            indexes={"service_id": "s1", "node_id": "n2"}))
    assert [o.id for o in st.find("tasks", "node_id", "n1")] == ["t3"]
    assert sorted(o.id for o in st.find("tasks", "node_id", "n2")) == ["t1", "t2"]
    apply(st, Action.delete("tasks", "t3"))
    assert st.find("tasks", "node_id", "n1") == [] and st.find("tasks", "nope", "x") == []


def test_create_then_update_in_same_batch_and_events() -> None:
    events = []
    st = StoreState(on_commit=lambda i, ev: events.append((i, ev)))
    apply(st, svc("s1", "web", b"a"))
    apply(st, Action.update("services", "s1", b"b", expected_version=1), Action.delete("services", "s1"),
          svc("s1", "web", b"c"))
    idx, ev = events[-1]
    assert idx == 2
    assert [(e.kind, e.data, e.old_data, e.version) for e in ev] == [
        ("update", b"b", b"a", 2), ("delete", b"", b"b", 2), ("create", b"c", None, 2)]


def test_duplicate_proposal_applies_once() -> None:
    st = StoreState()
    assert apply(st, task("t1", "s"), pid="same") == ("ok", 1)
    assert apply(st, task("t1", "s"), pid="same") == ("ok", 1)   # not "exists"
    assert st.index == 1


def test_empty_batch_is_a_barrier() -> None:
    st = StoreState()
    apply(st, task("t1", "s"))
    assert st.apply_batch("b", []) == ("ok", 1) and st.index == 1


class Hostile:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    def __hash__(self) -> int:
        raise RuntimeError("boom")


class HostileKey(str):
    """A str subclass whose hashing blows up (a dict holding it can be built first)."""

    armed = False

    def __hash__(self) -> int:
        if HostileKey.armed:
            raise RuntimeError("boom")
        return str.__hash__(self)


GARBAGE: list[object] = [None, 1, "x", b"x", [None], [()], [("create",)], [object()], [Hostile()],
           [("create", "services", "s", None, b"", {}, {}, "extra")],
           [("create", "nope", "s", None, b"", {}, {})],
           [("create", "services", "", None, b"", {}, {})],
           [("create", "services", "s", True, b"", {}, {})],
           [("create", "services", "s", -1, b"", {}, {})],
           [("create", "services", "s", None, "str", {}, {})],
           [("create", "services", "s", None, b"", {"a": 1}, {})],
           [("create", "services", "s", None, b"", [], {})],
           [("create", "services", "s", None, b"", {}, {HostileKey("k"): "x"})],
           [(Hostile(), "services", "s", None, b"", {}, {})],
           [("upsert", "services", "s", None, b"", {}, {})]]


@pytest.mark.parametrize("actions", GARBAGE)
def test_apply_never_raises_on_garbage(actions: object) -> None:
    st = StoreState()
    apply(st, svc("s0", "web"))
    before = pickle.dumps(st.snapshot_data())
    HostileKey.armed = True
    try:
        res = st.apply_batch("g", actions)
    finally:
        HostileKey.armed = False
    assert res[0] == "error" and res[1] == "invalid", res
    assert pickle.dumps(st.snapshot_data()) == before


def test_apply_never_raises_fuzz() -> None:
    rnd = random.Random(7)
    st = StoreState()
    atoms: list[object] = [None, 0, 1, -1, True, "", "x", "services", "tasks", "nope", "create",
                           "update", "delete", b"", b"d", {}, {"a": "b"}, {"": "b"}, [], (), 1.5]
    for _ in range(3000):
        act = tuple(rnd.choice(atoms) for _ in range(rnd.choice([6, 7, 7, 7, 8])))
        res = st.apply_batch(rnd.choice(["p", None, 3]), [act] if rnd.random() < 0.9 else act)
        assert isinstance(res, tuple) and res[0] in ("ok", "error")


def test_action_validates_on_the_client_side() -> None:
    with pytest.raises(InvalidArgumentError):
        Action.create("nope", "x", b"")
    with pytest.raises(InvalidArgumentError):
        Action.create("services", "x", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        Action("upsert", "services", "x")


def test_snapshot_roundtrip_is_primitive_and_deterministic() -> None:
    a, b = StoreState(), StoreState()
    for st in (a, b):
        apply.n = 100  # type: ignore[attr-defined]
        apply(st, svc("s1", "web"), task("t1", "s1", "n1"))
        apply(st, Action.update("services", "s1", b"2", expected_version=1, unique={"name": "api"}))
    blob = pickle.dumps(a.snapshot_data())
    assert blob == pickle.dumps(b.snapshot_data())
    assert b"swarm" not in blob   # no class of ours in the snapshot
    resets = []
    c = StoreState(on_reset=lambda: resets.append(1))
    c.restore(pickle.loads(blob))
    assert resets == [1] and c.index == a.index
    assert c.find_unique("services", "name", "api").id == "s1"
    assert [o.id for o in c.find("tasks", "node_id", "n1")] == ["t1"]
    assert apply(c, svc("s2", "api"))[1] == "name_conflict"


def test_view_is_frozen_at_its_index() -> None:
    st = StoreState()
    apply(st, svc("s1", "web"), task("t1", "s1", "n1"))
    v = st.view()
    apply(st, Action.update("services", "s1", b"new", expected_version=None, unique={"name": "api"}),
          Action.delete("tasks", "t1"), task("t2", "s1", "n1"))
    assert v.index == 1 and st.index == 2
    assert v.get("services", "s1").data == b"spec"
    assert v.find_unique("services", "name", "web").id == "s1"
    assert [o.id for o in v.find("tasks", "node_id", "n1")] == ["t1"]
    assert [o.id for o in st.find("tasks", "node_id", "n1")] == ["t2"]
    v2 = st.view()
    assert v2.count("tasks") == 1 and v.count("tasks") == 1 and v2.get("tasks", "t2")


def test_view_consistent_under_concurrent_writes() -> None:
    """Every batch writes the same counter into both objects; a view must never see them differ."""
    st = StoreState()
    apply(st, Action.create("nodes", "a", b"0"), Action.create("nodes", "b", b"0"))
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 20000:
            i += 1
            d = str(i).encode()
            st.apply_batch(f"w{i}", w(Action.update("nodes", "a", d, expected_version=None),
                                      Action.update("nodes", "b", d, expected_version=None)))
    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(2000):
            v = st.view()
            a, b = v.get("nodes", "a"), v.get("nodes", "b")
            assert a.data == b.data and a.version == b.version == v.index
    finally:
        stop.set()
        t.join()
