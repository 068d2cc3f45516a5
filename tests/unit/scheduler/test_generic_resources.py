"""Generic resources: a node's named and discrete resources, a service's reserved counts; the
scheduler places only where enough are left and hands each task its own named values."""

from __future__ import annotations

from swarm.api import types_pb2
from swarm.scheduler import schedule

from .factories import node, task, tasks

GR = types_pb2.GenericResource


def named(kind: str, value: str) -> GR:
    return GR(named=GR.Named(kind=kind, value=value))


def discrete(kind: str, value: int) -> GR:
    return GR(discrete=GR.Discrete(kind=kind, value=value))


def gpu_node(node_id: str, *values: str, ssd: int = 0):  # type: ignore[no-untyped-def]
    n = node(node_id)
    n.description.resources.generic.extend(named("gpu", v) for v in values)
    if ssd:
        n.description.resources.generic.append(discrete("ssd", ssd))
    return n


def wanting(ts, **kinds: int):  # type: ignore[no-untyped-def]
    for t in ts:
        t.spec.resources.reservations.generic.extend(discrete(k, n) for k, n in kinds.items())
    return ts


def test_named_values_go_to_one_task_each_and_run_out() -> None:
    nodes = [gpu_node("n1", "GPU-0", "GPU-1", "GPU-2"), node("n2")]
    plan = schedule(nodes, {}, wanting(tasks(3, "svc"), gpu=1))
    assert sorted(plan.assignments.values()) == ["n1", "n1", "n1"]          # n2 has none
    given = sorted(g.named.value for gs in plan.generic.values() for g in gs)
    assert given == ["GPU-0", "GPU-1", "GPU-2"]
    plan = schedule(nodes, {}, wanting(tasks(4, "svc"), gpu=1))
    assert len(plan.assignments) == 3 and len(plan.unschedulable) == 1
    assert "insufficient resources on 2 nodes" in next(iter(plan.unschedulable.values()))


def test_values_held_by_running_tasks_are_not_given_again() -> None:
    n1 = gpu_node("n1", "GPU-0", "GPU-1")
    running = task("old", "svc", node_id="n1", state=types_pb2.RUNNING)
    running.assigned_generic_resources.append(named("gpu", "GPU-0"))
    plan = schedule([n1], {"n1": [running]}, wanting(tasks(2, "svc"), gpu=1))
    assert len(plan.assignments) == 1
    assert [g.named.value for gs in plan.generic.values() for g in gs] == ["GPU-1"]


def test_discrete_counts_and_tasks_without_generic_reservations() -> None:
    nodes = [gpu_node("n1", ssd=3)]
    plan = schedule(nodes, {}, wanting(tasks(2, "svc"), ssd=2))
    assert len(plan.assignments) == 1                                      # 2 + 2 > 3
    (only,) = plan.generic.values()
    assert [(g.discrete.kind, g.discrete.value) for g in only] == [("ssd", 2)]
    plain = schedule(nodes, {}, tasks(2, "other"))
    assert len(plain.assignments) == 2 and plain.generic == {}


def test_a_named_reservation_fits_no_node_as_swarmkits_has_enough_refuses_it() -> None:
    """dockerd stores a service that reserves a named resource (swarmkit's validateResources drops
    ValidateTask's error), and its scheduler finds no node: HasEnough takes discrete ones only."""
    nodes = [gpu_node("n1", "GPU-0", "GPU-1"), node("n2")]
    ts = tasks(1, "svc")
    ts[0].spec.resources.reservations.generic.append(named("gpu", "GPU-0"))
    plan = schedule(nodes, {}, ts)
    assert plan.assignments == {}
    assert "insufficient resources on 2 nodes" in next(iter(plan.unschedulable.values()))
