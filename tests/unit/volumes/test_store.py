"""The local volume driver: names, create on first use, references, rm refused in use, prune."""

from __future__ import annotations

import contextlib
import json
import threading

import pytest

from node.runtime.errors import InvalidConfigError
from node.runtime.mounts import Mount, VolumeOptions, VolumeProvider, runtime_entries
from node.volumes import (
    ANONYMOUS_LABEL,
    InvalidVolumeError,
    NoSuchVolumeError,
    VolumeInUseError,
    VolumeStore,
)


@pytest.fixture
def vs(tmp_path):
    return VolumeStore(tmp_path / "volumes")


def test_is_a_runtime_volume_provider(vs):
    provider: VolumeProvider = vs            # checked by mypy too
    assert provider.acquire("data", "c1", VolumeOptions()).name == "data"


def test_create_inspect_list(vs, tmp_path):
    v = vs.create("data", labels={"team": "a"})
    assert v.name == "data" and v.labels == {"team": "a"} and not v.anonymous
    assert v.mountpoint == str(tmp_path / "volumes/data/_data")
    d = vs.get("data").to_docker()
    assert d["Driver"] == "local" and d["Scope"] == "local" and d["Name"] == "data"
    assert d["Mountpoint"] == v.mountpoint and d["Labels"] == {"team": "a"} and d["Options"] == {}
    assert d["CreatedAt"].endswith("Z")
    assert vs.create("data", labels={"other": "x"}).labels == {"team": "a"}   # existing: returned
    vs.create("logs")
    assert [x.name for x in vs.list()] == ["data", "logs"]
    assert [x.name for x in vs.list(labels=["team=a"])] == ["data"]
    assert [x.name for x in vs.list(labels=["team=b"])] == []
    assert [x.name for x in vs.list(name="og")] == ["logs"]


def test_unnamed_create_gets_a_random_name(vs):
    v = vs.create()
    assert len(v.name) == 64 and not v.anonymous


@pytest.mark.parametrize(("name", "msg"), [
    ("a", "create a: volume name is too short, names should be at least two alphanumeric characters"),
    ("a/b", 'create a/b: "a/b" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use '
            "absolute path"),
    ("..", None), (".hidden", None), ("-x", None),
])
def test_names_docker_refuses(vs, name, msg):
    with pytest.raises(InvalidVolumeError) as e:
        vs.create(name)
    if msg:
        assert str(e.value) == msg
    assert vs.list() == []


def test_other_drivers_and_options_refused(vs):
    with pytest.raises(InvalidVolumeError, match='plugin "nfs" not found'):
        vs.create("x1", driver="nfs")
    with pytest.raises(InvalidVolumeError, match='invalid option: "foo"'):
        vs.create("x1", options={"foo": "1"})
    with pytest.raises(InvalidVolumeError, match="not supported yet"):
        vs.acquire("x1", "c1", VolumeOptions(driver_options={"device": "/dev/sda"}))
    assert vs.list() == []


def test_missing_volume_messages(vs):
    with pytest.raises(NoSuchVolumeError, match=r"^get nope: no such volume$"):
        vs.get("nope")
    with pytest.raises(NoSuchVolumeError, match=r"^get nope: no such volume$"):
        vs.remove("nope")
    vs.remove("nope", force=True)


def test_acquire_creates_on_first_use_and_rm_is_refused_while_used(vs):
    a = vs.acquire("data", "c1", VolumeOptions(labels={"k": "v"}))
    assert a.populate and a.path == vs.get("data").mountpoint and vs.get("data").labels == {"k": "v"}
    assert not vs.acquire("data", "c2", VolumeOptions(nocopy=True)).populate
    assert vs.users("data") == ["c1", "c2"]
    assert vs.list(dangling=False)[0].name == "data" and vs.list(dangling=True) == []
    with pytest.raises(VolumeInUseError) as e:
        vs.remove("data")
    assert str(e.value) == "remove data: volume is in use - [c1, c2]"
    with pytest.raises(VolumeInUseError):
        vs.remove("data", force=True)
    vs.release("c1")
    with pytest.raises(VolumeInUseError, match=r"in use - \[c2\]$"):
        vs.remove("data")
    vs.release("c2")
    vs.release("c2")                      # twice is fine
    vs.remove("data")
    assert vs.list() == []


def test_references_survive_a_new_store_on_the_same_root(tmp_path):
    VolumeStore(tmp_path / "v").acquire("data", "c1", VolumeOptions())
    again = VolumeStore(tmp_path / "v")   # the daemon restarted; the container still runs
    with pytest.raises(VolumeInUseError):
        again.remove("data")


def test_anonymous_volume_goes_with_its_container(vs):
    a = vs.acquire("", "c1", VolumeOptions(labels={"x": "1"}))
    v = vs.get(a.name)
    assert v.anonymous and len(a.name) == 64 and v.labels == {"x": "1", ANONYMOUS_LABEL: ""}
    named = vs.acquire("keep", "c1", VolumeOptions())
    vs.release("c1")
    assert [x.name for x in vs.list()] == [named.name]


def test_prune_anonymous_only_unless_all(vs, tmp_path):
    anon = vs.acquire("", "c1", VolumeOptions()).name
    vs.release("c1")                      # removed with its container already
    anon2 = vs.create("", labels={ANONYMOUS_LABEL: ""}).name
    assert vs.get(anon2).anonymous        # the label is what makes it one (Docker)
    # an anonymous volume left behind (e.g. its container vanished without a release)
    left = vs.acquire("", "gone", VolumeOptions()).name
    (tmp_path / "volumes" / left / "refs" / "gone").unlink()
    (tmp_path / "volumes" / left / "_data" / "f").write_bytes(b"x" * 1000)
    vs.create("named")
    used = vs.acquire("used", "c9", VolumeOptions()).name
    r = vs.prune()
    assert sorted(r.deleted) == sorted([left, anon2]) and r.space_reclaimed == 1000
    assert anon not in [v.name for v in vs.list()]
    r = vs.prune(all=True)
    assert r.deleted == ["named"]
    assert [v.name for v in vs.list()] == [used]


def test_concurrent_acquire_and_remove_never_lose_a_reference(vs):
    """rm either wins before an acquire (which then makes the volume again) or is refused:
    no container is ever left with a reference to a deleted volume."""
    vs.create("data")
    threads = [threading.Thread(target=vs.acquire, args=("data", f"c{i}", VolumeOptions()))
               for i in range(16)]
    for t in threads:
        t.start()
    with contextlib.suppress(VolumeInUseError):
        vs.remove("data")
    for t in threads:
        t.join()
    assert len(vs.users("data")) == 16 and vs.get("data").name == "data"


def test_half_made_volumes_are_swept(tmp_path):
    root = tmp_path / "v"
    VolumeStore(root).create("data")
    (root / ".tmp-abc").mkdir()
    (root / ".trash-def").mkdir()
    VolumeStore(root)
    assert sorted(p.name for p in root.iterdir()) == [".lock", "data"]
    assert json.loads((root / "data/volume.json").read_text())["name"] == "data"


def test_runtime_entries_acquire_through_the_store(vs):
    entries = runtime_entries([Mount(target="/a", type="volume", source="vv"),
                               Mount(target="/b", type="volume", source="vv")], vs, "c1")
    assert [e["source"] for e in entries] == [vs.get("vv").mountpoint] * 2
    assert vs.users("vv") == ["c1"]
    with pytest.raises(InvalidConfigError, match=r"^create v: volume name is too short"):
        runtime_entries([Mount(target="/a", type="volume", source="v")], vs, "c1")


def test_forget_others_drops_references_of_vanished_containers(vs):
    vs.acquire("data", "alive", VolumeOptions())
    vs.acquire("data", "gone", VolumeOptions())
    anon = vs.acquire("", "gone", VolumeOptions()).name
    assert sorted(vs.forget_others(["alive"])) == sorted([("data", "gone"), (anon, "gone")])
    assert vs.users("data") == ["alive"] and [v.name for v in vs.list()] == ["data"]
