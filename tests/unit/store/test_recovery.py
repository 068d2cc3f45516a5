"""swarm.store.recovery: the Raft files pysyncobj would trust, checked and repaired before it opens them."""

from __future__ import annotations

import errno
import logging
import pickle
import struct
from pathlib import Path

import pytest
from pysyncobj.journal import FileJournal

from swarm.store import Store, recovery
from swarm.store.snapshot import MAGIC
from tests.support.store_harness import free_port

J, D = "raft.journal", "raft.dump"


def make_journal(d: Path, n: int = 5) -> Path:
    path = d / J
    j = FileJournal(str(path))
    for i in range(1, n + 1):
        j.add(pickle.dumps(("cmd", i)), i, 1)
    j.setRaftCommitIndex(n)
    j.setCurrentTerm(3, "10.0.0.1:2378")       # meta written at once
    j.onOneSecondTimer()
    j._destroy()
    return path


def last_offset(path: Path) -> int:
    return struct.unpack_from("<I", path.read_bytes(), recovery.LAST_RECORD_OFFSET_OFFSET)[0]


def test_intact_journal_is_left_alone(tmp_path):
    path = make_journal(tmp_path)
    before = path.read_bytes()
    assert recovery.prepare(tmp_path, 3, J, D) == []
    assert path.read_bytes() == before
    assert len(FileJournal(str(path))) == 5


def test_torn_last_record_is_cut_off(tmp_path):
    path = make_journal(tmp_path, 60)             # > 1 KiB: pysyncobj maps the file as it is
    end = last_offset(path)
    with path.open("r+b") as f:
        f.truncate(end - 7)                      # the last record's tail never reached the disk
    try:                                         # what pysyncobj makes of it without the repair:
        last = FileJournal(str(path))[-1]        # a short command it will fail to apply, every tick
        damaged = last[0] != pickle.dumps(("cmd", 60))
    except struct.error:                         # or a crash at every start
        damaged = True
    assert damaged
    done = recovery.prepare(tmp_path, 3, J, D)
    assert len(done) == 1 and "runs past the end" in done[0] and "leader sends those entries" in done[0]
    j = FileJournal(str(path))
    assert [e[1] for e in j] == list(range(1, 60))   # the torn entry is dropped, the rest kept
    assert j[-1][0] == pickle.dumps(("cmd", 59))
    j.add(b"next", 60, 2)                            # and the journal is usable again
    j._destroy()
    assert [e[1] for e in FileJournal(str(path))] == list(range(1, 61))


def test_record_with_mismatched_lengths_is_dropped_with_what_follows(tmp_path):
    path = make_journal(tmp_path)
    data = bytearray(path.read_bytes())
    first = recovery.FIRST_RECORD_OFFSET
    size = struct.unpack_from("<I", data, first)[0]
    second = first + size + 8
    size2 = struct.unpack_from("<I", data, second)[0]
    struct.pack_into("<I", data, second + 4 + size2, size2 + 1)   # trailing length of record 2
    path.write_bytes(bytes(data))
    done = recovery.prepare(tmp_path, 3, J, D)
    assert "two lengths differ" in done[0]
    assert [e[1] for e in FileJournal(str(path))] == [1]


def snapshot_file(d: Path) -> Path:
    import gzip

    path = d / D
    with gzip.open(path, "wb") as g:
        header = {"magic": MAGIC, "format": 1, "index": 7, "recent": [], "raft": (None, None, None, [])}
        pickle.dump(header, g)
        pickle.dump(("rows", "services", [("s1", (1, b"x", {}, {}))]), g)
        pickle.dump(("end",), g)
    return path


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_snapshot_is_set_aside_with_its_journal_and_the_commit_index_reset(tmp_path):
    jpath = make_journal(tmp_path)
    dump = snapshot_file(tmp_path)
    flip(dump, dump.stat().st_size // 2)
    done = recovery.prepare(tmp_path, 3, J, D)
    assert len(done) == 1 and "is corrupt" in done[0] and "the leader sends a snapshot" in done[0]
    assert not dump.exists() and not jpath.exists()
    assert len(list(tmp_path.glob("raft.dump.corrupt-*"))) == 1
    assert len(list(tmp_path.glob("raft.journal.corrupt-*"))) == 1
    meta = pickle.loads((tmp_path / "raft.journal.meta").read_bytes())
    assert "raftCommitIndex" not in meta                         # the discarded log's commit index
    assert meta["currentTerm"] == 3 and meta["votedForNodeId"] == "10.0.0.1:2378"   # Raft's vote kept
    j = FileJournal(str(jpath))                                   # pysyncobj starts from nothing
    assert len(j) == 0 and j.getCurrentTerm() == 3 and j.getRaftCommitIndex() == 1


def test_intact_snapshot_is_kept(tmp_path):
    dump = snapshot_file(tmp_path)
    assert recovery.prepare(tmp_path, 3, J, D) == []
    assert dump.exists()


def test_alone_a_corrupt_snapshot_is_a_clear_error_not_an_empty_store(tmp_path):
    dump = snapshot_file(tmp_path)
    flip(dump, dump.stat().st_size - 6)          # in the gzip trailer: only its CRC notices
    with pytest.raises(recovery.CorruptRaftFilesError, match=r"raft.dump is corrupt .*the only one"):
        recovery.prepare(tmp_path, 1, J, D)
    assert dump.exists()                                          # nothing moved: it may be restored


def test_garbage_instead_of_a_journal(tmp_path):
    (tmp_path / J).write_bytes(b"\x00" * 100)
    done = recovery.prepare(tmp_path, 3, J, D)
    assert "not a pysyncobj journal" in done[0] and not (tmp_path / J).exists()


def test_store_start_repairs_a_torn_journal(tmp_path):
    """Through Store.start, on a real single member (voters=1: a torn tail needs no peer)."""
    import asyncio

    from swarm.store import Action

    addr = f"127.0.0.1:{free_port()}"

    async def run(write: bool) -> list[str]:
        st = Store(addr, [addr], tmp_path, "pw")
        st.start()
        try:
            await st.wait_ready(10)
            if write:
                for i in range(3):
                    await st.apply([Action.create("services", f"s{i}", b"x")])
            return [o.id for o in st.list("services")]
        finally:
            st.close()

    assert asyncio.run(run(True)) == ["s0", "s1", "s2"]
    path = tmp_path / J
    with path.open("r+b") as f:
        f.truncate(last_offset(path) - 3)
    got = asyncio.run(run(False))
    assert got in (["s0", "s1"], ["s0", "s1", "s2"])   # at most the torn entry is gone, never a crash


def test_a_full_disk_does_not_break_the_raft_tick(tmp_path, monkeypatch, caplog):
    """ENOSPC while saving the member list (an on-tick callback) used to raise inside every tick,
    so the member stopped taking part in Raft until space came back."""
    import asyncio

    addr = f"127.0.0.1:{free_port()}"
    st = Store(addr, [addr], tmp_path, "pw")

    def full(*a: object, **k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def run() -> None:
        st.start()
        try:
            await st.wait_ready(10)
            monkeypatch.setattr(st, "_written_members", None)
            monkeypatch.setattr(type(st), "_save_members", lambda self, node: full())
            with caplog.at_level(logging.WARNING, logger="swarm.store.store"):
                st._on_tick()
                st._on_tick()
            from swarm.store import Action
            await st.apply([Action.create("services", "after", b"x")], timeout=5)
        finally:
            st.close()

    asyncio.run(run())
    assert caplog.text.count("cannot save the member list") == 1 and "No space left" in caplog.text


def test_every_flipped_byte_of_a_snapshot_is_caught_or_harmless(tmp_path):
    """read_snapshot reads to the end of the gzip stream, so its CRC sees any change to the data
    (before, a flip could inflate and unpickle into other rows). Header bytes such as the gzip
    mtime may change nothing: then the content must be the same."""
    from swarm.store.snapshot import read_snapshot

    good = snapshot_file(tmp_path)
    want = read_snapshot(good)
    raw = good.read_bytes()
    bad = tmp_path / "bad.dump"
    for at in range(len(raw)):
        data = bytearray(raw)
        data[at] ^= 0x5A
        bad.write_bytes(bytes(data))
        try:
            got = read_snapshot(bad)
        except Exception:
            continue
        assert got == want, f"byte {at} changed the snapshot's content unnoticed"
