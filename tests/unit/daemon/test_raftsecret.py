"""The phases of a Raft secret rotation as each manager follows them (swarm.daemon.raftsecret)."""

from __future__ import annotations

import asyncio

from swarm.api.objects_pb2 import Cluster
from swarm.daemon import raftsecret
from swarm.daemon.raftsecret import SecretFollower
from swarm.store import typed
from swarm.store.typed import Reader
from tests.unit.orchestrator.memstore import MemStore


def test_phases_keep_every_link_working_and_end_with_only_the_new_secret(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(raftsecret, "PHASE_DELAY", 0.0)

    async def main() -> None:
        st = MemStore()
        await st.apply([typed.create(Cluster(id="c", raft_secret=b"old"))])
        saved: list[bytes] = []
        f = SecretFollower(st, b"old", saved.append)
        assert f.wanted(0.0) == (b"old", (b"old",))
        # phase 1: accept both, send old
        cl = Reader(st).cluster()
        assert cl is not None
        cl.raft_secret_next = b"new"
        await st.apply([typed.update(cl)])
        assert f.wanted(1.0) == (b"old", (b"old", b"new"))
        # phase 2: send new, still accept old for the grace period
        cl = Reader(st).cluster()
        assert cl is not None
        cl.raft_secret, cl.raft_secret_next = b"new", b""
        await st.apply([typed.update(cl)])
        assert f.wanted(2.0) == (b"new", (b"new", b"old"))
        assert saved == [b"new"]
        # phase 3: only the new one
        assert f.wanted(2.0 + raftsecret.GRACE + 1) == (b"new", (b"new",))

    asyncio.run(main())


def test_a_stale_replica_does_not_roll_the_secret_back() -> None:
    async def main() -> None:
        st = MemStore()
        await st.apply([typed.create(Cluster(id="c", raft_secret=b"older"))])   # journal is behind
        saved: list[bytes] = []
        f = SecretFollower(st, b"current", saved.append)     # refreshed from the leader at start
        send, _accept = f.wanted(0.0)
        assert send == b"current" and saved == []
        cl = Reader(st).cluster()
        assert cl is not None
        cl.raft_secret = b"current"                           # the replica catches up
        await st.apply([typed.update(cl)])
        assert f.wanted(1.0)[0] == b"current" and saved == []

    asyncio.run(main())


def test_the_leader_writes_both_phases() -> None:
    async def main() -> None:
        st = MemStore()
        await st.apply([typed.create(Cluster(id="c", raft_secret=b"old"))])
        raftsecret.PHASE_DELAY, before = 0.0, raftsecret.PHASE_DELAY
        try:
            await raftsecret.rotate(st)
        finally:
            raftsecret.PHASE_DELAY = before
        cl = Reader(st).cluster()
        assert cl is not None
        assert cl.raft_secret not in (b"", b"old") and cl.raft_secret_next == b""
        assert cl.raft_secret_generation == 1

    asyncio.run(main())
