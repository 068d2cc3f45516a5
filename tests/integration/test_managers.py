"""Issue 3 on loopback: real daemons, real Raft (pysyncobj), real mTLS, the real CLI."""

from __future__ import annotations

import json

import pytest

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


def statuses(c: LoopbackCluster, i: int = 0) -> dict[str, tuple[str, str]]:
    return {n["ID"]: (n["Status"], n["ManagerStatus"]) for n in c.node_ls(i)}


def test_init_join_and_node_ls(cluster):
    c = cluster(5)
    out = c.init()
    assert out.startswith("Swarm initialized: current node (")
    assert "swarm join --token SWMTKN-1-" in out and c.addr(0) in out
    for i in (1, 2):
        assert c.join(i, "manager").strip() == "This node joined a swarm as a manager."
    for i in (3, 4):
        assert c.join(i, "worker").strip() == "This node joined a swarm as a worker."

    def five_ready():
        nodes = c.node_ls(0)
        ready = [n for n in nodes if n["Status"] == "Ready"]
        ms = sorted(n["ManagerStatus"] for n in nodes)
        return len(ready) == 5 and ms == ["", "", "Leader", "Reachable", "Reachable"] and nodes

    nodes = c.wait(five_ready, 60, "five Ready nodes with one leader")
    assert sum(1 for n in nodes if n["Self"]) == 1
    # node ls works from a follower manager too, and marks itself
    nodes1 = c.node_ls(1)
    me = [n for n in nodes1 if n["Self"]]
    assert len(me) == 1 and me[0]["ManagerStatus"] == "Reachable"
    table = c[0].ok("node", "ls")
    assert table.splitlines()[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER",
                                             "STATUS", "ENGINE", "VERSION"]
    assert " * " in table
    # workers are refused
    r = c[3].cli("node", "ls")
    assert r.returncode == 1 and "not a swarm manager" in r.stderr
    info = c[0].ok("info")
    assert "Managers: 3" in info and "Nodes: 5" in info and f"Leader: {c.addr(0)}" in info


def test_tokens_are_checked(cluster, tmp_path):
    c = cluster(3)
    c.init()
    worker_token = c.token("worker")
    # a token from another cluster fails the CA pin before anything secret is sent
    other = LoopbackCluster(tmp_path / "other", 1).start()
    try:
        other.init()
        foreign = other.token("worker")
    finally:
        other.stop()
    r = c[1].cli("join", "--token", foreign, "--advertise-addr", c.addr(1), c.addr(0))
    assert r.returncode == 1 and "remote CA does not match fingerprint" in r.stderr
    # a forged secret with the right CA digest is refused by the manager
    forged = worker_token[:-25] + "0" * 25
    r = c[1].cli("join", "--token", forged, "--advertise-addr", c.addr(1), c.addr(0))
    assert r.returncode == 1 and "A valid join token is necessary to join this cluster" in r.stderr
    assert "Swarm: inactive" in c[1].ok("info")
    # a rotated-away token stops working at once
    out = c[0].ok("join-token", "--rotate", "worker")
    assert out.startswith("Successfully rotated worker join token.")
    r = c[1].cli("join", "--token", worker_token, "--advertise-addr", c.addr(1), c.addr(0))
    assert r.returncode == 1 and "valid join token" in r.stderr
    # a worker token makes a worker, never a manager
    assert "as a worker" in c.join(1, "worker")
    r = c[1].cli("node", "ls")
    assert "not a swarm manager" in r.stderr
    # join on a node already in a swarm
    r = c[1].cli("join", "--token", c.token("worker"), c.addr(0))
    assert r.returncode == 1 and "already part of a swarm" in r.stderr
    # a malformed token
    r = c[2].cli("join", "--token", "SWMTKN-1-nope", c.addr(0))
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_unreachable_manager_is_a_clear_error(cluster):
    c = cluster(2)
    c.init()
    tok = c.token("worker")
    r = c[1].cli("join", "--token", tok, "--advertise-addr", c.addr(1), "127.0.0.1:1")
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.strip()
    assert "Swarm: inactive" in c[1].ok("info")


def test_leader_failover_and_restart(cluster):
    c = cluster(4)
    c.form(managers=3, workers=1)
    want = ["", "Leader", "Reachable", "Reachable"]
    c.wait(lambda: sorted(n["ManagerStatus"] for n in c.node_ls(0)) == want, 60, "three managers")
    leader_id = next(n["ID"] for n in c.node_ls(0) if n["ManagerStatus"] == "Leader")
    c[0].kill()

    def new_leader():
        nodes = c.node_ls(1)
        st = {n["ID"]: n["ManagerStatus"] for n in nodes}
        return st[leader_id] == "Unreachable" and "Leader" in st.values() and nodes

    c.wait(new_leader, 60, "a new leader, old one Unreachable")
    # writes work on the new leader: a label on the worker
    worker = next(n["ID"] for n in c.node_ls(1) if n["ManagerStatus"] == "")
    assert c[1].ok("node", "update", "--label-add", "zone=a", worker).strip() == worker
    c[0].start()
    c.wait(lambda: statuses(c, 1)[leader_id][1] == "Reachable", 60, "old leader Reachable again")
    # "Reachable" is the leader's view of the link; the restarted replica answers once it has
    # heard from the leader (with the Raft link in TLS that can be a moment later)
    c.wait(lambda: c[0].cli("node", "inspect", worker).returncode == 0, 30, "the old leader answers")
    labels = json.loads(c[0].ok("node", "inspect", worker))[0]["Spec"]["Labels"]
    assert labels == {"zone": "a"}
    # Docker's field paths, as scripts use them
    out = c[0].ok("node", "inspect", "-f", "{{.Spec.Role}} {{.Spec.Availability}} {{.Status.State}} "
                  "{{.ManagerStatus.Reachability}} {{.ManagerStatus.Leader}}", leader_id).split()
    assert out == ["manager", "active", "ready", "reachable", "false"], out


def test_full_restart_keeps_state(cluster):
    c = cluster(3)
    c.form(managers=3, workers=0)
    c.wait(lambda: sorted(n["ManagerStatus"] for n in c.node_ls(0)) == ["Leader", "Reachable", "Reachable"],
           60, "three managers")
    before = {n["ID"] for n in c.node_ls(0)}
    c[2].ok("node", "update", "--availability", "drain", c.node_ls(0)[0]["ID"])
    for d in c.daemons:
        d.kill()
    for d in c.daemons:
        d.start()
    nodes = c.wait(lambda: c.node_ls(1), 60, "node ls after a full restart")
    assert {n["ID"] for n in nodes} == before
    assert sum(1 for n in nodes if n["Availability"] == "Drain") == 1


def test_no_quorum_fails_fast(cluster):
    import time

    c = cluster(3)
    c.form(managers=3, workers=0)
    c.wait(lambda: sorted(n["ManagerStatus"] for n in c.node_ls(0)) == ["Leader", "Reachable", "Reachable"],
           60, "three managers")
    c[1].kill()
    c[2].kill()
    t0 = time.monotonic()

    def no_leader():
        r = c[0].cli("node", "ls", timeout=30)
        return r.returncode == 1 and "does not have a leader" in r.stderr

    c.wait(no_leader, 30, "the no-leader error")
    assert time.monotonic() - t0 < 30


def test_leave_rm_promote_demote(cluster):
    c = cluster(3)
    c.form(managers=1, workers=2)
    c.wait(lambda: len([n for n in c.node_ls(0) if n["Status"] == "Ready"]) == 3, 60, "three ready")
    # the only manager may not leave without --force
    r = c[0].cli("leave")
    assert r.returncode == 1 and "Removing the last manager erases all current state" in r.stderr
    # demoting the last manager is refused
    me = next(n["ID"] for n in c.node_ls(0) if n["Self"])
    r = c[0].cli("node", "demote", me)
    assert r.returncode == 1 and "attempting to demote the last manager of the swarm" in r.stderr
    # rm of a live node is refused without --force
    w2 = next(n["ID"] for n in c.node_ls(0) if n["Hostname"] and not n["Self"])
    r = c[0].cli("node", "rm", w2)
    assert r.returncode == 1 and f"node {w2} is not down and can't be removed" in r.stderr
    # a worker leaves: it is Down on the manager, then can be removed
    infos = {json.loads(c[i].ok("info", "--format", "json"))["Swarm"]["NodeID"]: i for i in (1, 2)}
    leaver = next(k for k, v in infos.items() if v == 2)
    assert c[2].ok("leave").strip() == "Node left the swarm."
    assert "Swarm: inactive" in c[2].ok("info")
    c.wait(lambda: statuses(c)[leaver][0] == "Down", 60, "left node Down")
    assert c[0].ok("node", "rm", leaver).strip() == leaver
    assert leaver not in statuses(c)
    # promote the remaining worker, then demote it again
    w = next(k for k, v in infos.items() if v == 1)
    assert c[0].ok("node", "promote", w).strip() == f"Node {w} promoted to a manager in the swarm."
    c.wait(lambda: statuses(c)[w][1] == "Reachable", 60, "promoted node Reachable")
    c.wait(lambda: "Is Manager: true" in c[1].ok("info"), 30, "promoted node serves as manager")
    c.wait(lambda: len(c.node_ls(1)) == 2, 30, "node ls on the promoted manager")
    assert c[0].ok("node", "demote", w).strip() == f"Manager {w} demoted in the swarm."
    c.wait(lambda: statuses(c)[w][1] == "", 60, "demoted node is a worker")
    c.wait(lambda: "not a swarm manager" in c[1].cli("node", "ls").stderr, 60, "demoted node refuses node ls")


def test_a_follower_answers_what_the_leader_just_acknowledged(cluster):
    """Read-after-write across managers, as Docker gives it (its followers proxy to the leader):
    a follower's control API passes a read barrier first, so an object the leader acknowledged a
    moment ago is there when a follower is asked at once (without the barrier its replica may
    apply the commit a moment later: CI saw exactly that)."""
    import grpc

    from swarm.api import control_pb2, control_pb2_grpc
    from swarm.api.specs_pb2 import ConfigSpec

    c = cluster(3)
    c.form(managers=3, workers=0)
    c.wait(lambda: sorted(s[1] for s in statuses(c).values()) == ["Leader", "Reachable", "Reachable"],
           60, "a leader and two reachable managers")
    leader = next(i for i in range(3) if any(n["Self"] and n["ManagerStatus"] == "Leader"
                                             for n in c.node_ls(i)))

    def stub(i):
        return control_pb2_grpc.ControlStub(grpc.insecure_channel(f"unix://{c[i].socket}"))

    writer, readers = stub(leader), [stub(i) for i in range(3) if i != leader]
    for n in range(25):
        spec = ConfigSpec(data=b"x")
        spec.annotations.name = f"c{n}"
        made = writer.CreateConfig(control_pb2.CreateConfigRequest(spec=spec)).config
        for r in readers:
            got = r.GetConfig(control_pb2.GetConfigRequest(config_id=made.id)).config
            assert got.spec.annotations.name == f"c{n}"
            names = [x.spec.annotations.name for x in r.ListConfigs(control_pb2.ListConfigsRequest()).configs]
            assert f"c{n}" in names
