"""Issue 3 on the network-namespace testbed: 3 managers + 2 workers, real daemons."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(400)


def node_ls(tb, host: str) -> list[dict]:
    r = tb.cli(host, "node", "ls", "--format", "json")
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]


def test_cluster_forms_and_survives_leader_kill(testbed):
    tb = testbed(managers=3, workers=2, form_swarm=True)
    nodes = node_ls(tb, "mgr1")
    assert sorted(n["Hostname"] for n in nodes) == ["mgr1", "mgr2", "mgr3", "wkr1", "wkr2"]
    assert all(n["Status"] == "Ready" for n in nodes)
    assert sorted(n["ManagerStatus"] for n in nodes) == ["", "", "Leader", "Reachable", "Reachable"]
    leader = next(n for n in nodes if n["ManagerStatus"] == "Leader")
    assert leader["Hostname"] == "mgr1"
    # a worker is refused
    r = tb.cli("wkr1", "node", "ls")
    assert r.returncode == 1 and "not a swarm manager" in r.stderr

    tb.kill("mgr1", signal="KILL")

    def new_leader():
        r = tb.cli("mgr2", "node", "ls", "--format", "json")
        if r.returncode != 0:
            return False
        st = {json.loads(x)["Hostname"]: json.loads(x)["ManagerStatus"] for x in r.stdout.splitlines()}
        return st["mgr1"] == "Unreachable" and "Leader" in (st["mgr2"], st["mgr3"])

    tb.wait_for(new_leader, timeout=60, what="a new leader with mgr1 Unreachable")
    tb.start("mgr1")

    def back():
        st = {n["Hostname"]: (n["ManagerStatus"], n["Status"]) for n in node_ls(tb, "mgr2")}
        return st["mgr1"] == ("Reachable", "Ready")

    tb.wait_for(back, timeout=90, what="mgr1 Reachable again")


def test_all_managers_restart_with_state(testbed):
    tb = testbed(managers=3, workers=1, form_swarm=True)
    wk = next(n["ID"] for n in node_ls(tb, "mgr1") if n["Hostname"] == "wkr1")
    assert tb.cli("mgr1", "node", "update", "--label-add", "rack=r1", wk).returncode == 0
    for h in ("mgr1", "mgr2", "mgr3"):
        tb.kill(h, signal="KILL")
    for h in ("mgr1", "mgr2", "mgr3"):
        tb.start(h)
    tb.wait_for(lambda: tb.cli("mgr3", "node", "ls").returncode == 0, timeout=90,
                what="node ls after restart")
    r = tb.cli("mgr3", "node", "inspect", wk)
    assert json.loads(r.stdout)[0]["Spec"]["Labels"] == {"rack": "r1"}
    assert len(node_ls(tb, "mgr3")) == 4
