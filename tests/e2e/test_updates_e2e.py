"""Issue 6 with real containers on the testbed: v1 -> v2 rolling update, an update to an image
that crashes at once rolls back by itself, manual rollback."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(600)


def state(sb, svc: str) -> str:
    return json.loads(sb.ok("service", "inspect", svc))[0].get("UpdateStatus", {}).get("State", "")


def current(sb, svc: str) -> list[dict]:
    return [t for t in sb.tasks(svc, "-f", "desired-state=running")
            if t["CurrentState"].startswith("Running")]


def test_rolling_update_and_automatic_rollback(swarm_bed):
    sb = swarm_bed(managers=1, workers=2)
    v1, v2, bad = sb.image("demo/web:1"), sb.image("demo/web:2"), sb.image("demo/fail:1")
    sb.ok("service", "create", "-d", "--name", "web", "--replicas", "4", v1)
    sb.tb.wait_for(lambda: len(current(sb, "web")) == 4, timeout=120, what="4 running on v1")
    sb.ok("service", "update", "-d", "--image", v2, "--update-parallelism", "2",
          "--update-delay", "1s", "web")
    sb.tb.wait_for(lambda: state(sb, "web") == "completed", timeout=180, what="update completed")
    ts = current(sb, "web")
    assert len(ts) == 4 and all(t["Image"] == v2 for t in ts), ts
    # an image whose command exits at once: the update rolls back by itself to v2
    sb.ok("service", "update", "-d", "--image", bad, "--update-failure-action", "rollback", "web")
    sb.tb.wait_for(lambda: state(sb, "web") == "rollback_completed", timeout=240, what="rolled back")
    sb.tb.wait_for(lambda: len(current(sb, "web")) == 4, timeout=120, what="4 running after rollback")
    assert all(t["Image"] == v2 for t in current(sb, "web"))
    failed = [t for t in sb.tasks("web", "--no-trunc") if t["Image"].startswith(bad + "@sha256:")]  # pinned
    assert failed and any("non-zero exit (3)" in t["Error"] for t in failed), failed
    # an automatic rollback clears the previous spec (reference §5.4)
    r = sb.cli("service", "rollback", "-d", "web")
    assert r.returncode == 1 and "does not have a previous spec" in r.stderr


def test_worker_dies_mid_update_and_the_update_still_completes(swarm_bed):
    """A node going down in the middle of a rolling update: its tasks are replaced on the live
    nodes with the new spec, the update does not count them as failures and completes, and
    every page served afterwards is v2."""
    sb = swarm_bed(managers=1, workers=2)
    v1, v2 = sb.image("demo/web:1"), sb.image("demo/web:2")
    sb.ok("service", "create", "-d", "--name", "web", "--replicas", "6", "--publish", "8080:80", v1)
    sb.tb.wait_for(lambda: len(current(sb, "web")) == 6, timeout=120, what="6 running on v1")
    assert {t["Node"] for t in current(sb, "web")} == {"mgr1", "wkr1", "wkr2"}
    sb.ok("service", "update", "-d", "--image", v2, "--update-parallelism", "1",
          "--update-delay", "2s", "web")
    # once the update has replaced its first task, the worker's daemon dies
    sb.tb.wait_for(lambda: any(t["Image"] == v2 for t in current(sb, "web")), timeout=60,
                   what="the first task on v2")
    assert state(sb, "web") == "updating"
    sb.tb.kill("wkr2", "KILL")
    sb.tb.wait_for(lambda: state(sb, "web") == "completed", timeout=240, what="update completed")
    ts = current(sb, "web")
    assert len(ts) == 6 and all(t["Image"] == v2 for t in ts), ts
    assert {t["Node"] for t in ts} <= {"mgr1", "wkr1"}, ts
    nodes = {n["Hostname"]: n["Status"] for n in
             (json.loads(x) for x in sb.ok("node", "ls", "--format", "json").splitlines())}
    assert nodes["wkr2"] == "Down", nodes
    # the mesh on the surviving nodes serves v2 only
    for host in ("mgr1", "wkr1"):
        pages = {sb.http("mgr1", sb.tb.address(host), 8080) for _ in range(6)}
        assert all(p.startswith("demo/web version 2") for p in pages), (host, pages)
