"""Scheduler benchmark: place T tasks of one service onto N nodes with swarm.scheduler.schedule.

Reference: swarmkit (Go) published 189 ms for 1k tasks / 1k nodes and 1.8 s for 10k / 1k. Those
figures time swarmkit's whole scheduler loop (store reads, commits of the assigned tasks); this
benchmark times only our pure placement function, so the leader's commit comes on top.
Only the schedule() call is timed (inputs are built once per scenario); the median of
``--runs`` runs is reported. Not a test: run it by hand.

    .venv/bin/python bench/scheduler_bench.py            # all scenarios, writes bench/results/scheduler.json
    .venv/bin/python bench/scheduler_bench.py --quick    # 1k/1k and 10k/1k only
    .venv/bin/python bench/scheduler_bench.py --profile 10000x1000   # cProfile one scenario
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm.api import objects_pb2, specs_pb2, types_pb2
from swarm.scheduler import Plan, schedule

RESULTS = Path(__file__).resolve().parent / "results" / "scheduler.json"
SWARMKIT_MS = {"1000x1000": 189.0, "10000x1000": 1800.0}


def make_nodes(
    n: int, *, zones: int = 0, cpu: int = 64_000_000_000, mem: int = 256 << 30
) -> list[objects_pb2.Node]:
    nodes = []
    for i in range(n):
        node = objects_pb2.Node(id=f"node{i:06d}", role=types_pb2.WORKER)
        node.description.hostname = f"host{i}"
        node.description.platform.os = "linux"
        node.description.platform.architecture = "x86_64"
        node.description.resources.nano_cpus = cpu
        node.description.resources.memory_bytes = mem
        node.spec.availability = specs_pb2.NodeSpec.ACTIVE
        node.status.state = objects_pb2.NodeStatus.READY
        node.status.addr = f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}"
        if zones:
            node.spec.annotations.labels["zone"] = f"z{i % zones}"
        if i % 10:
            node.spec.annotations.labels["tier"] = "app"
        nodes.append(node)
    return nodes


def make_tasks(
    t: int,
    service_id: str = "svc1",
    *,
    cpu: int = 0,
    constraints: tuple[str, ...] = (),
    prefs: tuple[str, ...] = (),
) -> list[objects_pb2.Task]:
    template = objects_pb2.Task(service_id=service_id, desired_state=types_pb2.RUNNING)
    template.spec_version.index = 7
    template.status.state = types_pb2.PENDING
    template.spec.container.image = "nginx:alpine"
    template.spec.resources.reservations.nano_cpus = cpu
    template.spec.placement.constraints.extend(constraints)
    for p in prefs:
        template.spec.placement.preferences.add(spread_descriptor=p)
    out = []
    for i in range(t):
        task = objects_pb2.Task()
        task.CopyFrom(template)
        task.id = f"{service_id}-task{i:07d}"
        task.slot = i + 1
        out.append(task)
    return out


Inputs = tuple[list[objects_pb2.Node], dict[str, list[objects_pb2.Task]], list[objects_pb2.Task]]


@dataclass
class Scenario:
    name: str
    tasks: int
    nodes: int
    build: Callable[[], Inputs]
    runs: int = 5


def plain(t: int, n: int) -> Scenario:
    return Scenario(f"{t}x{n}", t, n, lambda: (make_nodes(n), {}, make_tasks(t)))


def with_filters(t: int, n: int) -> Scenario:
    """Reservations (dynamic filter) + a constraint, with 10 tasks of another service per node."""

    def build() -> Inputs:
        nodes = make_nodes(n)
        existing: dict[str, list[objects_pb2.Task]] = {}
        for i, other in enumerate(make_tasks(10 * n, "other", cpu=100_000_000)):
            other.node_id = nodes[i % n].id
            other.status.state = types_pb2.RUNNING
            existing.setdefault(other.node_id, []).append(other)
        return nodes, existing, make_tasks(t, cpu=250_000_000, constraints=("node.labels.tier==app",))

    return Scenario(f"{t}x{n}-reservations-constraint-existing{10 * n}", t, n, build)


def with_spread(t: int, n: int) -> Scenario:
    def build() -> Inputs:
        return make_nodes(n, zones=5), {}, make_tasks(t, prefs=("node.labels.zone",))

    return Scenario(f"{t}x{n}-spread-zone", t, n, build)


def many_services(services: int, per: int, n: int) -> Scenario:
    def build() -> Inputs:
        pending = [tk for s in range(services) for tk in make_tasks(per, f"svc{s:04d}")]
        return make_nodes(n), {}, pending

    return Scenario(f"{services}svcx{per}x{n}", services * per, n, build)


def run(s: Scenario, runs: int) -> dict[str, object]:
    nodes, existing, pending = s.build()
    times: list[float] = []
    plan = Plan()
    for _ in range(runs):
        t0 = time.perf_counter()
        plan = schedule(nodes, existing, pending)
        times.append(time.perf_counter() - t0)
    assert len(plan.assignments) + len(plan.unschedulable) == len(pending), "lost tasks"
    counts: dict[str, int] = {}
    for nid in plan.assignments.values():
        counts[nid] = counts.get(nid, 0) + 1
    med = statistics.median(times) * 1000
    row: dict[str, object] = {
        "scenario": s.name,
        "tasks": s.tasks,
        "nodes": s.nodes,
        "runs": runs,
        "median_ms": round(med, 1),
        "min_ms": round(min(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "assigned": len(plan.assignments),
        "unschedulable": len(plan.unschedulable),
        "per_node_min": min(counts.values(), default=0),
        "per_node_max": max(counts.values(), default=0),
        "tasks_per_s": round(len(pending) / statistics.median(times)),
    }
    if s.name in SWARMKIT_MS:
        row["swarmkit_ms"] = SWARMKIT_MS[s.name]
    print(
        f"{s.name:48s} median {med:8.1f} ms  (min {row['min_ms']}, max {row['max_ms']}, runs {runs})"
        f"  assigned {row['assigned']}  per-node {row['per_node_min']}..{row['per_node_max']}"
        + (f"  [swarmkit {SWARMKIT_MS[s.name]:.0f} ms]" if s.name in SWARMKIT_MS else "")
    )
    return row


def scenarios(quick: bool) -> list[Scenario]:
    out = [plain(1000, 1000), plain(10_000, 1000)]
    if not quick:
        out += [
            plain(100_000, 1000),
            with_filters(10_000, 1000),
            with_spread(10_000, 1000),
            many_services(1000, 10, 1000),
            plain(10_000, 10_000),
            plain(100_000, 10_000),
        ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", metavar="SCENARIO", help="cProfile one scenario by name, e.g. 10000x1000")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    if args.profile:
        chosen = [s for s in scenarios(False) if s.name == args.profile]
        if not chosen:
            sys.exit(f"unknown scenario {args.profile}")
        nodes, existing, pending = chosen[0].build()
        prof = cProfile.Profile()
        prof.enable()
        schedule(nodes, existing, pending)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
        return

    rows = []
    for s in scenarios(args.quick):
        runs = args.runs if s.tasks <= 10_000 else max(3, args.runs // 2)
        rows.append(run(s, runs))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "benchmark": "swarm.scheduler.schedule",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),  # shared host: other work adds noise
            "reference": "swarmkit (Go): 189 ms for 1k tasks/1k nodes, 1.8 s for 10k/1k",
            "results": rows,
        }
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
