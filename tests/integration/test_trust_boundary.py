"""Issue 12 on loopback, as an attacker would try it: real daemons, real Raft, real mTLS.

Each test keeps a copy of a certificate the way an ex-manager (or anyone who copied its data
root) could, then uses it after the swarm changed its mind about that node.
"""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest

from swarm.api import ca_pb2, ca_pb2_grpc, dispatcher_pb2, dispatcher_pb2_grpc, raft_pb2, raft_pb2_grpc
from swarm.api.types_pb2 import WORKER
from swarm.ca import Role, make_key_and_csr, parse_identity
from swarm.ca.storage import NodeTLS, load_node_tls
from swarm.rpc.tls import manager_channel
from tests.support.daemons import LoopbackCluster

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def cluster(tmp_path):
    made: list[LoopbackCluster] = []

    def make(count: int) -> LoopbackCluster:
        c = LoopbackCluster(tmp_path, count).start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def node_id(c: LoopbackCluster, i: int) -> str:
    return json.loads(c[i].ok("info", "--format", "json"))["Swarm"]["NodeID"]


def raft_addr(c: LoopbackCluster, i: int) -> str:
    host, port = c.addr(i).rsplit(":", 1)
    return f"{host}:{int(port) + 1}"


def call(addr: str, tls: NodeTLS, fn):  # type: ignore[no-untyped-def]
    """Run ``fn(channel)`` against ``addr`` with ``tls``; returns (status code, result or details)."""

    async def go():  # type: ignore[no-untyped-def]
        async with manager_channel(addr, tls) as ch:
            try:
                return grpc.StatusCode.OK, await fn(ch)
            except grpc.aio.AioRpcError as e:
                return e.code(), e.details()

    return asyncio.run(go())


def join(ch, raft: str, api: str):  # type: ignore[no-untyped-def]
    return raft_pb2_grpc.RaftMembershipStub(ch).Join(
        raft_pb2.RaftJoinRequest(raft_addr=raft, api_addr=api), timeout=10)


def renew(ch):  # type: ignore[no-untyped-def]
    _key, csr = make_key_and_csr()
    return ca_pb2_grpc.NodeCAStub(ch).IssueNodeCertificate(
        ca_pb2.IssueNodeCertificateRequest(csr=csr), timeout=10)


async def first_session_message(ch):  # type: ignore[no-untyped-def]
    stream = dispatcher_pb2_grpc.DispatcherStub(ch).Session(dispatcher_pb2.SessionRequest(), timeout=10)
    msg = await stream.read()
    stream.cancel()
    return msg


def healthy(c: LoopbackCluster) -> bool:
    nodes = c.node_ls(0)
    leaders = [n for n in nodes if n["ManagerStatus"] == "Leader"]
    return len(leaders) == 1 and all(n["Status"] == "Ready" for n in nodes)


def test_demoted_managers_saved_certificate_has_no_manager_rights(cluster):
    c = cluster(3)
    c.form(managers=3, workers=0)
    c.wait(lambda: len([n for n in c.node_ls(0) if n["ManagerStatus"] in ("Leader", "Reachable")]) == 3,
           60, "three managers")
    victim = node_id(c, 2)
    saved = load_node_tls(c[2].data_root)
    saved_secret = (c[2].data_root / "raft" / "secret").read_bytes()
    assert parse_identity(saved.cert_pem).role is Role.MANAGER
    assert c[0].ok("node", "demote", victim).strip() == f"Manager {victim} demoted in the swarm."
    c.wait(lambda: next(n for n in c.node_ls(0) if n["ID"] == victim)["ManagerStatus"] == "", 60,
           "demoted")

    def secret(i: int) -> bytes:
        return (c[i].data_root / "raft" / "secret").read_bytes()

    # the raft secret the ex-manager kept is rotated away on the managers that remain
    c.wait(lambda: secret(0) == secret(1) != saved_secret, 60, "raft secret rotated")

    # the attack of the finding: Join with the leader's own raft address (it used to return the
    # raft secret, re-mark the node a manager and wedge the role manager)
    code, details = call(c.addr(0), saved, lambda ch: join(ch, raft_addr(c, 0), c.addr(2)))
    assert code == grpc.StatusCode.PERMISSION_DENIED, (code, details)
    # a phantom member (nothing listens there): used to take the swarm to "no leader"
    code, details = call(c.addr(0), saved, lambda ch: join(ch, "127.250.0.99:2378", "127.250.0.99:2377"))
    assert code == grpc.StatusCode.PERMISSION_DENIED, (code, details)
    # any other manager-only call
    code, _ = call(c.addr(0), saved,
                   lambda ch: raft_pb2_grpc.RaftMembershipStub(ch).Status(raft_pb2.RaftStatusRequest(),
                                                                         timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # but the node keeps what any node may do: it must still reach the dispatcher to learn it
    # is a worker now (refusing that left a demoted manager Down for good)
    code, first = call(c.addr(0), saved, first_session_message)
    assert code == grpc.StatusCode.OK, first
    assert first.node.spec.desired_role == WORKER
    # renewing from it yields only what the node is now: a worker certificate
    code, resp = call(c.addr(0), saved, renew)
    assert code == grpc.StatusCode.OK, resp
    assert parse_identity(resp.certificate).role is Role.WORKER

    # promoted again: the node gets a new manager certificate; the old one stays revoked
    c.wait(lambda: "Is Manager: false" in c[2].ok("info"), 60, "node 2 runs as a worker")
    c[0].ok("node", "promote", victim)
    c.wait(lambda: next(n for n in c.node_ls(0) if n["ID"] == victim)["ManagerStatus"] == "Reachable",
           90, "re-promoted")
    current = load_node_tls(c[2].data_root)
    assert parse_identity(current.cert_pem).serial != parse_identity(saved.cert_pem).serial
    code, details = call(c.addr(0), saved, lambda ch: join(ch, raft_addr(c, 2), c.addr(2)))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "revoked" in details, (code, details)
    code, details = call(c.addr(0), saved, renew)
    assert code == grpc.StatusCode.PERMISSION_DENIED, (code, details)
    # and the swarm is fine
    c.wait(lambda: healthy(c), 60, "healthy swarm with three managers")
    assert len(c.node_ls(2)) == 3
    c.wait(lambda: secret(2) == secret(0), 30, "the re-promoted manager got the current secret")
    c[0].ok("service", "create", "--name", "after", "busybox")      # writes still commit
    c.wait(lambda: "after" in c[2].ok("service", "ls"), 30, "replicated to the re-promoted manager")


def test_a_manager_cannot_join_raft_under_an_address_that_is_not_its_own(cluster):
    c = cluster(2)
    c.form(managers=2, workers=0)
    c.wait(lambda: len([n for n in c.node_ls(0) if n["ManagerStatus"] in ("Leader", "Reachable")]) == 2,
           60, "two managers")
    tls = load_node_tls(c[1].data_root)
    # another member's raft address
    code, details = call(c.addr(0), tls, lambda ch: join(ch, raft_addr(c, 0), c.addr(1)))
    assert code == grpc.StatusCode.PERMISSION_DENIED, (code, details)
    # an address on a host that is not the caller's
    code, details = call(c.addr(0), tls, lambda ch: join(ch, "127.250.0.99:2378", c.addr(1)))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "not this node's own address" in details
    # its own address is still answered (idempotent re-join)
    code, resp = call(c.addr(0), tls, lambda ch: join(ch, raft_addr(c, 1), c.addr(1)))
    assert code == grpc.StatusCode.OK, resp
    assert healthy(c)


def test_certificates_are_renewed_and_the_swarm_keeps_working(cluster, monkeypatch):
    monkeypatch.setenv("PYSWARM_TEST_MIN_CERT_EXPIRY", "10")
    c = cluster(3)
    c.init("--cert-expiry", "20s")
    c.join(1, "manager")
    c.join(2, "worker")
    c.wait(lambda: healthy(c) and len(c.node_ls(0)) == 3, 60, "three nodes")
    seen: list[set[str]] = [set(), set(), set()]

    def renewed_three_times() -> bool:
        for i in range(3):
            seen[i].add(parse_identity(load_node_tls(c[i].data_root).cert_pem).serial)
        return all(len(s) >= 4 for s in seen)

    c.wait(renewed_three_times, 150, "three renewals on every node")
    # every certificate ever issued has expired by now except the newest ones: the swarm works
    c.wait(lambda: healthy(c), 30, "healthy after renewals")
    c[0].ok("service", "create", "--name", "s", "--replicas", "3", "busybox")
    c.wait(lambda: "3/3" in c[1].ok("service", "ls"), 60, "service converged after renewals")
    assert "renewed" in c[2].log()


def test_a_node_whose_certificate_expired_while_down_says_so(cluster, monkeypatch):
    monkeypatch.setenv("PYSWARM_TEST_MIN_CERT_EXPIRY", "10")
    c = cluster(2)
    c.init("--cert-expiry", "15s")
    c.join(1, "worker")
    c.wait(lambda: healthy(c) and len(c.node_ls(0)) == 2, 60, "two nodes")
    c[1].stop()
    cert = load_node_tls(c[1].data_root).cert_pem
    c.wait(lambda: parse_identity(cert).not_after.timestamp() < time.time(), 30,
           "the stopped node's certificate to expire")
    c[1].start()
    c.wait(lambda: "Swarm certificates have expired" in c[1].ok("info"), 30, "expiry reported")
    # the clear way out works: leave and join again
    c[1].ok("leave", "--force")
    c.join(1, "worker")
    c.wait(lambda: "Swarm: active" in c[1].ok("info") and "expired" not in c[1].ok("info"), 30,
           "rejoined")


def test_secrets_on_disk_and_the_socket_are_owner_only(cluster, tmp_path, monkeypatch):
    import stat

    from tests.support.daemons import Swarmd

    monkeypatch.setenv("PYSWARM_TEST_COMPACTION_MIN_TIME", "1")     # a snapshot soon
    c = cluster(1)
    c.init()
    c.wait(lambda: healthy(c), 30, "one manager")
    d = c[0]
    d.ok("service", "create", "--name", "svc-name-in-clear", "busybox")   # journal grows
    value = tmp_path / "config-value"
    value.write_text("config-value-in-clear")
    d.ok("config", "create", "cfg-name-in-clear", str(value))
    # the Raft data is sealed at rest (swarm.store.atrest): no object, nor the CA key, in clear in
    # the journal or the snapshot
    raft = d.data_root / "raft"
    c.wait(lambda: (raft / "raft.dump").exists(), 60, "a snapshot")
    d.ok("service", "scale", "svc-name-in-clear=2")                 # and entries after it
    for name in ("raft.journal", "raft.dump"):
        raw = (raft / name).read_bytes()
        for clear in (b"svc-name-in-clear", b"cfg-name-in-clear", b"config-value-in-clear",
                      b"PRIVATE KEY", b"SWMTKN-1-"):
            assert clear not in raw, (name, clear)
    assert (raft / "raft.dump").read_bytes().startswith(b"PYSWARM-SEALED-SNAPSHOT-1\n")
    # the journal, snapshots and the raft secret hold the CA key / raft secret (the journal's
    # .meta, rewritten by pysyncobj, holds only term, vote and commit index; the dir is 0700)
    secret_files = [p for p in (d.data_root / "raft").iterdir() if p.is_file() and (
        (p.name.startswith("raft.") and not p.name.endswith(".meta")) or p.name == "secret")]
    secret_files.append(d.data_root / "state.json")
    assert any(p.name.startswith("raft.journal") for p in secret_files)
    for p in secret_files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert stat.S_IMODE((d.data_root / "raft").stat().st_mode) == 0o700
    assert stat.S_IMODE(d.socket.stat().st_mode) == 0o600
    # --group opens the socket to one group (dockerd's -G), and an unknown group is refused
    g = Swarmd(tmp_path, name="grp", extra_args=["--executor", "fake", "-G", "0"]).start()
    try:
        st = g.socket.stat()
        assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == 0
    finally:
        g.stop()
    import subprocess

    from tests.support.daemons import SWARMD

    r = subprocess.run([SWARMD, "--data-root", str(tmp_path / "x"), "--host",
                        f"unix://{tmp_path}/x.sock", "-G", "no-such-group-here"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "invalid --group 'no-such-group-here': no such group" in r.stderr
