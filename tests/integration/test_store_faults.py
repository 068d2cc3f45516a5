"""Three store members as processes: the faults the campaign (tests/chaos) injects, one at a time,
and pysyncobj's known failure modes F1 (see test_store_cluster.py), F3 and F6 (raft-notes §8)."""

from __future__ import annotations

import signal
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm.store import recovery
from tests.integration.test_store_cluster import converge, create, on_leader, write
from tests.support.store_harness import Cluster, RemoteError

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def _compact(c: Cluster, members: list[int]) -> None:
    before = {i: c.members[i].call("status")["log_len"] for i in members}
    for i in members:
        c.members[i].call("compact")
    deadline = time.monotonic() + 30
    while not all((c.members[i].data_dir / "raft.dump").exists()
                  and c.members[i].call("status")["log_len"] < before[i] for i in members):
        assert time.monotonic() < deadline, "log compaction did not happen"
        time.sleep(0.1)


def test_follower_with_a_torn_journal_rejoins(cluster: Cluster) -> None:
    c = cluster
    L = c.leader()
    idx = write(c.members[L], 200, "a")
    converge(c, [0, 1, 2], idx)
    F = (L + 1) % 3
    c.members[F].kill(signal.SIGKILL)
    journal = c.members[F].data_dir / "raft.journal"
    data = journal.read_bytes()
    end = struct.unpack_from("<I", data, recovery.LAST_RECORD_OFFSET_OFFSET)[0]
    with journal.open("r+b") as f:
        f.truncate(end - 5)
    idx = write(c.members[L], 20, "b")
    c.members[F].start()
    got = converge(c, [0, 1, 2], idx)
    assert got["objects"] == 220
    assert c.members[F].alive()
    assert "dropped the" in c.members[F].log_path.read_text()


def test_follower_with_a_corrupt_snapshot_rejoins_from_the_leaders(cluster: Cluster) -> None:
    """Before: pysyncobj logged "failed to load full dump" and went on with an empty state and a
    journal starting after the compaction point (F1 on one node): it never applied again."""
    c = cluster
    L = c.leader()
    idx = write(c.members[L], 300, "c", batch=20)
    converge(c, [0, 1, 2], idx)
    _compact(c, [0, 1, 2])
    idx = write(c.members[L], 30, "d")
    expect = converge(c, [0, 1, 2], idx)
    F = (L + 1) % 3
    c.members[F].kill(signal.SIGKILL)
    dump = c.members[F].data_dir / "raft.dump"
    raw = bytearray(dump.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    dump.write_bytes(bytes(raw))
    c.members[F].start()
    assert converge(c, [0, 1, 2], idx) == expect            # the leader's snapshot + log
    assert list(c.members[F].data_dir.glob("raft.dump.corrupt-*"))
    assert "moved aside" in c.members[F].log_path.read_text()
    idx = c.members[F].call("apply", actions=[create("from-recovered")])   # and it takes part
    converge(c, [0, 1, 2], idx)


POISON = [None, "junk", [("create",)], [("bogus-op", "tasks", "x", b"", None, {}, {})],
          [("create", "no-such-table", "x", b"", None, {}, {})], [("create", "tasks", 5, 5, "v", [], 3)]]


@pytest.mark.parametrize("poison", POISON)
def test_f3_a_command_that_cannot_apply_does_not_wedge_the_cluster(cluster: Cluster, poison: object) -> None:
    """F3: pysyncobj re-applies an entry whose method raised, on every tick, forever. Ours is
    refused inside the state machine, on every member, and the cluster goes on."""
    c = cluster
    L = c.leader()
    term = c.members[L].call("status")["term"]
    res = c.members[L].call("poison", actions=poison)
    assert res is not None and res[1] == 0 and res[0][0] != "ok", res   # committed, answered, refused
    idx = write(c.members[(L + 1) % 3], 20, "after")
    converge(c, [0, 1, 2], idx)
    assert c.members[c.leader()].call("status")["term"] == term        # no election storm


def test_f6_a_new_member_counts_every_voter(cluster: Cluster) -> None:
    """F6: a member started knowing only its seed computes a majority of 2 of 2 and could commit
    alone with it. Added through the leader and started with the full list, the fourth member
    needs 3 of 4: with two of the others down it commits nothing."""
    c = cluster
    L = c.leader()
    idx = write(c.members[L], 10, "m")
    new = c.add()
    members = on_leader(c, "add_member", addr=new.addr)
    assert len(members) == 4
    new.start()
    converge(c, [0, 1, 2, 3], idx)
    assert len(new.call("status")["members"]) == 4
    others = [i for i in range(3)]
    for i in others[:2]:
        c.members[i].kill(signal.SIGKILL)
    with pytest.raises(RemoteError) as ei:
        for _ in range(50):                      # a few attempts while the links notice
            new.call("apply", actions=[create("alone")], timeout=10)
            time.sleep(0.1)
    assert ei.value.kind in ("NoLeaderError", "UnknownOutcomeError"), ei.value


def test_a_full_disk_never_corrupts_the_store(tmp_path: Path) -> None:
    """One member's data directory on a 4 MiB tmpfs, filled; 3000 writes go on through another
    member. The full member may stop (pysyncobj's journal is an mmap: a page it cannot get is a
    SIGBUS, seen here when it leads) or fall behind; once space is freed and it is started again it
    holds exactly what the others hold."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs")
    c = Cluster(tmp_path)
    full = c.members[1]
    full.data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "store-enospc", str(full.data_dir)], check=True)
    try:
        c.start()
        L = c.leader()
        idx = write(c.members[L], 100, "a")
        converge(c, [0, 1, 2], idx)
        subprocess.run(["dd", "if=/dev/zero", f"of={full.data_dir / 'fill'}", "bs=4k"],
                       capture_output=True)
        assert shutil.disk_usage(full.data_dir).free < 8192
        writer = next(m for i, m in enumerate(c.members) if i != 1 and m.alive())
        idx, attempt = 0, 0
        deadline = time.monotonic() + 60
        while not idx:                                  # the full member may have been the leader
            attempt += 1
            try:
                idx = write(writer, 3000, f"b{attempt}-", batch=20)
            except RemoteError:
                assert time.monotonic() < deadline
                writer = c.members[c.leader(among=[0, 2])]
        (full.data_dir / "fill").unlink()
        if not full.alive():
            full.start()
        got = converge(c, [0, 1, 2], idx, timeout=60)   # the same digest on all three
        assert got["objects"] >= 3100
    finally:
        c.stop()
        subprocess.run(["umount", "-l", str(full.data_dir)], capture_output=True)
