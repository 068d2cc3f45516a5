"""The convergence display of `service create|update|scale|rollback` (reference §2).

A client-side polling loop (every 200 ms): per slot (replicated) or node (global) it picks the
most relevant up-to-date task and draws its state as a bar out of 9 steps; once every task runs,
it waits one monitor period ("verify") before printing `Service <id> converged`. On a terminal
the lines are redrawn in place; otherwise every refresh that changed something is printed as
plain lines. Ctrl-C leaves the operation running.

The pieces, each testable without a daemon: ``Progress`` turns one poll's service and tasks into
the lines to draw (the pick per slot, the bar numbers kept across polls, the rollback wording and
notice), ``Stability`` is the verify wait on a clock, ``Screen`` draws; ``refresh`` is one poll
and ``watch`` the loop.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import click

from swarm.api import control_pb2
from swarm.api.objects_pb2 import NodeStatus, Service, Task
from swarm.api.types_pb2 import COMPLETE, RUNNING, TaskState, UpdateStatus
from swarm.cli.client import CLIError

POLL = 0.2
MAX_BARS = 20
STEPS = {"new": 1, "allocated": 2, "pending": 3, "assigned": 4, "accepted": 5, "preparing": 6,
         "ready": 7, "starting": 8, "running": 9}
JOB_STEPS = 10   # a job's task goes one step further: complete


class Screen:
    """Redraws a set of keyed lines in place on a TTY, or prints changed lines otherwise; with
    ``quiet`` it keeps the lines and prints nothing."""

    def __init__(self, tty: bool, quiet: bool = False) -> None:
        self.tty = tty
        self.quiet = quiet
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.drawn = 0
        self.printed: dict[str, str] = {}

    def set(self, key: str, text: str) -> None:
        if key not in self.lines:
            self.order.append(key)
        self.lines[key] = text

    def echo(self, text: str | None) -> None:
        """One plain line (none for None), below what was drawn so far."""
        if text is not None and not self.quiet:
            click.echo(text)

    def flush(self) -> None:
        if self.quiet:
            return
        if self.tty:
            out = []
            if self.drawn:
                out.append(f"\x1b[{self.drawn}A")
            for k in self.order:
                out.append(f"\x1b[2K{k}: {self.lines[k]}\n")
            sys.stdout.write("".join(out))
            sys.stdout.flush()
            self.drawn = len(self.order)
        else:
            for k in self.order:
                line = f"{k}: {self.lines[k]}"
                if self.printed.get(k) != line:
                    click.echo(line)
                    self.printed[k] = line


def bar(state: str, err: str, steps: int = 9) -> str:
    if err:
        e = err.replace("\n", " ")
        return e if len(e) <= 75 else e[:74] + "…"
    n = JOB_STEPS if state == "complete" else STEPS.get(state, 0)
    inner = ("=" * int(50 * n / steps) + ">").ljust(51)
    return f"{state:<9} [{inner}]"


def is_job(svc: Service) -> bool:
    return svc.spec.WhichOneof("mode") in ("replicated_job", "global_job")


def _pick(tasks: list[Task]) -> Task:
    return sorted(tasks, key=lambda t: (t.desired_state, t.status.state))[0]


def monitor_seconds(svc: Service) -> float:
    """How long converged tasks must stay up before the service counts as converged."""
    return svc.spec.update.monitor.ToNanoseconds() / 1e9 if svc.spec.update.HasField("monitor") else 5.0


def group_tasks(svc: Service, tasks: Iterable[Task], down: set[str]) -> dict[object, list[Task]]:
    """Live tasks by slot (replicated) or node (global), in the order the tasks come; tasks on
    Down nodes and tasks meant to stop are left out."""
    replicated = svc.spec.HasField("replicated")
    groups: dict[object, list[Task]] = {}
    for t in tasks:
        if t.node_id in down or t.desired_state > RUNNING:
            continue
        groups.setdefault(t.slot if replicated else t.node_id, []).append(t)
    return groups


def task_bar(t: Task, rollback: bool) -> str:
    """The bar of one slot's (or node's) task; during a rollback Docker's bars stay at ">"."""
    state = TaskState.Name(t.status.state).lower()
    if rollback and not t.status.err:
        return f"{state:<9} [{'>'.ljust(51)}]"
    return bar(state, t.status.err)


@dataclass
class Frame:
    """One refresh: the keyed lines to draw, in order, and whether every wanted task runs."""

    lines: list[tuple[str, str]]
    converged: bool


@dataclass
class Progress:
    """What the display remembers between refreshes: the bar number of each slot or node (given
    once, in sorted order of first sight) and whether a rollback was seen."""

    rollback: bool = False
    rollback_seen: bool = False
    slot_index: dict[object, int] = field(default_factory=dict)

    def status_notice(self, us: UpdateStatus) -> str | None:
        """Raise CLIError on a paused update or rollback; the ``rollback: ...`` line the first time a
        rollback shows, None otherwise."""
        if us.state == UpdateStatus.PAUSED:
            raise CLIError(f"service update paused: {us.message}")
        if us.state == UpdateStatus.ROLLBACK_PAUSED:
            raise CLIError(f"service rollback paused: {us.message}")
        if us.state not in (UpdateStatus.ROLLBACK_STARTED, UpdateStatus.ROLLBACK_COMPLETED):
            return None
        self.rollback = True
        if self.rollback_seen:
            return None
        self.rollback_seen = True
        return f"rollback: {us.message}"

    def frame(self, svc: Service, tasks: Iterable[Task], down: set[str]) -> Frame:
        """The overall line and one bar per slot (node) from the service's up-to-date tasks."""
        if is_job(svc):
            return self.job_frame(svc, tasks, down)
        replicated = svc.spec.HasField("replicated")
        groups = group_tasks(svc, tasks, down)
        want = svc.spec.replicated.replicas if replicated else len(groups)
        picked = {k: _pick(v) for k, v in groups.items()}
        running = sum(1 for t in picked.values() if t.status.state == RUNNING)
        lines = [("overall progress", self._overall(bool(replicated or groups), running, want))]
        if want <= MAX_BARS:
            lines += self._bars(picked, want, replicated)
        return Frame(lines, running >= want and bool(replicated or groups))

    def job_frame(self, svc: Service, tasks: Iterable[Task], down: set[str]) -> Frame:
        """Docker's job display: ``job progress: K out of M complete``, ``active tasks: A out of D
        tasks`` (D: what may run now), a bar per slot (node) out of 10 steps; converged once all
        completed. Only the job's current iteration counts."""
        it = svc.job_status.job_iteration.index
        replicated = svc.spec.HasField("replicated_job")
        groups: dict[object, list[Task]] = {}
        for t in tasks:
            if t.job_iteration.index != it or t.node_id in down:
                continue
            groups.setdefault(t.slot if replicated else t.node_id, []).append(t)
        picked = {k: _pick(v) for k, v in groups.items()}
        completed = sum(1 for v in groups.values() if any(t.status.state == COMPLETE for t in v))
        active = sum(1 for t in picked.values() if t.status.state < COMPLETE)
        if replicated:
            total = svc.spec.replicated_job.total_completions
            may_run = min(svc.spec.replicated_job.max_concurrent or 1, total - completed)
        else:
            total, may_run = len(groups), len(groups) - completed
        digits = len(str(total))
        lines = [("job progress", f"{completed:>{digits}} out of {total} complete"),
                 ("active tasks", f"{active:>{digits}} out of {max(may_run, 0)} tasks")]
        if total <= MAX_BARS:
            if replicated:
                for slot in range(1, total + 1):
                    p = picked.get(slot)
                    lines.append((f"{slot}/{total}", " " if p is None else
                                  bar(TaskState.Name(p.status.state).lower(), p.status.err, JOB_STEPS)))
            else:
                lines += [(str(k)[:12], bar(TaskState.Name(t.status.state).lower(), t.status.err, JOB_STEPS))
                          for k, t in sorted(picked.items(), key=lambda kv: str(kv[0]))]
        return Frame(lines, completed >= total and (replicated or bool(groups)))

    def _overall(self, any_slot: bool, running: int, want: int) -> str:
        if not any_slot:
            return "waiting for new tasks"
        prefix = "rolling back update: " if self.rollback else ""
        return f"{prefix}{running} out of {want} tasks"

    def _bars(self, picked: dict[object, Task], want: int, replicated: bool) -> list[tuple[str, str]]:
        for k in sorted(picked, key=str):
            if k not in self.slot_index:
                self.slot_index[k] = len(self.slot_index) + 1
        # slots without any task yet draw no bar: unschedulable services still show their reason
        return [(f"{self.slot_index[k]}/{want}" if replicated else str(k)[:12], task_bar(t, self.rollback))
                for k, t in picked.items() if self.slot_index[k] <= want]


class Stability:
    """The "verify" step: converged tasks must stay so for the monitor period."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.since: float | None = None

    def step(self, stable: bool, monitor: float, shown_id: str) -> tuple[str | None, bool]:
        """The verify line for this refresh (None: leave it as is) and whether the wait is over."""
        if not stable:
            line = "Detected task failure" if self.since is not None else None
            self.since = None
            return line, False
        if self.since is None:
            self.since = self.clock()
        left = monitor - (self.clock() - self.since)
        if left <= 0:
            return f"Service {shown_id} converged", True
        return f"Waiting {int(left) + 1} seconds to verify that tasks are stable...", False


def _tasks_and_down(c: Any, svc: Service) -> tuple[list[Task], set[str]]:
    """The service's up-to-date tasks and the ids of Down nodes."""
    tasks = c.call(c.control.ListTasks, control_pb2.ListTasksRequest(
        filters=control_pb2.ListTasksRequest.Filters(service_ids=[svc.id], up_to_date=True))).tasks
    nodes = c.call(c.control.ListNodes, control_pb2.ListNodesRequest()).nodes
    return list(tasks), {n.id for n in nodes if n.status.state == NodeStatus.DOWN}


def refresh(c: Any, service_id: str, shown_id: str, progress: Progress, stability: Stability,
            screen: Screen) -> bool:
    """One poll: read the service and its tasks, draw; True once it converged and stayed so."""
    svc: Service = c.call(c.control.GetService, control_pb2.GetServiceRequest(service_id=service_id)).service
    us = svc.update_status
    screen.echo(progress.status_notice(us))
    frame = progress.frame(svc, *_tasks_and_down(c, svc))
    for key, text in frame.lines:
        screen.set(key, text)
    if is_job(svc) and frame.converged:
        screen.flush()   # jobs stay done once done: no verify wait (Docker)
        screen.echo("job complete")
        return True
    settled = frame.converged and us.state not in (UpdateStatus.UPDATING, UpdateStatus.ROLLBACK_STARTED)
    line, done = stability.step(settled, monitor_seconds(svc), shown_id)
    if line is not None:
        screen.set("verify", line)
    screen.flush()
    if done and us.state == UpdateStatus.ROLLBACK_COMPLETED:
        screen.echo(f"rollback: {us.message}")
    return done


def watch(client: Any, service_id: str, shown_id: str, *, quiet: bool = False,
          is_rollback: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
    """Poll until the service converged; raise CLIError on a paused update/rollback."""
    screen = Screen(sys.stdout.isatty(), quiet)
    progress, stability = Progress(rollback=is_rollback), Stability(clock)
    try:
        while not refresh(client, service_id, shown_id, progress, stability, screen):
            time.sleep(POLL)
    except KeyboardInterrupt:
        click.echo("Operation continuing in background.")
        click.echo(f"Use `swarm service ps {shown_id}` to check progress.")
