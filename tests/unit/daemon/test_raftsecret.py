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


def test_open_raft_links_are_rechecked_when_a_manager_is_demoted_or_a_cert_revoked() -> None:
    from swarm.api.objects_pb2 import Node, RevokedCertificate
    from swarm.api.types_pb2 import MANAGER, WORKER

    async def main() -> None:
        st = MemStore()
        n = Node(id="m2")
        n.spec.desired_role = MANAGER
        await st.apply([typed.create(Cluster(id="c", raft_secret=b"s")), typed.create(n)])
        f = SecretFollower(st, b"s", lambda _s: None)
        assert f.peers_changed() is False          # first look: nothing to compare with
        assert f.peers_changed() is False
        n = Reader(st).get(Node, "m2")
        assert n is not None
        n.spec.desired_role = WORKER
        await st.apply([typed.update(n)])
        assert f.peers_changed() is True
        cl = Reader(st).cluster()
        assert cl is not None
        cl.revoked_certificates.append(RevokedCertificate(serial="ab", node_id="m2"))
        await st.apply([typed.update(cl)])
        assert f.peers_changed() is True
        assert f.peers_changed() is False

    asyncio.run(main())


def test_the_raft_gate_follows_members_and_joining_managers() -> None:
    from swarm.api.objects_pb2 import ManagerStatus, Node
    from swarm.api.types_pb2 import MANAGER, WORKER

    async def main() -> None:
        st = MemStore()
        st.members = lambda: ["10.0.0.1:2378"]  # type: ignore[attr-defined]
        m2 = Node(id="m2")
        m2.spec.desired_role = MANAGER
        m2.manager_status.CopyFrom(ManagerStatus(raft_addr="10.0.0.2:2378"))
        joining = Node(id="m3")
        joining.spec.desired_role = MANAGER
        joining.status.addr = "10.0.0.3"
        worker = Node(id="w1")
        worker.spec.desired_role = WORKER
        worker.status.addr = "10.0.0.9"
        await st.apply([typed.create(Cluster(id="c", raft_secret=b"s")), typed.create(m2),
                        typed.create(joining), typed.create(worker)])
        gated: list[frozenset[str]] = []
        f = SecretFollower(st, b"s", lambda _s: None, gate=lambda h: gated.append(h) or True,
                           initial_members=("10.0.0.4:2378",))
        assert f.raft_hosts() == {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}

    asyncio.run(main())
