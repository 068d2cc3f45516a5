"""Randomised invariants (fixed seeds): plans respect every filter and spread evenly."""

from __future__ import annotations

import random

import pytest

from swarm.api import objects_pb2, types_pb2
from swarm.scheduler import recheck, schedule

from .factories import ACTIVE, DOWN, DRAIN, HOST, PAUSE, READY, TCP, node, running, task

CPU = 1_000_000_000


def random_cluster(rng: random.Random) -> tuple[list[objects_pb2.Node], dict[str, list[objects_pb2.Task]]]:
    nodes = []
    existing: dict[str, list[objects_pb2.Task]] = {}
    for i in range(rng.randint(1, 25)):
        n = node(
            f"n{i:02d}",
            cpu=rng.choice([0, 1, 2, 4]) * CPU,
            state=rng.choice([READY] * 6 + [DOWN]),
            availability=rng.choice([ACTIVE] * 6 + [DRAIN, PAUSE]),
            labels={"zone": rng.choice("abc")} if rng.random() < 0.8 else {},
        )
        nodes.append(n)
        for j in range(rng.randint(0, 3)):
            t = task(f"e{i}-{j}", rng.choice(["s0", "s1", "other"]), cpu=rng.choice([0, CPU // 2]))
            if rng.random() < 0.2:
                t.endpoint.ports.add(publish_mode=HOST, protocol=TCP, published_port=8000 + rng.randint(0, 2))
            existing.setdefault(n.id, []).append(running(t, n.id))
    return nodes, existing


def random_pending(rng: random.Random, nodes: list[objects_pb2.Node]) -> list[objects_pb2.Task]:
    pending = []
    for s in range(rng.randint(1, 4)):
        kw: dict[str, object] = {}
        if rng.random() < 0.4:
            kw["cpu"] = rng.choice([CPU // 2, CPU])
        if rng.random() < 0.3:
            kw["max_replicas"] = rng.randint(1, 3)
        if rng.random() < 0.3:
            kw["constraints"] = [
                rng.choice(["node.labels.zone!=a", "node.labels.zone==b", "node.role==worker"])
            ]
        if rng.random() < 0.3:
            kw["prefs"] = ["node.labels.zone"]
        if rng.random() < 0.2:
            kw["host_ports"] = [(8000 + rng.randint(0, 2), HOST, TCP)]
        sid = f"s{s}"
        pending += [task(f"{sid}-{i}", sid, slot=i + 1, **kw) for i in range(rng.randint(1, 30))]  # type: ignore[arg-type]
    glob_cpu = rng.choice([0, CPU])  # one service version has one spec
    for i, n in enumerate(nodes):
        if rng.random() < 0.3:
            pending.append(task(f"g-{i}", "glob", node_id=n.id, cpu=glob_cpu))
    if rng.random() < 0.3:
        pending.append(task("bye", "s0", desired=types_pb2.SHUTDOWN))
    return pending


@pytest.mark.parametrize("seed", range(60))
def test_plans_pass_recheck_and_account_for_every_task(seed: int) -> None:
    rng = random.Random(seed)
    nodes, existing = random_cluster(rng)
    pending = random_pending(rng, nodes)
    plan = schedule(nodes, existing, pending)
    by_id = {t.id: t for t in pending}
    # Every task is decided exactly once (global tasks always name an existing node here).
    decided = [*plan.assignments, *plan.unschedulable, *plan.shutdown]
    assert sorted(decided) == sorted(by_id)
    # Applying the plan in order never breaks a filter.
    planned = [(by_id[tid], nid) for tid, nid in plan.assignments.items()]
    assert recheck(nodes, existing, planned) == {}
    # And a task left pending really fits nowhere once the plan is applied.
    after = {k: list(v) for k, v in existing.items()}
    for t, nid in planned:
        after.setdefault(nid, []).append(running(t, nid))
    for tid, err in plan.unschedulable.items():
        t = by_id[tid]
        if t.node_id:
            assert not err.startswith("no suitable node")
            continue
        assert err.startswith("no suitable node")
        candidates = [n.id for n in nodes]
        assert all(recheck(nodes, after, [(t, nid)]) for nid in candidates)


@pytest.mark.parametrize("seed", range(20))
def test_unconstrained_spread_is_even(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [node(f"n{i}") for i in range(rng.randint(1, 30))]
    count = rng.randint(1, 200)
    plan = schedule(nodes, {}, [task(f"t{i}", slot=i + 1) for i in range(count)])
    per = {n.id: 0 for n in nodes}
    for nid in plan.assignments.values():
        per[nid] += 1
    assert max(per.values()) - min(per.values()) <= 1
    assert len(plan.assignments) == count


@pytest.mark.parametrize("seed", range(30))
def test_spread_preference_water_fills_branches(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [node(f"n{i:02d}", labels={"zone": rng.choice("abcd")}) for i in range(rng.randint(2, 20))]
    zone_of = {n.id: n.spec.annotations.labels["zone"] for n in nodes}
    existing: dict[str, list[objects_pb2.Task]] = {}
    for i in range(rng.randint(0, 30)):
        nid = rng.choice(nodes).id
        existing.setdefault(nid, []).append(running(task(f"old{i}"), nid))
    count = rng.randint(1, 60)
    plan = schedule(nodes, existing, [task(f"t{i}", prefs=["node.labels.zone"]) for i in range(count)])
    assert len(plan.assignments) == count
    final = dict.fromkeys(zone_of.values(), 0)
    for nid, ts in existing.items():
        final[zone_of[nid]] += len(ts)
    got = dict.fromkeys(final, 0)
    for nid in plan.assignments.values():
        final[zone_of[nid]] += 1
        got[zone_of[nid]] += 1
    floor = min(final.values())
    assert all(final[z] <= floor + 1 for z in final if got[z])
