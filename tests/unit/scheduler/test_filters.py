"""Each filter, its explanation text, and the ordering of explanations."""

from __future__ import annotations

from swarm.api import types_pb2
from swarm.scheduler import schedule

from .factories import (
    DOWN,
    DRAIN,
    HOST,
    INGRESS,
    PAUSE,
    TCP,
    UDP,
    node,
    per_node,
    ports,
    running,
    service,
    task,
    tasks,
)

GB = 1 << 30
CPU = 1_000_000_000


def test_ready_filter_excludes_down_drained_paused_nodes() -> None:
    nodes = [
        node("n1", state=DOWN),
        node("n2", availability=DRAIN),
        node("n3", availability=PAUSE),
        node("n4"),
    ]
    plan = schedule(nodes, {}, tasks(3))
    assert set(plan.assignments.values()) == {"n4"}
    assert not plan.unschedulable


def test_ready_filter_explanation_plural_and_singular() -> None:
    plan = schedule([node("n1", state=DOWN), node("n2", availability=DRAIN)], {}, [task("t1")])
    assert plan.unschedulable == {"t1": "no suitable node (2 nodes not available for new tasks)"}
    plan = schedule([node("n1", availability=PAUSE)], {}, [task("t1")])
    assert plan.unschedulable == {"t1": "no suitable node (1 node not available for new tasks)"}


def test_no_nodes_at_all() -> None:
    assert schedule([], {}, [task("t1")]).unschedulable == {"t1": "no suitable node"}


def test_resources_exhaustion() -> None:
    nodes = [node(f"n{i}", cpu=2 * CPU, mem=4 * GB) for i in range(3)]
    plan = schedule(nodes, {}, tasks(8, cpu=CPU, mem=GB))
    assert sorted(per_node(plan.assignments).values()) == [2, 2, 2]
    assert len(plan.unschedulable) == 2
    assert set(plan.unschedulable.values()) == {"no suitable node (insufficient resources on 3 nodes)"}
    # The lowest slots are the ones placed.
    assert sorted(plan.unschedulable) == ["svc-00006", "svc-00007"]


def test_memory_reservation_counts_existing_tasks() -> None:
    nodes = [node("n1", mem=4 * GB), node("n2", mem=4 * GB)]
    existing = {"n1": [running(task("old", "other", mem=3 * GB), "n1")]}
    plan = schedule(nodes, existing, tasks(4, mem=GB))
    assert per_node(plan.assignments) == {"n1": 1, "n2": 3}
    plan = schedule(nodes, existing, tasks(6, mem=GB))
    assert plan.unschedulable == {"svc-00005": "no suitable node (insufficient resources on 2 nodes)"}


def test_no_reservation_means_no_resource_filter() -> None:
    plan = schedule([node("n1", cpu=0, mem=0)], {}, tasks(3))
    assert len(plan.assignments) == 3


def test_batch_reservations_carry_across_groups() -> None:
    nodes = [node("n1", cpu=2 * CPU)]
    pending = tasks(1, "a", cpu=CPU) + tasks(1, "b", cpu=CPU) + tasks(1, "c", cpu=CPU)
    plan = schedule(nodes, {}, pending)
    assert sorted(plan.assignments) == ["a-00000", "b-00000"]
    assert plan.unschedulable == {"c-00000": "no suitable node (insufficient resources on 1 node)"}


def test_constraint_filter_and_text() -> None:
    nodes = [node("n1", labels={"disk": "ssd"}), node("n2"), node("n3")]
    plan = schedule(nodes, {}, tasks(4, constraints=["node.labels.disk==ssd"]))
    assert per_node(plan.assignments) == {"n1": 4}
    plan = schedule(nodes, {}, tasks(1, constraints=["node.labels.disk==nvme"]))
    assert plan.unschedulable == {
        "svc-00000": "no suitable node (scheduling constraints not satisfied on 3 nodes)"
    }


def test_invalid_constraints_disable_the_filter_like_swarmkit() -> None:
    plan = schedule([node("n1")], {}, tasks(1, constraints=["bogus"]))
    assert plan.assignments == {"svc-00000": "n1"}


def test_platform_filter() -> None:
    nodes = [
        node("n1", os="linux", arch="x86_64"),
        node("n2", os="linux", arch="aarch64"),
        node("n3", os="windows"),
    ]
    plan = schedule(nodes, {}, tasks(2, platforms=[("linux", "amd64")]))
    assert per_node(plan.assignments) == {"n1": 2}  # x86_64 == amd64
    plan = schedule(nodes, {}, tasks(2, platforms=[("linux", "arm64"), ("windows", "")]))
    assert set(plan.assignments.values()) == {"n2", "n3"}
    plan = schedule(nodes, {}, tasks(1, platforms=[("linux", "s390x")]))
    assert plan.unschedulable == {"svc-00000": "no suitable node (unsupported platform on 3 nodes)"}


def test_host_port_filter_one_task_per_node() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    plan = schedule(nodes, {}, tasks(5, host_ports=[(8080, HOST, TCP)]))
    assert sorted(per_node(plan.assignments).values()) == [1, 1, 1]
    assert set(plan.unschedulable.values()) == {"no suitable node (host-mode port already in use on 3 nodes)"}


def test_host_port_conflicts_with_existing_tasks_and_protocols() -> None:
    nodes = [node("n1"), node("n2"), node("n3")]
    existing = {
        "n1": [running(task("o1", "other", host_ports=[(8080, HOST, TCP)]), "n1")],
        "n2": [running(task("o2", "other", host_ports=[(8080, HOST, UDP)]), "n2")],
        "n3": [running(task("o3", "other", host_ports=[(8080, INGRESS, TCP)]), "n3")],
    }
    plan = schedule(nodes, existing, tasks(3, host_ports=[(8080, HOST, TCP)]))
    assert sorted(plan.assignments.values()) == ["n2", "n3"]
    assert set(plan.unschedulable.values()) == {"no suitable node (host-mode port already in use on 3 nodes)"}


def test_host_ports_from_service_map() -> None:
    nodes = [node("n1"), node("n2")]
    svcs = {
        "web": service("web", published=[(80, HOST, TCP)]),
        "api": service("api", published=[(80, HOST, TCP)]),
    }
    existing = {"n1": [running(task("w0", "web"), "n1")]}
    plan = schedule(nodes, existing, tasks(2, "api"), services=svcs)
    assert plan.assignments == {"api-00000": "n2"}
    assert plan.unschedulable == {"api-00001": "no suitable node (host-mode port already in use on 2 nodes)"}
    # Without the service map nothing is known about ports.
    assert len(schedule(nodes, existing, tasks(2, "api")).assignments) == 2


def test_allocated_service_ports_win_over_spec() -> None:
    # The spec asks for a dynamic host port; the allocator filled in 30000 on the service endpoint.
    svc = service("web", published=[(0, HOST, TCP)])
    svc.endpoint.ports.extend(ports((30000, HOST, TCP)))
    existing = {"n1": [running(task("o", "other", host_ports=[(30000, HOST, TCP)]), "n1")]}
    plan = schedule([node("n1"), node("n2")], existing, tasks(2, "web"), services={"web": svc})
    assert plan.assignments == {"web-00000": "n2"}
    assert plan.unschedulable == {"web-00001": "no suitable node (host-mode port already in use on 2 nodes)"}


def test_dynamic_published_port_never_conflicts() -> None:
    plan = schedule([node("n1")], {}, tasks(3, host_ports=[(0, HOST, TCP)]))
    assert len(plan.assignments) == 3


def test_max_replicas_per_node() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    plan = schedule(nodes, {}, tasks(7, max_replicas=2))
    assert sorted(per_node(plan.assignments).values()) == [2, 2, 2]
    assert plan.unschedulable == {"svc-00006": "no suitable node (max replicas per node limit exceed)"}


def test_max_replicas_counts_existing_tasks() -> None:
    nodes = [node("n1"), node("n2")]
    existing = {"n1": [running(task("x", max_replicas=1), "n1")]}
    plan = schedule(nodes, existing, tasks(2, max_replicas=1))
    assert plan.assignments == {"svc-00000": "n2"}
    assert plan.unschedulable == {"svc-00001": "no suitable node (max replicas per node limit exceed)"}


def test_shutdown_tasks_do_not_count() -> None:
    existing = {"n1": [running(task("x", desired=types_pb2.SHUTDOWN), "n1")]}
    plan = schedule([node("n1")], existing, tasks(1, max_replicas=1))
    assert plan.assignments == {"svc-00000": "n1"}


def test_explanations_sorted_by_count_then_filter_order() -> None:
    # Equal counts keep the filter order: ready (1st) before constraints (4th).
    nodes = [
        node("n1", cpu=CPU),
        node("n2", cpu=CPU),
        node("n3", cpu=8 * CPU, labels={"zone": "b"}),
        node("n4", state=DOWN),
    ]
    plan = schedule(nodes, {}, tasks(1, cpu=2 * CPU, constraints=["node.labels.zone==a"]))
    assert plan.unschedulable == {
        "svc-00000": "no suitable node (insufficient resources on 2 nodes; "
        "1 node not available for new tasks; scheduling constraints not satisfied on 1 node)"
    }


def test_first_failing_filter_wins() -> None:
    # A drained node that also lacks resources only counts as "not available".
    plan = schedule([node("n1", availability=DRAIN, cpu=0)], {}, tasks(1, cpu=CPU))
    assert plan.unschedulable == {"svc-00000": "no suitable node (1 node not available for new tasks)"}
