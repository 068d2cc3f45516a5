"""The Raft port under attack: 3 store members as processes on 127.0.0.1 with the TLS link
(swarm/store/raftlink.py), attacked with real sockets from this process.

Every attack test also runs against today's password-only transport to show that it fails there:

    RAFT_LINK_TARGET=plain pytest tests/integration/test_store_raft_link.py -k attack

makes the members run without TLS (stock pysyncobj transport) and the attack clients speak plain
TCP: every ``test_attack_*`` must then FAIL. ``test_password_only_port_unpickles_what_it_is_sent``
keeps the demonstration of the pickle attack itself (against a throwaway one-member store, with a
directory in tmp_path as its only effect). No timing asserts: waits are liveness bounds, timings are
in bench/store_bench.py (``--only attack``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarm.ca import RootCA
from tests.support.store_harness import (
    Cluster,
    MakeDir,
    Member,
    RemoteError,
    client_context,
    closed_by_peer,
    free_port,
    link_socket,
    raft_frame,
    stream_oversize,
)

pytestmark = pytest.mark.timeout(180)

TARGET = os.environ.get("RAFT_LINK_TARGET", "tls")
TLS = TARGET == "tls"
PASSWORD = "test-secret"          # harness.Member's default Raft password
MiB = 1 << 20


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, tls=TLS)
    c.start()
    try:
        c.leader()
        for m in c.members:                  # every member follows the leader and is connected
            m.call("wait_ready")
            assert wait_for(lambda m=m: all(m.call("status")["members"].values()), 20.0)
        yield c
    finally:
        c.stop()


def create(oid: str) -> tuple:
    return ("create", "tasks", oid, oid.encode(), None, {}, {})


def write_through_all(c: Cluster, prefix: str, members: list[int] | None = None) -> int:
    """One write through every member (followers forward to the leader); returns the last index."""
    idx = 0
    for i in members if members is not None else range(len(c.members)):
        idx = c.members[i].call("apply", actions=[create(f"{prefix}-{i}")], timeout=30)
    return idx


def converge(c: Cluster, members: list[int], min_index: int, bound: float = 30.0) -> dict:
    deadline = time.monotonic() + bound
    digests: list[dict] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            digests = [c.members[i].call("digest", timeout=5) for i in members]
            if all(d == digests[0] for d in digests) and digests[0]["index"] >= min_index:
                return digests[0]
        time.sleep(0.05)
    raise AssertionError(f"members {members} did not converge to index >= {min_index}: {digests}")


def stats(m: Member) -> dict:
    return m.call("link_stats") or {}


def attacker_ctx(c: Cluster, node_id: str = "attacker", role: str = "swarm-manager",
                 ca: Any = None) -> Any:
    """A TLS client context with a certificate, not verifying the server (attackers need not);
    None against the plain target: plain TCP."""
    if not TLS:
        return None
    return client_context(c.issue(node_id, role, ca), verify_server=False)


def send_and_wait_closed(addr: str, ctx: Any, data: bytes, wait: float = 15.0) -> bool:
    """Connect, send ``data``, and report whether the member closed the connection. A handshake
    that fails on our side already counts as closed (the peer refused us)."""
    try:
        sock = link_socket(addr, ctx)
    except ssl.SSLError:
        return True
    with sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        return closed_by_peer(sock, wait)


def wait_for(cond: Any, bound: float) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


# ----------------------------------------------------------------------------- the link works
@pytest.mark.skipif(not TLS, reason="TLS cluster only")
def test_tls_cluster_replicates_fails_over_and_rejoins(cluster: Cluster) -> None:
    c = cluster
    idx = write_through_all(c, "a")
    base = converge(c, [0, 1, 2], idx)
    assert base["objects"] == 3
    for m in c.members:
        st = m.call("status")
        assert all(st["members"].values()), st          # every peer connected, over TLS
    L = c.leader()
    c.members[L].kill(signal.SIGKILL)
    survivors = [i for i in range(3) if i != L]
    deadline = time.monotonic() + 20
    while True:
        try:
            idx = write_through_all(c, "b", survivors)
            break
        except RemoteError:
            assert time.monotonic() < deadline, "no write accepted after the leader died"
            time.sleep(0.1)
    c.members[L].start()                                 # reconnects (TLS both ways) and catches up
    got = converge(c, [0, 1, 2], idx)
    assert got["objects"] == 5
    refusals = {k: v for m in c.members for k, v in stats(m).items()
                if v and k not in ("closed_in_setup", "dial_timeout")}
    assert refusals == {}, refusals


# ----------------------------------------------------------------------------- (a) oversize frame
def test_attack_oversize_frame_is_cut_off_and_writes_go_on(cluster: Cluster) -> None:
    """Announce 2 GiB and stream zeros at the leader: (a0) without TLS, (a1) as the first frame
    after a TLS handshake with an accepted certificate, (a2) after a valid first frame (as a
    current manager with the password could). Each connection is closed before 32 MiB were
    accepted, the member's RSS does not grow by more than a few MiB, and writes keep committing."""
    c = cluster
    L = c.leader()
    leader = c.members[L]
    write_through_all(c, "warm")
    leader.call("probe_start", period=0.01, timeout=10.0)
    time.sleep(0.3)
    rss0 = leader.rss_kib()
    t_start = time.time()
    results = {}
    ctx = attacker_ctx(c)
    attacks: list[tuple[str, Any, bytes]] = [
        ("a0-plain-tcp", None, b""),
        ("a1-first-frame", ctx, b""),
        ("a2-after-key-exchange", ctx, raft_frame(os.urandom(32), PASSWORD)),
    ]
    for name, actx, preamble in attacks:
        with link_socket(leader.addr, actx) as s:
            if preamble:
                s.sendall(preamble)
                time.sleep(0.2)
            results[name] = stream_oversize(s, limit=128 * MiB, max_s=30)
    time.sleep(0.5)
    rss1 = leader.rss_kib()
    t_end = time.time()
    probe = leader.call("probe_stop")
    during = [(s, e, ok, err) for (s, e, ok, err) in probe if t_start <= s <= t_end]
    lat = sorted(e - s for (s, e, ok, _) in during if ok)
    print(f"\n{TARGET}: {results}\nRSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB; "
          f"{len(during)} probe writes during the attacks, {sum(not d[2] for d in during)} failed; "
          "latency p50/max "
          f"{lat[len(lat) // 2] * 1e3 if lat else 0:.1f}/{lat[-1] * 1e3 if lat else 0:.1f} ms")
    for name, r in results.items():
        assert r["closed"] and r["sent"] < 32 * MiB, (name, r)
    assert (rss1 - rss0) < 8 * 1024, f"RSS grew by {(rss1 - rss0) / 1024:.1f} MiB: {results}"
    assert during and all(ok for (_, _, ok, _) in during), [d for d in during if not d[2]][:5]
    st = stats(leader)
    assert st["tls_handshake"] >= 1 and st["first_frame_too_large"] >= 1 and st["frame_too_large"] >= 1, st
    idx = write_through_all(c, "after")
    converge(c, [0, 1, 2], idx)


# ----------------------------------------------------------------------------- (b) no / foreign certificate
def test_attack_without_a_swarm_certificate_gets_no_byte_to_pysyncobj(cluster: Cluster,
                                                                       tmp_path: Path) -> None:
    """A client with no certificate, and one with a certificate from another CA, send a frame
    whose unpickling would create a directory - encrypted with the right Raft password. The
    handshake fails; nothing is unpickled."""
    c = cluster
    L = c.leader()
    target = c.members[L]
    foreign = RootCA.create()
    clients = {"no-cert": client_context(None) if TLS else None,
               "foreign-ca": attacker_ctx(c, "m0", ca=foreign)}
    for name, ctx in clients.items():
        evil = tmp_path / f"evil-b-{name}"
        closed = send_and_wait_closed(target.addr, ctx, raft_frame(MakeDir(str(evil)), PASSWORD))
        time.sleep(0.5)
        assert not evil.exists(), f"{name}: the attacker's pickle was loaded"
        assert closed, f"{name}: the connection stayed open"
    st = stats(target)
    assert st["tls_handshake"] >= 2, st
    idx = write_through_all(c, "after")
    converge(c, [0, 1, 2], idx)


# ----------------------------------------------------------------------------- (c) rejected certificate
def test_attack_rejected_certificate_is_closed_before_a_frame_is_parsed(cluster: Cluster,
                                                                       tmp_path: Path) -> None:
    """Valid swarm certificates that accept_peer refuses - a demoted manager (deny-listed node id)
    and a worker - with the correct Raft password: closed before any frame is parsed, so the
    pickle that would create a directory is never loaded."""
    c = cluster
    for m in c.members:
        m.call("link_deny", node_ids=["demoted-1"])
    L = c.leader()
    target = c.members[L]
    clients = {"demoted-manager": attacker_ctx(c, "demoted-1"),
               "worker": attacker_ctx(c, "w1", role="swarm-worker")}
    for name, ctx in clients.items():
        evil = tmp_path / f"evil-c-{name}"
        closed = send_and_wait_closed(target.addr, ctx, raft_frame(MakeDir(str(evil)), PASSWORD))
        time.sleep(0.5)
        assert not evil.exists(), f"{name}: the attacker's pickle was loaded"
        assert closed, f"{name}: the connection stayed open"
    st = stats(target)
    assert st["peer_rejected"] >= 2, st
    idx = write_through_all(c, "after")
    converge(c, [0, 1, 2], idx)


@pytest.mark.skipif(not TLS, reason="TLS cluster only")
def test_demoting_a_connected_peer_drops_its_connection(cluster: Cluster) -> None:
    """accept_peer runs at connection setup; recheck_raft_peers (the daemon calls it after a
    demotion or revocation) drops an already-open connection whose certificate is now refused."""
    c = cluster
    target = c.members[c.leader()]
    with link_socket(target.addr, attacker_ctx(c, "soon-demoted")) as s:
        s.sendall(raft_frame(os.urandom(32), PASSWORD))      # past the first frame: fully open
        assert not closed_by_peer(s, 6.0)                     # ... and past the setup deadline
        before = stats(target)["peer_rejected"]
        for m in c.members:
            m.call("link_deny", node_ids=["soon-demoted"])
        assert closed_by_peer(s, 10.0)
    assert stats(target)["peer_rejected"] == before + 1
    idx = write_through_all(c, "after")                      # the members' own links stay up
    converge(c, [0, 1, 2], idx)


def test_password_only_port_unpickles_what_it_is_sent(tmp_path: Path) -> None:
    """Documentation of the attack the link blocks, on today's password-only transport: one
    frame encrypted with the Raft password runs the attacker's code (here: os.mkdir in tmp_path)."""
    addr = f"127.0.0.1:{free_port()}"
    m = Member(addr, [addr], tmp_path / "plain")              # tls=None: stock transport
    m.start()
    try:
        m.call("wait_ready")
        evil = tmp_path / "evil-created-by-unpickling"
        with link_socket(addr, None) as s:
            s.sendall(raft_frame(MakeDir(str(evil)), PASSWORD))
            assert wait_for(evil.exists, 15.0), "the frame was not unpickled"
    finally:
        m.kill()
    assert evil.is_dir()


# ----------------------------------------------------------------------------- (d) slowloris
def test_attack_slowloris_is_closed_after_the_deadline(cluster: Cluster) -> None:
    """Idle connections (TCP only, and TLS done with an accepted certificate but no frame) are
    closed after the 5 s deadline; beyond 8 pending from one address, at once. Writes go on."""
    c = cluster
    L = c.leader()
    target = c.members[L]
    tls_idle = link_socket(target.addr, attacker_ctx(c))      # first: it must count as pending
    idle = [link_socket(target.addr, None) for _ in range(10)]
    try:
        idx = write_through_all(c, "during")
        for s in [*idle, tls_idle]:
            assert closed_by_peer(s, 15.0), "an idle connection was still open after 15 s"
        converge(c, [0, 1, 2], idx)
    finally:
        for s in [*idle, tls_idle]:
            s.close()
    st = stats(target)
    assert st["deadline"] >= 8 and st["too_many_pending"] >= 1, st


# ----------------------------------------------------------------------------- secret rotation
def test_raft_secret_rotation_in_phases_keeps_committing(cluster: Cluster) -> None:
    """Phase 1: everyone accepts old+new, sends old; 2: sends new; 3: accepts only new. Writes
    commit throughout (a prober on the leader, writes through every member after each phase);
    afterwards a member that knows only the old secret gets no frame accepted, and rejoins once
    it has the new one."""
    c = cluster
    old, new = PASSWORD, "rotated-secret"
    L = c.leader()
    c.members[L].call("probe_start", period=0.01, timeout=10.0)
    idx = 0
    for send, accept in ((old, [old, new]), (new, [old, new]), (new, [new])):
        for m in c.members:
            m.call("set_secrets", send=send, accept=accept)
        idx = write_through_all(c, f"phase-{send}-{len(accept)}")
    probe = c.members[L].call("probe_stop")
    assert probe and all(ok for (_, _, ok, _) in probe), [p for p in probe if not p[2]][:5]
    converge(c, [0, 1, 2], idx)

    # a stale member: restarted knowing only the old secret
    S = (L + 1) % 3
    stale = c.members[S]
    stale.kill()
    stale.password = old
    others = [i for i in range(3) if i != S]
    before = sum(stats(c.members[i]).get("bad_frame", 0) for i in others)
    stale.start()
    idx = write_through_all(c, "without-stale", others)
    # whichever side dials, the frames of one side are refused (the stale member's counters
    # start from 0 in its new process)
    assert wait_for(lambda: sum(stats(c.members[i]).get("bad_frame", 0) for i in range(3)) > before,
                    15.0) or not TLS
    st = stale.call("status")
    assert st["store_index"] < idx and not any(v for k, v in st["members"].items() if k != stale.addr), st
    # an outside client with an accepted certificate and the old secret: refused too
    if TLS:
        assert send_and_wait_closed(c.members[L].addr, attacker_ctx(c), raft_frame(os.urandom(32), old))
    # with the new secret it rejoins and catches up
    stale.kill()
    stale.password = new
    stale.start()
    converge(c, [0, 1, 2], idx)
