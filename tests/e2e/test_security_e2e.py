"""Issue 12 on the network-namespace testbed: certificates renewed several times over while the
swarm keeps working (managers' Raft links in mutual TLS, workers' sessions, control writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swarm.ca import parse_identity

pytestmark = pytest.mark.timeout(400)


def serial(tb, host: str) -> str:  # type: ignore[no-untyped-def]
    cert = Path(tb.host(host).data_root) / "certificates" / "swarm-node.crt"
    return parse_identity(cert.read_bytes()).serial


def test_swarm_keeps_working_across_several_certificate_renewals(testbed, monkeypatch):
    monkeypatch.setenv("PYSWARM_TEST_MIN_CERT_EXPIRY", "10")   # daemons and CLI inherit it
    tb = testbed(managers=3, workers=1)
    first = tb.address("mgr1")
    assert tb.cli("mgr1", "init", "--advertise-addr", first, "--cert-expiry", "20s").returncode == 0
    tokens = {r: tb.cli("mgr1", "join-token", "-q", r).stdout.strip() for r in ("manager", "worker")}
    for h, role in (("mgr2", "manager"), ("mgr3", "manager"), ("wkr1", "worker")):
        r = tb.cli(h, "join", "--token", tokens[role], "--advertise-addr", tb.address(h), f"{first}:2377")
        assert r.returncode == 0, r.stderr
    hosts = ("mgr1", "mgr2", "mgr3", "wkr1")
    seen: dict[str, set[str]] = {h: set() for h in hosts}

    def renewed() -> bool:
        for h in hosts:
            seen[h].add(serial(tb, h))
        return all(len(s) >= 4 for s in seen.values())       # three renewals each

    tb.wait_for(renewed, timeout=180, interval=1, what="three certificate renewals on every node")

    def all_ready() -> bool:
        r = tb.cli("mgr3", "node", "ls", "--format", "json")
        if r.returncode != 0:
            return False
        nodes = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        return len(nodes) == 4 and all(n["Status"] == "Ready" for n in nodes) and \
            sorted(n["ManagerStatus"] for n in nodes) == ["", "Leader", "Reachable", "Reachable"]

    tb.wait_for(all_ready, timeout=60, what="all nodes Ready after the renewals")
    listing = tb.cli("mgr2", "node", "ls", "--format", "json").stdout.splitlines()
    wk = next(json.loads(x)["ID"] for x in listing if json.loads(x)["Hostname"] == "wkr1")
    # a write through a follower (Raft over the renewed TLS links) is seen on every manager
    assert tb.cli("mgr2", "node", "update", "--label-add", "renewed=yes", wk).returncode == 0
    for h in ("mgr1", "mgr3"):
        tb.wait_for(lambda h=h: json.loads(tb.cli(h, "node", "inspect", wk).stdout)[0]["Spec"]["Labels"]
                    == {"renewed": "yes"}, timeout=30, what=f"label seen on {h}")


def test_demote_and_promote_again_through_the_gates(testbed):
    """A demoted manager becomes a Ready worker (its revoked manager certificate still reaches the
    dispatcher), the managers rotate the Raft secret and close their Raft gate to it, and a
    re-promotion brings it back as a reachable manager."""
    tb = testbed(managers=3, workers=0, form_swarm=True)

    def status() -> dict[str, tuple[str, str]]:
        r = tb.cli("mgr1", "node", "ls", "--format", "json")
        assert r.returncode == 0, r.stderr
        return {json.loads(x)["Hostname"]: (json.loads(x)["Status"], json.loads(x)["ManagerStatus"])
                for x in r.stdout.splitlines() if x.strip()}

    def secret(h: str) -> bytes:
        return (Path(tb.host(h).data_root) / "raft" / "secret").read_bytes()

    before = secret("mgr3")
    listing = tb.cli("mgr1", "node", "ls", "--format", "json").stdout.splitlines()
    mgr3 = next(json.loads(x)["ID"] for x in listing if json.loads(x)["Hostname"] == "mgr3")
    assert tb.cli("mgr1", "node", "demote", mgr3).returncode == 0
    tb.wait_for(lambda: status()["mgr3"] == ("Ready", ""), timeout=60, what="mgr3 a Ready worker")
    tb.wait_for(lambda: secret("mgr1") == secret("mgr2") != before, timeout=30, what="secret rotated")
    tables = tb.exec("mgr1", "nft", "list", "set", "ip", _gate_table(tb, "mgr1"), "allowed").stdout
    assert tb.address("mgr3") not in tables and tb.address("mgr2") in tables
    assert tb.cli("mgr1", "node", "promote", mgr3).returncode == 0
    tb.wait_for(lambda: status()["mgr3"] == ("Ready", "Reachable"), timeout=90, what="mgr3 a manager again")
    assert tb.cli("mgr3", "node", "ls").returncode == 0


def _gate_table(tb, host: str) -> str:  # type: ignore[no-untyped-def]
    out = tb.exec(host, "nft", "list", "tables").stdout
    return next(line.split()[-1] for line in out.splitlines() if line.endswith("sw_raftgate"))
