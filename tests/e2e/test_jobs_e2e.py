"""Job services (issue 14, item 2) with real containers on the testbed: a replicated job runs its
completions at most MaxConcurrent at a time, `service update --force` runs it again, failed job
tasks are retried by the restart policy, a global job runs once on every node."""

from __future__ import annotations

import json
from typing import Any

import pytest

from swarm.api import control_pb2
from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import COMPLETE, FAILED, SHUTDOWN
from swarm.cli.client import Client
from swarm.reconciler.clock import ts_seconds

pytestmark = pytest.mark.timeout(600)

JOB = "sleep 1; exit 0"


def store_tasks(sb: Any, service: str) -> list[Task]:
    """The service's task objects as the control API holds them (timestamps, iterations, exit
    codes): read over mgr1's control socket as this machine reaches it (the VM testbed forwards it)."""
    cl = Client(f"unix://{sb.tb.client_socket('mgr1')}")
    svc = cl.call(cl.control.GetService, control_pb2.GetServiceRequest(service_id=service)).service
    f = control_pb2.ListTasksRequest.Filters(service_ids=[svc.id])
    return list(cl.call(cl.control.ListTasks, control_pb2.ListTasksRequest(filters=f)).tasks)


def max_overlap(tasks: list[Task]) -> int:
    """Most tasks alive at once, a task living from its creation to its final state's timestamp."""
    edges = sorted([(ts_seconds(t.meta.created_at), 1) for t in tasks]
                   + [(ts_seconds(t.status.timestamp), -1) for t in tasks], key=lambda e: (e[0], e[1]))
    live = peak = 0
    for _, d in edges:
        live += d
        peak = max(peak, live)
    return peak


def ls_row(sb: Any, name: str) -> dict[str, str]:
    rows = [json.loads(x) for x in sb.ok("service", "ls", "--format", "json").splitlines() if x.strip()]
    (row,) = [r for r in rows if r["Name"] == name]
    return row


def test_replicated_job_six_completions_two_at_a_time_then_force_reruns(swarm_bed):
    sb = swarm_bed(managers=1, workers=2)
    # without --detach: the progress display follows the job and ends with "job complete"
    out = sb.ok("service", "create", "--name", "j", "--mode", "replicated-job", "--replicas", "6",
                "--max-concurrent", "2", "--entrypoint", "sh", sb.image("demo/web:1"), "-c", JOB,
                timeout=240)
    lines = out.strip().splitlines()
    assert lines[-1] == "job complete", out
    assert "job progress: 6 out of 6 complete" in lines, out
    tasks = store_tasks(sb, "j")
    assert len(tasks) == 6, [(t.slot, t.status.state) for t in tasks]
    assert sorted(t.slot for t in tasks) == [1, 2, 3, 4, 5, 6]
    assert all(t.status.state == COMPLETE and t.status.container.exit_code == 0 for t in tasks)
    assert all(t.job_iteration.index == 0 for t in tasks)
    assert max_overlap(tasks) == 2, [(ts_seconds(t.meta.created_at), ts_seconds(t.status.timestamp))
                                     for t in tasks]
    row = ls_row(sb, "j")
    assert (row["Mode"], row["Replicas"]) == ("replicated job", "0/0 (6/6 completed)"), row
    doc = json.loads(sb.ok("service", "inspect", "j"))[0]
    assert doc["Spec"]["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 6}}
    assert doc["JobStatus"]["JobIteration"] == {"Index": 0}
    assert "UpdateConfig" not in doc["Spec"]
    # --force: a new iteration runs all six again
    out = sb.ok("service", "update", "--force", "j", timeout=240)
    assert out.strip().splitlines()[-1] == "job complete", out
    tasks = store_tasks(sb, "j")
    again = [t for t in tasks if t.job_iteration.index == 1]
    assert len(tasks) == 12 and len(again) == 6
    assert all(t.status.state == COMPLETE for t in again)
    assert max_overlap(again) == 2
    assert json.loads(sb.ok("service", "inspect", "j"))[0]["JobStatus"]["JobIteration"] == {"Index": 1}
    assert ls_row(sb, "j")["Replicas"] == "0/0 (6/6 completed)"
    # the refusals, with Docker's words
    r = sb.cli("service", "scale", "j=3", "--detach")
    assert r.returncode == 0 and "j scaled to 3" in r.stdout, r.stderr
    r = sb.cli("service", "update", "--update-parallelism", "2", "j")
    assert r.returncode != 0 and "update and rollback configuration is not supported for jobs" in r.stderr


def test_failed_job_task_is_retried_by_the_restart_policy(swarm_bed):
    sb = swarm_bed(managers=1, workers=1)
    sb.ok("service", "create", "--detach", "--name", "bad", "--mode", "replicated-job",
          "--restart-delay", "1s", "--restart-max-attempts", "2", "--entrypoint", "sh",
          sb.image("demo/web:1"), "-c", "exit 3")

    def given_up() -> list[Task] | None:
        ts = store_tasks(sb, "bad")
        # the third failure is final once the restart supervisor shut it down without a replacement
        done = len(ts) == 3 and all(t.status.state == FAILED and t.desired_state == SHUTDOWN for t in ts)
        return ts if done else None

    tasks = sb.tb.wait_for(given_up, timeout=120, what="three failed attempts, then none")
    assert all(t.slot == 1 and t.status.container.exit_code == 3 for t in tasks)
    row = ls_row(sb, "bad")
    assert row["Replicas"] == "0/1 (0/1 completed)", row


def test_global_job_runs_once_on_every_node(swarm_bed):
    sb = swarm_bed(managers=1, workers=2)
    out = sb.ok("service", "create", "--name", "g", "--mode", "global-job", "--entrypoint", "sh",
                sb.image("demo/web:1"), "-c", JOB, timeout=240)
    assert out.strip().splitlines()[-1] == "job complete", out
    tasks = store_tasks(sb, "g")
    nodes = {json.loads(x)["ID"]: json.loads(x)["Hostname"]
             for x in sb.ok("node", "ls", "--format", "json").splitlines()}
    assert sorted(nodes[t.node_id] for t in tasks) == ["mgr1", "wkr1", "wkr2"]
    assert all(t.status.state == COMPLETE and t.slot == 0 for t in tasks)
    row = ls_row(sb, "g")
    assert (row["Mode"], row["Replicas"]) == ("global job", "0/0 (3/3 completed)"), row
    r = sb.cli("service", "scale", "g=2")
    assert r.returncode != 0
    assert "g: scale can only be used with replicated or replicated-job mode" in r.stderr, r.stderr
    assert json.loads(sb.ok("service", "inspect", "g"))[0]["Spec"]["Mode"] == {"GlobalJob": {}}
