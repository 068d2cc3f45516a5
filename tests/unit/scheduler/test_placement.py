"""Spread ranking, placement preferences, pre-assigned tasks, batching and determinism."""

from __future__ import annotations

import random

import pytest

from swarm.api import types_pb2
from swarm.scheduler import FailureTracker, check_node, recheck, schedule
from swarm.scheduler.placement import water_fill

from .factories import DRAIN, HOST, TCP, UDP, node, per_node, running, service, task, tasks

CPU = 1_000_000_000


def three_nodes() -> list:
    return [node("n1"), node("n2"), node("n3")]


def test_six_tasks_on_three_nodes_two_each() -> None:
    plan = schedule(three_nodes(), {}, tasks(6))
    assert per_node(plan.assignments) == {"n1": 2, "n2": 2, "n3": 2}
    assert not plan.unschedulable


def test_spread_fills_up_to_even_counts_of_the_service() -> None:
    existing = {"n1": [running(task(f"x{i}"), "n1") for i in range(2)]}
    plan = schedule(three_nodes(), existing, tasks(4))
    assert per_node(plan.assignments) == {"n2": 2, "n3": 2}


def test_second_service_spreads_on_its_own_count_then_total() -> None:
    existing = {
        "n1": [running(task(f"a{i}", "a"), "n1") for i in range(3)],
        "n3": [running(task("a9", "a"), "n3")],
    }
    plan = schedule(three_nodes(), existing, tasks(2, "b"))
    # Own count is 0 everywhere; totals 3, 0, 1 order the nodes n2, n3, n1.
    assert plan.assignments == {"b-00000": "n2", "b-00001": "n3"}
    plan = schedule(three_nodes(), existing, tasks(6, "b"))
    assert per_node(plan.assignments) == {"n1": 2, "n2": 2, "n3": 2}


def test_own_service_count_beats_total() -> None:
    existing = {
        "n1": [running(task(f"o{i}", "other"), "n1") for i in range(5)],
        "n2": [running(task("s0"), "n2")],
    }
    plan = schedule([node("n1"), node("n2")], existing, tasks(1))
    assert plan.assignments == {"svc-00000": "n1"}


def test_node_id_breaks_full_ties() -> None:
    plan = schedule([node("b"), node("c"), node("a")], {}, tasks(1))
    assert plan.assignments == {"svc-00000": "a"}


def test_faulty_nodes_go_last() -> None:
    failures = {("svc", "n1"): 5, ("svc", "n2"): 4, ("other", "n3"): 9}
    plan = schedule(three_nodes(), {}, tasks(2), failures=failures)
    assert sorted(plan.assignments.values()) == ["n2", "n3"]
    plan = schedule(three_nodes(), {}, tasks(4), failures=failures)
    assert per_node(plan.assignments) == {"n2": 2, "n3": 2}  # last, whatever the counts
    plan = schedule(three_nodes(), {}, tasks(3, max_replicas=1), failures=failures)
    assert sorted(plan.assignments.values()) == ["n1", "n2", "n3"]  # still used when needed
    # Among faulty nodes the one with fewer failures comes first.
    plan = schedule(
        three_nodes(), {}, tasks(1), failures={("svc", "n1"): 7, ("svc", "n2"): 6, ("svc", "n3"): 8}
    )
    assert plan.assignments == {"svc-00000": "n2"}


def test_failure_tracker_window_with_fake_clock() -> None:
    ft = FailureTracker()
    for t in range(5):
        ft.record("svc", "n1", 100.0 + t)
    ft.record("svc", "n2", 100.0)
    assert ft.counts(110.0) == {("svc", "n1"): 5, ("svc", "n2"): 1}
    assert ft.counts(402.5) == {("svc", "n1"): 2}
    assert ft.counts(1000.0) == {}
    ft.record("svc", "n1", 1000.0)
    ft.forget_service("svc")
    assert ft.counts(1000.0) == {}


def zoned_nodes() -> list:
    return [
        node("a1", labels={"zone": "a"}),
        node("a2", labels={"zone": "a"}),
        node("b1", labels={"zone": "b"}),
        node("c1", labels={"zone": "c"}),
        node("x1"),  # no zone label: its own branch
    ]


def zone_counts(plan_assignments: dict[str, str], nodes: list) -> dict[str, int]:
    zone_of = {n.id: n.spec.annotations.labels.get("zone", "") for n in nodes}
    out: dict[str, int] = {}
    for nid in plan_assignments.values():
        out[zone_of[nid]] = out.get(zone_of[nid], 0) + 1
    return out


def test_spread_preference_even_across_label_values() -> None:
    nodes = zoned_nodes()
    plan = schedule(nodes, {}, tasks(8, prefs=["node.labels.zone"]))
    assert zone_counts(plan.assignments, nodes) == {"a": 2, "b": 2, "c": 2, "": 2}
    # Inside a branch the usual ranking spreads over the nodes.
    assert per_node(plan.assignments)["a1"] == per_node(plan.assignments)["a2"] == 1


def test_spread_preference_accepts_spread_prefix_and_engine_labels() -> None:
    nodes = [
        node("n1", engine_labels={"rack": "r1"}),
        node("n2", engine_labels={"rack": "r1"}),
        node("n3", engine_labels={"rack": "r2"}),
    ]
    plan = schedule(nodes, {}, tasks(4, prefs=["spread=engine.labels.rack"]))
    assert per_node(plan.assignments) == {"n1": 1, "n2": 1, "n3": 2}


def test_spread_preference_full_branch_sends_spare_tasks_elsewhere() -> None:
    nodes = [
        node("a1", cpu=4 * CPU, labels={"zone": "a"}),
        node("b1", cpu=1 * CPU, labels={"zone": "b"}),
        node("c1", cpu=4 * CPU, labels={"zone": "c"}),
    ]
    plan = schedule(nodes, {}, tasks(6, cpu=CPU, prefs=["node.labels.zone"]))
    assert per_node(plan.assignments) == {"a1": 3, "b1": 1, "c1": 2} or per_node(plan.assignments) == {
        "a1": 2,
        "b1": 1,
        "c1": 3,
    }
    assert len(plan.assignments) == 6
    # Past total capacity the rest is unschedulable, with the filter that stops each node.
    plan = schedule(nodes, {}, tasks(10, cpu=CPU, prefs=["node.labels.zone"]))
    assert per_node(plan.assignments) == {"a1": 4, "b1": 1, "c1": 4}
    assert plan.unschedulable == {"svc-00009": "no suitable node (insufficient resources on 3 nodes)"}


def test_spread_preference_branch_excluded_by_constraints() -> None:
    nodes = zoned_nodes()
    plan = schedule(nodes, {}, tasks(6, prefs=["node.labels.zone"], constraints=["node.labels.zone!=b"]))
    assert zone_counts(plan.assignments, nodes) == {"a": 2, "c": 2, "": 2}


def test_spread_preference_counts_existing_tasks_per_branch() -> None:
    nodes = zoned_nodes()
    existing = {"a1": [running(task(f"o{i}"), "a1") for i in range(3)]}
    plan = schedule(nodes, existing, tasks(5, prefs=["node.labels.zone"]))
    got = zone_counts(plan.assignments, nodes)
    assert "a" not in got
    assert sorted(got.values()) == [1, 1, 3] or sorted(got.values()) == [1, 2, 2]
    # Final per-branch counts are as even as possible: a=3 and the others reach 2 or 3 (sum 8).
    assert all(v <= 3 for v in got.values())


def test_nested_spread_preferences() -> None:
    nodes = [
        node("n1", labels={"dc": "east", "rack": "1"}),
        node("n2", labels={"dc": "east", "rack": "2"}),
        node("n3", labels={"dc": "west", "rack": "1"}),
        node("n4", labels={"dc": "west", "rack": "1"}),
    ]
    plan = schedule(nodes, {}, tasks(8, prefs=["node.labels.dc", "node.labels.rack"]))
    assert per_node(plan.assignments) == {"n1": 2, "n2": 2, "n3": 2, "n4": 2}
    plan = schedule(nodes, {}, tasks(4, prefs=["node.labels.dc", "node.labels.rack"]))
    counts = per_node(plan.assignments)
    assert counts["n1"] == counts["n2"] == 1 and counts["n3"] + counts["n4"] == 2


def test_unknown_spread_descriptor_is_ignored() -> None:
    plan = schedule(three_nodes(), {}, tasks(3, prefs=["node.hostname"]))
    assert per_node(plan.assignments) == {"n1": 1, "n2": 1, "n3": 1}


@pytest.mark.parametrize(
    ("counts", "m", "expected"),
    [
        ([0, 0, 0], 6, [2, 2, 2]),
        ([0, 0, 0], 4, [2, 1, 1]),
        ([10, 0, 0], 2, [0, 1, 1]),
        ([3, 1, 0], 3, [0, 1, 2]),
        ([3, 1, 0], 10, [2, 4, 4]),
        ([5], 3, [3]),
    ],
)
def test_water_fill(counts: list[int], m: int, expected: list[int]) -> None:
    shares = water_fill(counts, [str(i) for i in range(len(counts))], m)
    assert shares == expected
    assert sum(shares) == m


def test_global_tasks_only_check_their_node() -> None:
    nodes = [node("n1", cpu=CPU), node("n2", availability=DRAIN), node("n3", cpu=CPU)]
    pending = [
        task("g1", "g", node_id="n1", cpu=CPU),
        task("g2", "g", node_id="n2", cpu=CPU),
        task("g3", "g", version=2, node_id="n3", cpu=2 * CPU),
        task("g4", "g", node_id="gone", cpu=CPU),
    ]
    plan = schedule(nodes, {}, pending)
    assert plan.assignments == {"g1": "n1"}
    assert plan.unschedulable == {
        "g2": "1 node not available for new tasks",
        "g3": "insufficient resources on 1 node",
    }
    assert "g4" not in plan.assignments and "g4" not in plan.unschedulable


def test_global_tasks_reserve_before_replicated_groups() -> None:
    nodes = [node("n1", cpu=CPU), node("n2", cpu=CPU)]
    pending = [*tasks(2, "r", cpu=CPU), task("g1", "g", node_id="n1", cpu=CPU)]
    plan = schedule(nodes, {}, pending)
    assert plan.assignments["g1"] == "n1"
    assert plan.assignments["r-00000"] == "n2"
    assert plan.unschedulable == {"r-00001": "no suitable node (insufficient resources on 2 nodes)"}


def test_global_task_host_port_conflict() -> None:
    existing = {"n1": [running(task("o", "other", host_ports=[(53, HOST, TCP)]), "n1")]}
    plan = schedule([node("n1")], existing, [task("g1", "g", node_id="n1", host_ports=[(53, HOST, TCP)])])
    assert plan.unschedulable == {"g1": "host-mode port already in use on 1 node"}


def test_desired_shutdown_tasks_are_never_placed() -> None:
    pending = [task("t1", desired=types_pb2.SHUTDOWN), task("t2", desired=types_pb2.REMOVE), task("t3")]
    plan = schedule([node("n1")], {}, pending)
    assert plan.shutdown == ["t1", "t2"]
    assert plan.assignments == {"t3": "n1"}


def test_tasks_without_spec_version_group_by_spec() -> None:
    pending = [task(f"t{i}", version=None) for i in range(4)]
    plan = schedule([node("n1"), node("n2")], {}, pending)
    assert per_node(plan.assignments) == {"n1": 2, "n2": 2}


def test_spec_versions_are_separate_groups_but_share_counts() -> None:
    pending = tasks(2, version=1, prefix="v1") + tasks(2, version=2, prefix="v2")
    plan = schedule([*three_nodes(), node("n4")], {}, pending)
    assert per_node(plan.assignments) == {"n1": 1, "n2": 1, "n3": 1, "n4": 1}


def test_later_group_of_same_service_sees_counts_from_earlier_group() -> None:
    nodes = [node("n1"), node("n2"), node("n3"), node("n4")]
    existing = {nid: [running(task(f"o{nid}{i}", "other"), nid) for i in range(2)] for nid in ("n3", "n4")}
    pending = tasks(2, version=1, prefix="v1") + tasks(2, version=2, prefix="v2")
    plan = schedule(nodes, existing, pending)
    assert [plan.assignments[t.id] for t in pending] == ["n1", "n2", "n3", "n4"]


def test_determinism_independent_of_input_order() -> None:
    nodes = zoned_nodes() + [node(f"w{i}", cpu=3 * CPU) for i in range(5)]
    pending = (
        tasks(13, "a", cpu=CPU)
        + tasks(9, "b", prefs=["node.labels.zone"])
        + tasks(4, "c", max_replicas=1)
        + [task("g1", "g", node_id="w1")]
    )
    first = schedule(nodes, {}, pending)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = pending[:]
        rng.shuffle(shuffled)
        again = schedule(list(reversed(nodes)), {}, shuffled)
        assert again.assignments == first.assignments
        assert again.unschedulable == first.unschedulable


def test_schedule_does_not_mutate_inputs() -> None:
    nodes = three_nodes()
    pending = tasks(3, cpu=1)
    before = [t.SerializeToString() for t in pending] + [n.SerializeToString() for n in nodes]
    schedule(nodes, {}, pending)
    assert before == [t.SerializeToString() for t in pending] + [n.SerializeToString() for n in nodes]


def test_check_node() -> None:
    n = node("n1", cpu=2 * CPU)
    on_node = [running(task("o"), "n1")]
    assert check_node(n, on_node, task("t", cpu=CPU)) is None
    assert check_node(n, on_node, task("t", cpu=3 * CPU)) == "insufficient resources on 1 node"
    assert check_node(n, [], task("t", constraints=["node.role==manager"])) == (
        "scheduling constraints not satisfied on 1 node"
    )
    assert check_node(node("n2", availability=DRAIN), [], task("t")) == "1 node not available for new tasks"
    # Ports of tasks without their own endpoint come from the services map.
    svcs = {"dns": service("dns", published=[(53, HOST, UDP)])}
    on_node = [running(task("d0", "dns"), "n1")]
    assert check_node(n, on_node, task("t", "dns"), svcs) == "host-mode port already in use on 1 node"
    assert check_node(n, on_node, task("t", "dns")) is None


def test_recheck_catches_changes_since_the_snapshot() -> None:
    pending = tasks(3, cpu=CPU)
    plan = schedule([node("n1", cpu=2 * CPU), node("n2", cpu=2 * CPU)], {}, pending)
    planned = [(t, plan.assignments[t.id]) for t in pending]
    # Meanwhile n2 was drained and n1 got a big task.
    latest = [node("n1", cpu=2 * CPU), node("n2", cpu=2 * CPU, availability=DRAIN)]
    existing = {"n1": [running(task("big", "other", cpu=CPU), "n1")]}
    rejected = recheck(latest, existing, planned)
    on_n1 = [t.id for t, nid in planned if nid == "n1"]
    on_n2 = [t.id for t, nid in planned if nid == "n2"]
    assert rejected[on_n1[-1]] == "insufficient resources on 1 node"
    assert all(rejected[t] == "1 node not available for new tasks" for t in on_n2)
    assert on_n1[0] not in rejected
    assert recheck([], {}, planned[:1]) == {planned[0][0].id: "node not found"}
