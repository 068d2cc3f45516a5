"""Healthchecks across hosts: an unhealthy task is replaced and leaves the routing mesh; an update
to a spec that never becomes healthy rolls back under ``--update-failure-action rollback``."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(600)

SICK = "touch /tmp/sick; echo SICK > /www/index.html"


def _running(tasks: list[dict]) -> list[dict]:
    return [t for t in tasks if t["DesiredState"] == "Running" and t["CurrentState"].startswith("Running")]


def test_an_unhealthy_task_is_replaced_and_leaves_the_mesh(swarm_bed) -> None:
    sb = swarm_bed(managers=1, workers=2)
    sb.ok("service", "create", "--detach", "--name", "hweb", "--replicas", "2", "-p", "8080:80",
          "--health-cmd", "test ! -f /tmp/sick", "--health-interval", "1s", "--health-retries", "1",
          sb.image("demo/web:1"))
    sb.tb.wait_for(lambda: len([t for t in _running(sb.tasks("hweb"))
                                if t["CurrentState"].startswith("Running (healthy)")]) == 2,
                   timeout=90, what="2 healthy tasks")
    # slot 1's container turns sick: its page says SICK and its check fails (docker exec on its
    # node, through that node's Engine API); its replacement is a new container, healthy
    node, name = sb.task_container("hweb", 1)
    code, out = sb.docker(node).containers.get(name).exec_run(["sh", "-c", SICK])
    assert code == 0, out
    addr = sb.tb.address("wkr2")
    answers: list[str] = []

    def failed_and_replaced() -> bool:
        answers.append(sb.http("wkr2", addr, 8080))
        tasks = sb.tasks("hweb", "--no-trunc")
        failed = [t for t in tasks if t["CurrentState"].startswith("Failed")
                  and "unhealthy container" in t["Error"]]
        # the failed one is the container made sick, no other
        assert [f"hweb.{t['Name'].split('.')[1]}.{t['ID']}" for t in failed] in ([], [name]), failed
        return bool(failed) and len(_running(tasks)) == 2

    sb.tb.wait_for(failed_and_replaced, timeout=120, what="the sick task failed and replaced")
    states = [t["CurrentState"] for t in _running(sb.tasks("hweb"))]
    assert len(states) == 2 and all(s.startswith("Running (healthy) ") for s in states), states
    # from now on only healthy containers answer through the mesh
    last: list[str] = []

    def clean_streak() -> bool:
        body = sb.http("wkr2", addr, 8080)
        last.append(body)
        return len(last) >= 20 and all("demo/web" in b and "SICK" not in b for b in last[-20:])

    sb.tb.wait_for(clean_streak, timeout=60, interval=0.1, what="20 answers in a row from healthy tasks")
    served = {b.split(" on ")[-1].strip() for b in last[-20:]}
    assert len(served) == 2, served                          # both healthy replicas serve
    assert any("demo/web" in a for a in answers), answers   # the service kept answering meanwhile


def test_an_update_that_never_becomes_healthy_rolls_back(swarm_bed) -> None:
    sb = swarm_bed(managers=1, workers=1)
    sb.ok("service", "create", "--detach", "--name", "roll", "--replicas", "2",
          "--health-cmd", "true", "--health-interval", "1s", sb.image("demo/web:1"))
    sb.tb.wait_for(lambda: sum(t["CurrentState"].startswith("Running") for t in sb.tasks("roll")) == 2,
                   timeout=90, what="2 healthy tasks")
    sb.ok("service", "update", "--detach", "--image", sb.image("demo/web:2"), "--health-cmd", "false",
          "--health-retries", "1", "--update-failure-action", "rollback", "--update-monitor", "5s", "roll")

    def rolled_back() -> dict | None:
        doc = json.loads(sb.ok("service", "inspect", "roll"))[0]
        return doc if doc.get("UpdateStatus", {}).get("State") == "rollback_completed" else None

    doc = sb.tb.wait_for(rolled_back, timeout=180, what="the update rolled back")
    c = doc["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert c["Image"].startswith(sb.image("demo/web:1") + "@sha256:"), c     # pinned by the CLI
    assert c["Healthcheck"]["Test"] == ["CMD-SHELL", "true"], c
    # the rolled-back tasks come up (healthy) after the rollback is recorded as done
    def two_running() -> list[dict] | None:
        r = _running(sb.tasks("roll", "--no-trunc"))
        return r if len(r) == 2 else None

    running = sb.tb.wait_for(two_running, timeout=90, what="2 rolled-back tasks running")
    assert all(t["Image"].startswith(sb.image("demo/web:1") + "@sha256:") for t in running), running  # pinned
