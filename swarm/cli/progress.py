"""The convergence display of `service create|update|scale|rollback` (reference §2).

A client-side polling loop (every 200 ms): per slot (replicated) or node (global) it picks the
most relevant up-to-date task and draws its state as a bar out of 9 steps; once every task runs,
it waits one monitor period ("verify") before printing `Service <id> converged`. On a terminal
the lines are redrawn in place; otherwise every refresh that changed something is printed as
plain lines. Ctrl-C leaves the operation running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from swarm.api import control_pb2
from swarm.api.objects_pb2 import NodeStatus, Service, Task
from swarm.api.types_pb2 import RUNNING, UpdateStatus
from swarm.cli.client import CLIError

POLL = 0.2
MAX_BARS = 20
STEPS = {"new": 1, "allocated": 2, "pending": 3, "assigned": 4, "accepted": 5, "preparing": 6,
         "ready": 7, "starting": 8, "running": 9}


class Screen:
    """Redraws a set of keyed lines in place on a TTY, or prints changed lines otherwise."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.drawn = 0
        self.printed: dict[str, str] = {}

    def set(self, key: str, text: str) -> None:
        if key not in self.lines:
            self.order.append(key)
        self.lines[key] = text

    def flush(self) -> None:
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


def bar(state: str, err: str) -> str:
    if err:
        e = err.replace("\n", " ")
        return e if len(e) <= 75 else e[:74] + "…"
    n = STEPS.get(state, 0)
    inner = ("=" * int(50 * n / 9) + ">").ljust(51)
    return f"{state:<9} [{inner}]"


def _pick(tasks: list[Task]) -> Task:
    return sorted(tasks, key=lambda t: (t.desired_state, t.status.state))[0]


def watch(client: Any, service_id: str, shown_id: str, *, quiet: bool = False,
          is_rollback: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
    """Poll until the service converged; raise CLIError on a paused update/rollback."""
    from swarm.api.types_pb2 import TaskState

    screen = Screen(sys.stdout.isatty())
    c = client
    verify_start: float | None = None
    rollback = is_rollback
    printed_rollback = False
    slot_index: dict[object, int] = {}
    try:
        while True:
            svc: Service = c.call(c.control.GetService, control_pb2.GetServiceRequest(service_id=service_id)).service
            us = svc.update_status
            monitor = svc.spec.update.monitor.ToNanoseconds() / 1e9 if svc.spec.update.HasField("monitor") else 5.0
            if us.state == UpdateStatus.PAUSED:
                raise CLIError(f"service update paused: {us.message}")
            if us.state == UpdateStatus.ROLLBACK_PAUSED:
                raise CLIError(f"service rollback paused: {us.message}")
            if us.state in (UpdateStatus.ROLLBACK_STARTED, UpdateStatus.ROLLBACK_COMPLETED):
                if not printed_rollback and not quiet:
                    click.echo(f"rollback: {us.message}")
                    printed_rollback = True
                rollback = True
            tasks = c.call(c.control.ListTasks, control_pb2.ListTasksRequest(
                filters=control_pb2.ListTasksRequest.Filters(service_ids=[svc.id], up_to_date=True))).tasks
            nodes = {n.id: n for n in c.call(c.control.ListNodes, control_pb2.ListNodesRequest()).nodes}
            down = {nid for nid, n in nodes.items() if n.status.state == NodeStatus.DOWN}
            groups: dict[object, list[Task]] = {}
            replicated = svc.spec.HasField("replicated")
            for t in tasks:
                if t.node_id in down or t.desired_state > RUNNING:
                    continue
                groups.setdefault(t.slot if replicated else t.node_id, []).append(t)
            want = svc.spec.replicated.replicas if replicated else len(groups)
            picked = {k: _pick(v) for k, v in groups.items()}
            running = sum(1 for t in picked.values() if t.status.state == RUNNING)
            prefix = "rolling back update: " if rollback else ""
            if not replicated and not groups:
                screen.set("overall progress", "waiting for new tasks")
            else:
                screen.set("overall progress", f"{prefix}{running} out of {want} tasks")
            if want <= MAX_BARS:
                for k in sorted(picked, key=str):
                    if k not in slot_index:
                        slot_index[k] = len(slot_index) + 1
                for k, t in picked.items():
                    label = f"{slot_index[k]}/{want}" if replicated else str(k)[:12]
                    state = TaskState.Name(t.status.state).lower()
                    text = bar(state, t.status.err)
                    if rollback and not t.status.err:  # Docker's rollback bars stay at ">"
                        text = f"{state:<9} [{'>'.ljust(51)}]"
                    if slot_index[k] <= want:
                        screen.set(label, text)
                # slots without any task yet: unschedulable services still show their reason
            converged = running >= want and (replicated or groups)
            if converged and us.state not in (UpdateStatus.UPDATING, UpdateStatus.ROLLBACK_STARTED):
                if verify_start is None:
                    verify_start = clock()
                left = monitor - (clock() - verify_start)
                if left <= 0:
                    screen.set("verify", f"Service {shown_id} converged")
                    if not quiet:
                        screen.flush()
                    if us.state == UpdateStatus.ROLLBACK_COMPLETED and not quiet:
                        click.echo(f"rollback: {us.message}")
                    return
                screen.set("verify", f"Waiting {int(left) + 1} seconds to verify that tasks are stable...")
            else:
                if verify_start is not None:
                    screen.set("verify", "Detected task failure")
                verify_start = None
            if not quiet:
                screen.flush()
            time.sleep(POLL)
    except KeyboardInterrupt:
        click.echo("Operation continuing in background.")
        click.echo(f"Use `swarm service ps {shown_id}` to check progress.")
