# mypy: disable-error-code="union-attr"
"""The thread-based snapshot writer: consistent at the freeze point, async status, stale discard."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pysyncobj.config import SERIALIZER_STATE

from swarm.store.snapshot import SnapshotWriter, read_snapshot
from swarm.store.state import StoreState
from swarm.store.types import Action

RAFT = (("entry", 5, 1), ("entry", 4, 1), {"127.0.0.1:1"})


def fill(st: StoreState, n: int, prefix: str = "t") -> None:
    for i in range(0, n, 500):
        st.apply_batch(f"{prefix}{i}", [Action.create("tasks", f"{prefix}{j}", b"x" * 100,
                                                      indexes={"service_id": "s"}).to_wire()
                                        for j in range(i, min(i + 500, n))])


def wait_done(w: SnapshotWriter) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        s = w.check()
        if s != SERIALIZER_STATE.SERIALIZING:
            return s
        time.sleep(0.005)
    raise AssertionError("snapshot writer did not finish")


def test_snapshot_is_the_state_at_serialize_time(tmp_path: Path) -> None:
    st = StoreState()
    fill(st, 5000)
    w = SnapshotWriter(st, tmp_path / "raft.dump")
    assert w.check() == SERIALIZER_STATE.NOT_SERIALIZING
    w.serialize(str(tmp_path / "raft.dump.tmp"), RAFT)
    at = st.index
    fill(st, 1000, prefix="late")                 # writes while the thread is writing
    assert wait_done(w) == SERIALIZER_STATE.SUCCESS
    assert w.check() == SERIALIZER_STATE.NOT_SERIALIZING   # SUCCESS is reported once
    assert not (tmp_path / "raft.dump.tmp").exists()
    raft, data = read_snapshot(tmp_path / "raft.dump")
    assert raft == RAFT and data["index"] == at
    assert len(data["tables"]["tasks"]) == 5000
    restored = StoreState()
    restored.restore(data)
    assert restored.index == at and len(restored.find("tasks", "service_id", "s")) == 5000


def test_deserialize_restores_and_discards_an_older_snapshot_in_flight(tmp_path: Path) -> None:
    src = StoreState()
    fill(src, 200, prefix="new")
    w_src = SnapshotWriter(src, tmp_path / "leader.dump")
    w_src.serialize("unused", RAFT)
    assert wait_done(w_src) == SERIALIZER_STATE.SUCCESS

    st = StoreState()
    fill(st, 2000, prefix="old")
    w = SnapshotWriter(st, tmp_path / "raft.dump")
    w.before_rename = threading.Event()               # hold the writer just before its rename
    w.serialize("unused", RAFT)
    (tmp_path / "raft.dump").write_bytes((tmp_path / "leader.dump").read_bytes())  # "installed"
    assert w.deserialize(str(tmp_path / "raft.dump")) == RAFT
    assert st.get("tasks", "new0") is not None and st.get("tasks", "old0") is None
    w.before_rename.set()
    assert wait_done(w) == SERIALIZER_STATE.FAILED   # discarded, not renamed
    # the dump on disk must still be the installed (newer) one
    _, data = read_snapshot(tmp_path / "raft.dump")
    assert "new0" in data["tables"]["tasks"] and "old0" not in data["tables"]["tasks"]


def test_failed_write_reports_failed(tmp_path: Path) -> None:
    st = StoreState()
    fill(st, 10)
    w = SnapshotWriter(st, tmp_path / "missing-dir" / "raft.dump")
    w.serialize("unused", RAFT)
    assert wait_done(w) == SERIALIZER_STATE.FAILED and w.last_error
