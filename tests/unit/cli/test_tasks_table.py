"""`service ps`'s CURRENT STATE with a container's health, as docker ps writes it."""

from __future__ import annotations

import json

import pytest

from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import TaskState
from swarm.cli.tasks import health_suffix, print_tasks


def _task(state: int, health: str) -> Task:
    t = Task(id="t1", service_id="s1", slot=1, node_id="n1", desired_state=TaskState.RUNNING)
    t.status.state = state  # type: ignore[assignment]
    t.status.container.health = health
    t.status.timestamp.GetCurrentTime()
    return t


@pytest.mark.parametrize("state,health,want", [
    (TaskState.RUNNING, "healthy", " (healthy)"),
    (TaskState.STARTING, "starting", " (health: starting)"),
    (TaskState.RUNNING, "unhealthy", " (unhealthy)"),
    (TaskState.RUNNING, "", ""),                  # no healthcheck
    (TaskState.FAILED, "unhealthy", ""),          # the error column says why
    (TaskState.SHUTDOWN, "healthy", ""),
])
def test_health_suffix(state: int, health: str, want: str) -> None:
    assert health_suffix(_task(state, health)) == want


def test_current_state_column(capsys: pytest.CaptureFixture[str]) -> None:
    print_tasks([_task(TaskState.RUNNING, "healthy")], {}, {}, fmt="{{json .}}", quiet=False, no_trunc=False)
    row = json.loads(capsys.readouterr().out)
    assert row["CurrentState"].startswith("Running (healthy) ") and row["CurrentState"].endswith(" ago")
