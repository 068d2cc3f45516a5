"""Three store members as separate processes on 127.0.0.1: replication, failover, restarts, F1,
quorum loss, membership. Timings are only generous liveness bounds; speed lives in bench/."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarm.store import Store
from tests.support.store_harness import Cluster, Member, RemoteError

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def create(oid: str, table: str = "tasks", data: bytes | None = None, **kw: object) -> tuple:
    return ("create", table, oid, data if data is not None else oid.encode(), None,
            kw.get("indexes") or {}, kw.get("unique") or {})


def knows_leader(m: Member, timeout: float = 30.0) -> None:
    """A follower forwards a write only once it knows the leader; until then it answers
    NoLeaderError (seen under load right after an election or a refused entry)."""
    deadline = time.monotonic() + timeout
    while m.call("status", timeout=5)["leader"] is None:
        assert time.monotonic() < deadline, f"member {m.addr} never learned the leader"
        time.sleep(0.05)


def write(m: Member, n: int, prefix: str, batch: int = 10) -> int:
    knows_leader(m)
    idx = 0
    for i in range(0, n, batch):
        idx = m.call("apply", actions=[create(f"{prefix}{j}", indexes={"service_id": prefix})
                                       for j in range(i, min(i + batch, n))])
    return idx


def converge(c: Cluster, members: list[int], min_index: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    digests: list[dict] = []
    while time.monotonic() < deadline:
        try:
            digests = [c.members[i].call("digest", timeout=5) for i in members]
        except Exception:
            time.sleep(0.1)
            continue
        if all(d == digests[0] for d in digests) and digests[0]["index"] >= min_index:
            return digests[0]
        time.sleep(0.05)
    raise AssertionError(f"members {members} did not converge to index >= {min_index}: {digests}")


def on_leader(c: Cluster, cmd: str, bound: float = 20.0, **kw: Any) -> Any:
    """Run a leader-only command on whoever leads now; a joining member may trigger an election."""
    deadline = time.monotonic() + bound
    while True:
        L = c.leader(timeout=bound)
        try:
            return c.members[L].call(cmd, **kw)
        except RemoteError as e:
            if e.kind not in ("NotLeaderError", "NoLeaderError") or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def first_write_after(m: Member, prefix: str, bound: float) -> float:
    """Seconds until ``m`` accepts a write, retrying; fails after ``bound``."""
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < bound:
        i += 1
        try:
            m.call("apply", actions=[create(f"{prefix}{i}")], timeout=10)
            return time.monotonic() - t0
        except RemoteError:
            time.sleep(0.02)
    raise AssertionError(f"no write accepted within {bound} s")


def test_replicate_failover_restart_one_and_all(cluster: Cluster) -> None:
    c = cluster
    L = c.leader()
    F = [i for i in range(3) if i != L]
    leader, follower = c.members[L], c.members[F[0]]
    # writes on the leader and forwarded from a follower replicate everywhere
    leader.call("apply", actions=[create("s1", "services", b"web-v1", unique={"name": "web"})])
    idx = write(follower, 200, "a")
    base = converge(c, [0, 1, 2], idx)
    assert base["objects"] == 201
    assert follower.call("find", table="tasks", index="service_id", key="a")[:2] == ["a0", "a1"]
    # stale version through a follower: "update out of sequence", nothing applied
    v = follower.call("get", table="services", id="s1")[1]
    follower.call("apply", actions=[("update", "services", "s1", b"web-v2", v, {}, {"name": "web"})])
    with pytest.raises(RemoteError, match="update out of sequence") as ei:
        follower.call("apply", actions=[("update", "services", "s1", b"web-v3", v, {}, {"name": "web"})])
    assert ei.value.kind == "ConflictError"
    assert leader.call("get", table="services", id="s1")[2] == b"web-v2"

    # SIGKILL the leader: a survivor accepts writes again within a generous bound
    leader.kill(signal.SIGKILL)
    took = first_write_after(follower, "after-kill", bound=15.0)
    assert took < 15.0
    idx = write(c.members[F[1]], 100, "b")
    converge(c, F, idx)

    # the killed member restarts alone (with the member list it saved) and catches up
    assert Store.saved_members(leader.data_dir) == sorted(c.addrs)
    leader.start()
    final = converge(c, [0, 1, 2], idx)
    assert final["objects"] == 201 + 100 + 1

    # kill -9 everything, restart at once: all state intact, writes work
    for m in c.members:
        m.kill(signal.SIGKILL)
    for m in c.members:
        m.start()
    L2 = c.leader(timeout=30)
    assert converge(c, [0, 1, 2], final["index"]) == final
    c.members[L2].call("apply", actions=[create("after-restart")])


def test_f1_compaction_snapshot_install_and_full_restart(cluster: Cluster) -> None:
    """Compaction drops the log prefix: a member that missed it must get the snapshot streamed
    (InstallSnapshot), and a full restart must rebuild from dump + journal (F1)."""
    c = cluster
    L = c.leader()
    idx = write(c.members[L], 600, "c", batch=20)
    converge(c, [0, 1, 2], idx)
    K = (L + 1) % 3
    c.members[K].kill(signal.SIGKILL)             # K misses everything from here on
    alive = [i for i in range(3) if i != K]
    idx = write(c.members[L], 100, "k", batch=20)
    before_len = {i: c.members[i].call("status")["log_len"] for i in alive}
    for i in alive:
        c.members[i].call("compact")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sts = {i: c.members[i].call("status") for i in alive}
        if all((c.members[i].data_dir / "raft.dump").exists() and sts[i]["log_len"] < before_len[i]
               for i in alive):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("log compaction did not happen")
    idx = write(c.members[c.leader()], 50, "d")   # entries after the snapshot, in the journal only
    expect = converge(c, alive, idx)
    c.members[K].start()                           # behind the leader's first log entry
    assert converge(c, [0, 1, 2], idx) == expect
    assert (c.members[K].data_dir / "raft.dump").exists()   # it received the leader's snapshot
    for m in c.members:
        m.kill(signal.SIGKILL)
    for m in c.members:
        m.start()
    c.leader(timeout=30)
    got = converge(c, [0, 1, 2], expect["index"])
    assert got == expect and got["objects"] == 750
    # the journal, the snapshot and the received snapshot hold no plain object (swarm.store.atrest)
    for m in c.members:
        for name in ("raft.journal", "raft.dump"):
            raw = (m.data_dir / name).read_bytes()
            assert b"c599" not in raw and b"k99" not in raw and b"d49" not in raw, (m.data_dir, name)
    assert (c.members[K].data_dir / "raft.dump").read_bytes().startswith(b"PYSWARM-SEALED-SNAPSHOT-1\n")


def test_no_quorum_fails_fast_with_no_leader(cluster: Cluster) -> None:
    c = cluster
    L = c.leader()
    c.members[L].call("apply", actions=[create("x")])
    survivor = (L + 1) % 3
    for i in range(3):
        if i != survivor:
            c.members[i].kill(signal.SIGKILL)
    time.sleep(0.5)
    t0 = time.monotonic()
    with pytest.raises(RemoteError) as ei:
        c.members[survivor].call("apply", actions=[create("y")], timeout=30)
    assert ei.value.kind == "NoLeaderError"
    assert "does not have a leader" in ei.value.message
    assert time.monotonic() - t0 < 8.0


def test_refuses_to_run_without_password(tmp_path: Path) -> None:
    from tests.support.store_harness import free_port
    addr = f"127.0.0.1:{free_port()}"
    m = Member(addr, [addr], tmp_path / "nopw", password="")
    m.start()
    assert m.proc is not None
    assert m.proc.wait(30) != 0
    assert "password" in m.log_path.read_text()


def test_add_then_remove_a_fourth_member(cluster: Cluster) -> None:
    c = cluster
    L = c.leader()
    idx = write(c.members[L], 100, "m")
    new = c.add()
    members = on_leader(c, "add_member", addr=new.addr)
    assert sorted(members) == sorted(c.addrs)
    new.start()                          # started with the full list, after the add committed
    got = converge(c, [0, 1, 2, 3], idx)
    assert got["objects"] == 100
    L = c.leader()
    for m in c.members:
        deadline = time.monotonic() + 20
        while m.call("members")["live"] != sorted(c.addrs):
            assert time.monotonic() < deadline, m.call("members")
            time.sleep(0.1)
    deadline = time.monotonic() + 20
    while c.members[c.leader()].call("members")["stored"] != sorted(c.addrs):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    idx = c.members[3].call("apply", actions=[create("from-new")])
    converge(c, [0, 1, 2, 3], idx)
    # quorum is now 3 of 4; remove the new member again
    remaining = on_leader(c, "remove_member", addr=new.addr)
    assert new.addr not in remaining and len(remaining) == 3
    new.kill()
    idx = c.members[0].call("apply", actions=[create("after-remove")])
    converge(c, [i for i in range(3)], idx)
    # a follower is not allowed to change membership
    L = c.leader()
    F = next(i for i in range(3) if i != L)
    with pytest.raises(RemoteError) as ei:
        c.members[F].call("add_member", addr="127.0.0.1:1")
    assert ei.value.kind == "NotLeaderError"
    # hand leadership to a chosen follower; it then accepts writes as leader
    assert c.members[L].call("transfer", to=c.addrs[F]) == c.addrs[F]
    assert c.leader(among=[F]) == F
    idx = c.members[F].call("apply", actions=[create("after-transfer")])
    converge(c, [0, 1, 2], idx)


def test_follower_subscription_survives_snapshot_install(cluster: Cluster) -> None:
    """A paused follower misses a compaction; on resume the leader streams the snapshot, the
    follower's state is replaced and its subscriber gets a Reset - its mirror stays exact."""
    c = cluster
    L = c.leader()
    F = (L + 1) % 3
    idx = write(c.members[L], 100, "p")
    converge(c, [0, 1, 2], idx)
    c.members[F].call("mirror_start")
    idx = write(c.members[L], 50, "q")
    converge(c, [0, 1, 2], idx)
    assert c.members[F].call("mirror_check")["match"]
    proc = c.members[F].proc
    assert proc is not None
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        others = [i for i in range(3) if i != F]
        idx = write(c.members[L], 200, "r")
        for i in others:
            c.members[i].call("compact")
        deadline = time.monotonic() + 30
        while not all((c.members[i].data_dir / "raft.dump").exists() for i in others):
            assert time.monotonic() < deadline, "no compaction"
            time.sleep(0.1)
        idx = write(c.members[L], 20, "s")
        # stay paused past connectionTimeout (3.5 s): the leader drops the connection and what it
        # had pushed into it, so on resume the follower is behind the leader's first log entry
        time.sleep(5.0)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    converge(c, [0, 1, 2], idx)
    check = c.members[F].call("mirror_check")
    assert check["match"] and check["errors"] == 0, check
    assert check["resets"] >= 1, check          # it was rebuilt from the installed snapshot
    assert check["objects"] == 370
