"""Issue 5 through the real CLI and daemons on loopback, with the fake executor (instant
containers); the same flows with real containers run on the testbed in tests/e2e."""

from __future__ import annotations

import json

import pytest

from tests.support.daemons import LoopbackCluster, Swarmd

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def swarm3(tmp_path):
    c = LoopbackCluster(tmp_path, 4)
    for d in c.daemons:
        d.extra_args = ["--executor", "fake"]
    c.start()
    c.form(managers=1, workers=3)
    c.wait(lambda: len([n for n in c.node_ls(0) if n["Status"] == "Ready"]) == 4, 60, "4 ready nodes")
    yield c
    c.stop()


def tasks(d: Swarmd, svc: str, *flags: str) -> list[dict]:
    out = d.ok("service", "ps", svc, "--format", "json", *flags)
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def running(d: Swarmd, svc: str) -> list[dict]:
    return [t for t in tasks(d, svc)
            if t["DesiredState"] == "Running" and t["CurrentState"].startswith("Running")]


def ls(d: Swarmd) -> dict[str, dict]:
    out = d.ok("service", "ls", "--format", "json")
    return {s["Name"]: s for s in (json.loads(x) for x in out.splitlines())}


def test_create_spread_scale_rm(swarm3):
    c = swarm3
    m = c[0]
    sid = m.ok("service", "create", "--detach", "--name", "web", "--replicas", "8", "busybox").strip()
    assert len(sid) == 25
    c.wait(lambda: ls(m)["web"]["Replicas"] == "8/8", 30, "8/8 running")
    nodes = [t["Node"] for t in running(m, "web")]
    assert len(nodes) == 8
    # spread: 8 tasks on 4 nodes -> 2 each (hostnames are equal on loopback; count by node id)
    by_node: dict[str, int] = {}
    for t in json.loads(m.ok("service", "inspect", "web"))[0:1]:
        assert t["Spec"]["Name"] == "web"
    out = m.ok("service", "ps", "web", "--no-resolve", "--format", "json")
    for t in (json.loads(x) for x in out.splitlines()):
        by_node[t["Node"]] = by_node.get(t["Node"], 0) + 1
    assert sorted(by_node.values()) == [2, 2, 2, 2]
    assert m.ok("service", "scale", "--detach", "web=3").strip() == "web scaled to 3"
    c.wait(lambda: ls(m)["web"]["Replicas"] == "3/3" and len(tasks(m, "web")) == 3, 30, "scaled to 3")
    assert m.ok("service", "scale", "--detach", "web=5").strip() == "web scaled to 5"
    c.wait(lambda: ls(m)["web"]["Replicas"] == "5/5", 30, "scaled to 5")
    assert m.ok("service", "rm", "web").strip() == "web"
    c.wait(lambda: "web" not in ls(m), 10, "service gone")
    r = m.cli("service", "ps", "web")
    assert r.returncode == 1 and "no such service: web" in r.stderr


def test_restart_history_and_policy(swarm3):
    c = swarm3
    m = c[0]
    # the fake executor exits with FAKE_EXIT_CODE after FAKE_RUN_SECONDS (see node/exec/fake.py)
    m.ok("service", "create", "-d", "--name", "crash", "--restart-delay", "100ms",
         "--env", "FAKE_EXIT_CODE=3", "--env", "FAKE_RUN_SECONDS=0.2", "busybox")
    c.wait(lambda: len(tasks(m, "crash")) >= 3, 30, "restarts with history")
    rows = m.ok("service", "ps", "crash").splitlines()
    assert any(" \\_ crash.1" in r for r in rows), rows
    failed = [t for t in tasks(m, "crash") if t["CurrentState"].startswith("Failed")]
    assert failed and "non-zero exit (3)" in failed[0]["Error"]
    c.wait(lambda: len(tasks(m, "crash")) == 5, 60, "history capped at the limit of 5")
    m.ok("service", "create", "-d", "--name", "once", "--restart-condition", "none",
         "--env", "FAKE_EXIT_CODE=0", "--env", "FAKE_RUN_SECONDS=0.1", "busybox")
    c.wait(lambda: any(t["CurrentState"].startswith("Complete") for t in tasks(m, "once")), 30, "complete")
    assert len(tasks(m, "once")) == 1
    assert ls(m)["once"]["Replicas"] == "0/1"


def test_global_and_constraints(swarm3):
    c = swarm3
    m = c[0]
    m.ok("service", "create", "-d", "--name", "g", "--mode", "global", "busybox")
    c.wait(lambda: ls(m)["g"]["Replicas"] == "4/4", 30, "one per node")
    r = m.cli("service", "create", "-d", "--name", "bad", "--constraint", "node.role=manager", "busybox")
    assert r.returncode == 1 and "constraint expected one operator from ==, !=" in r.stderr
    assert "bad" not in ls(m)
    m.ok("service", "create", "-d", "--name", "nowhere", "--constraint", "node.labels.zone==mars", "busybox")
    c.wait(lambda: any("no suitable node" in t["Error"] for t in tasks(m, "nowhere", "--no-trunc")), 30,
           "pending with the reason")
    t = tasks(m, "nowhere", "--no-trunc")[0]
    assert t["CurrentState"].startswith("Pending")
    assert "scheduling constraints not satisfied on 4 nodes" in t["Error"]
    # a label makes it schedulable
    wk = next(n["ID"] for n in c.node_ls(0) if not n["Self"])
    m.ok("node", "update", "--label-add", "zone=mars", wk)
    c.wait(lambda: ls(m)["nowhere"]["Replicas"] == "1/1", 30, "placed after the label")


def test_drain_and_bad_input(swarm3):
    c = swarm3
    m = c[0]
    m.ok("service", "create", "-d", "--name", "d", "--replicas", "4", "busybox")
    c.wait(lambda: ls(m)["d"]["Replicas"] == "4/4", 30, "4/4")
    victim = next(n["ID"] for n in c.node_ls(0) if not n["Self"])
    m.ok("node", "update", "--availability", "drain", victim)

    def moved():
        out = m.ok("service", "ps", "d", "--no-resolve", "-f", "desired-state=running", "--format", "json")
        ts = [json.loads(x) for x in out.splitlines()]
        return len(ts) == 4 and all(t["Node"] != victim for t in ts) and \
            all(t["CurrentState"].startswith("Running") for t in ts)

    c.wait(moved, 30, "tasks moved off the drained node")
    for args, msg in [
        (["--name", "Bad Name", "busybox"], "name must be valid as a DNS name component"),
        (["--name", "x" * 64, "busybox"], "name must be 63 characters or fewer"),
        (["--replicas", "-1", "busybox"], "replicas must not be negative"),
        (["--name", "d", "busybox"], "already exists"),
        (["--reserve-memory", "1MB", "busybox"], "Must be at least 4MiB"),
        (["--limit-memory", "1MB", "busybox"], "invalid memory value 1048576: Must be at least 4MiB"),
        (["--limit-memory", "lots", "busybox"], "--limit-memory"),
        (["--mode", "job", "busybox"], "unknown mode: job"),
        (["--update-max-failure-ratio", "2", "busybox"], "cannot be less than 0 or bigger than 1"),
    ]:
        r = m.cli("service", "create", "-d", *args)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert set(ls(m)) == {"d"}
    # as in Docker, everything after IMAGE is the command, options included (not ours to parse)
    m.ok("service", "create", "-d", "--name", "cmd", "busybox", "sh", "-c", "echo hi", "--replicas", "5")
    doc = json.loads(m.ok("service", "inspect", "cmd"))[0]
    assert doc["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] == \
        ["sh", "-c", "echo hi", "--replicas", "5"], doc["Spec"]["TaskTemplate"]
    assert doc["Spec"]["Mode"] == {"Replicated": {"Replicas": 1}}, doc["Spec"]
    tmpl = "{{.Spec.Name}} {{.Spec.TaskTemplate.ContainerSpec.Image}} {{.Spec.Mode.Replicated.Replicas}}"
    name, image, replicas = m.ok("service", "inspect", "-f", tmpl, "cmd").split()
    # Docker's client tags the image (and pins it to the digest when the registry answers)
    assert (name, image.split("@")[0], replicas) == ("cmd", "busybox:latest", "1")
    m.ok("service", "rm", "cmd")
    r = m.cli("service", "scale", "d=x")
    assert r.returncode == 1 and "invalid scale specifier 'd=x'." in r.stderr
    r = m.cli("service", "inspect", "nope")
    assert r.returncode == 1 and "no such service: nope" in r.stderr


def test_leader_killed_mid_scale_still_converges(tmp_path):
    c = LoopbackCluster(tmp_path, 4).start()
    try:
        c.form(managers=3, workers=1)
        want = ["", "Leader", "Reachable", "Reachable"]
        c.wait(lambda: sorted(n["ManagerStatus"] for n in c.node_ls(0)) == want, 60, "three managers")
        m = c[0]
        m.ok("service", "create", "-d", "--name", "big", "--replicas", "2", "busybox")
        c.wait(lambda: ls(m)["big"]["Replicas"] == "2/2", 30, "2/2")
        m.ok("service", "scale", "-d", "big=40")
        m.kill()   # the leader dies right after accepting the scale
        f = c[1]
        # the dead leader's own tasks are replaced once it is Down; 40 run on the three others
        c.wait(lambda: ls(f)["big"]["Replicas"] == "40/40", 120, "40/40 after the failover")
    finally:
        c.stop()
