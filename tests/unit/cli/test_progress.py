"""The convergence display's pieces, from real protobuf services and tasks (no daemon)."""

from __future__ import annotations

import pytest

from swarm.api.objects_pb2 import Service, Task
from swarm.api.types_pb2 import PENDING, READY, RUNNING, SHUTDOWN, STARTING, UpdateStatus
from swarm.cli.client import CLIError
from swarm.cli.progress import (
    Progress,
    Screen,
    Stability,
    bar,
    group_tasks,
    monitor_seconds,
    task_bar,
)

FULL = "running   [" + "=" * 50 + ">]"


def replicated(n: int) -> Service:
    svc = Service(id="svc1")
    svc.spec.replicated.replicas = n
    return svc


def global_service() -> Service:
    svc = Service(id="svc1")
    getattr(svc.spec, "global").SetInParent()
    return svc


def task(tid: str, state: int, slot: int = 0, node: str = "node1", desired: int = RUNNING,
         err: str = "") -> Task:
    t = Task(id=tid, service_id="svc1", slot=slot, node_id=node, desired_state=desired)
    t.status.state = state
    t.status.err = err
    return t


def test_bar_steps_and_errors():
    assert bar("running", "") == FULL
    assert bar("new", "") == "new       [=====>" + " " * 45 + "]"
    assert bar("preparing", "") == "preparing [" + "=" * 33 + ">" + " " * 17 + "]"
    assert bar("pending", "no suitable node\n(1 node)") == "no suitable node (1 node)"
    long = "x" * 80
    assert bar("pending", long) == "x" * 74 + "…"


def test_task_bar_during_rollback_stays_at_the_start():
    assert task_bar(task("t", STARTING), rollback=False) == bar("starting", "")
    assert task_bar(task("t", STARTING), rollback=True) == "starting  [>" + " " * 50 + "]"
    assert task_bar(task("t", PENDING, err="no suitable node"), rollback=True) == "no suitable node"


def test_group_tasks_by_slot_or_node_leaving_out_down_nodes_and_stopping_tasks():
    tasks = [task("a", RUNNING, slot=1), task("b", RUNNING, slot=2, node="gone"),
             task("c", RUNNING, slot=1, desired=SHUTDOWN), task("d", STARTING, slot=3, node="node2")]
    assert {k: [t.id for t in v] for k, v in group_tasks(replicated(3), tasks, {"gone"}).items()} == {
        1: ["a"], 3: ["d"]}
    assert {k: [t.id for t in v] for k, v in group_tasks(global_service(), tasks, {"gone"}).items()} == {
        "node1": ["a"], "node2": ["d"]}


def test_replicated_frame_numbers_slots_in_sorted_order_and_keeps_them():
    p = Progress()
    frame = p.frame(replicated(3), [task("c", STARTING, slot=3), task("a", RUNNING, slot=1)], set())
    assert frame.lines == [("overall progress", "1 out of 3 tasks"), ("2/3", bar("starting", "")),
                           ("1/3", FULL)]
    assert not frame.converged
    frame = p.frame(replicated(3), [task("a", RUNNING, slot=1), task("b", RUNNING, slot=2),
                                    task("c", RUNNING, slot=3)], set())
    # slot 3 keeps bar 2; slot 2, seen later, gets the next number
    assert frame.lines == [("overall progress", "3 out of 3 tasks"), ("1/3", FULL), ("3/3", FULL),
                           ("2/3", FULL)]
    assert frame.converged


def test_a_slot_picks_its_least_advanced_task():
    frame = Progress().frame(replicated(1), [task("new", READY, slot=1), task("old", RUNNING, slot=1)], set())
    assert frame.lines == [("overall progress", "0 out of 1 tasks"), ("1/1", bar("ready", ""))]


def test_more_slots_than_bars_show_the_overall_line_only():
    tasks = [task(f"t{i}", RUNNING, slot=i) for i in range(1, 26)]
    frame = Progress().frame(replicated(25), tasks, set())
    assert frame.lines == [("overall progress", "25 out of 25 tasks")]
    assert frame.converged


def test_global_frame_labels_nodes_and_waits_for_tasks():
    p = Progress()
    frame = p.frame(global_service(), [], set())
    assert frame.lines == [("overall progress", "waiting for new tasks")]
    assert not frame.converged
    frame = p.frame(global_service(), [task("a", RUNNING, node="abcdefghijklmnop")], set())
    assert frame.lines == [("overall progress", "1 out of 1 tasks"), ("abcdefghijkl", FULL)]
    assert frame.converged


def test_zero_replicas_converge_at_once():
    frame = Progress().frame(replicated(0), [], set())
    assert frame.lines == [("overall progress", "0 out of 0 tasks")]
    assert frame.converged


def test_status_notice_raises_when_paused_and_announces_a_rollback_once():
    p = Progress()
    with pytest.raises(CLIError, match=r"^service update paused: task failed$"):
        p.status_notice(UpdateStatus(state=UpdateStatus.PAUSED, message="task failed"))
    with pytest.raises(CLIError, match=r"^service rollback paused: x$"):
        p.status_notice(UpdateStatus(state=UpdateStatus.ROLLBACK_PAUSED, message="x"))
    assert p.status_notice(UpdateStatus(state=UpdateStatus.UPDATING)) is None
    assert not p.rollback
    started = UpdateStatus(state=UpdateStatus.ROLLBACK_STARTED, message="update rolled back")
    assert p.status_notice(started) == "rollback: update rolled back"
    assert p.rollback
    assert p.status_notice(started) is None
    frame = p.frame(replicated(1), [task("a", RUNNING, slot=1)], set())
    assert frame.lines == [("overall progress", "rolling back update: 1 out of 1 tasks"),
                           ("1/1", "running   [>" + " " * 50 + "]")]


def test_monitor_seconds():
    svc = replicated(1)
    assert monitor_seconds(svc) == 5.0
    svc.spec.update.monitor.FromNanoseconds(1_500_000_000)
    assert monitor_seconds(svc) == 1.5


def test_stability_waits_the_monitor_period_and_notices_a_failure():
    now = [100.0]
    s = Stability(lambda: now[0])
    assert s.step(False, 5.0, "web") == (None, False)
    assert s.step(True, 5.0, "web") == ("Waiting 6 seconds to verify that tasks are stable...", False)
    now[0] = 102.5
    assert s.step(True, 5.0, "web") == ("Waiting 3 seconds to verify that tasks are stable...", False)
    assert s.step(False, 5.0, "web") == ("Detected task failure", False)
    assert s.step(False, 5.0, "web") == (None, False)
    assert s.step(True, 5.0, "web")[1] is False
    now[0] = 107.5
    assert s.step(True, 5.0, "web") == ("Service web converged", True)


def test_screen_prints_changed_lines_only_and_nothing_when_quiet(capsys):
    screen = Screen(tty=False)
    screen.set("overall progress", "0 out of 1 tasks")
    screen.set("1/1", bar("new", ""))
    screen.flush()
    screen.set("overall progress", "1 out of 1 tasks")
    screen.flush()
    screen.echo("rollback: done")
    screen.echo(None)
    assert capsys.readouterr().out.splitlines() == [
        "overall progress: 0 out of 1 tasks", f"1/1: {bar('new', '')}", "overall progress: 1 out of 1 tasks",
        "rollback: done"]
    quiet = Screen(tty=True, quiet=True)
    quiet.set("overall progress", "x")
    quiet.flush()
    quiet.echo("rollback: done")
    assert capsys.readouterr().out == ""


def test_screen_redraws_in_place_on_a_terminal(capsys):
    screen = Screen(tty=True)
    screen.set("a", "1")
    screen.flush()
    screen.set("a", "2")
    screen.set("b", "3")
    screen.flush()
    assert capsys.readouterr().out == "\x1b[2Ka: 1\n" + "\x1b[1A\x1b[2Ka: 2\n\x1b[2Kb: 3\n"

