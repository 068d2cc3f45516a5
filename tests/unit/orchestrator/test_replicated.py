"""plan_replicated: slots, scale up/down order, dead slots, removal."""

from __future__ import annotations

from swarm.api.types_pb2 import ASSIGNED, FAILED, PENDING, REMOVE, RUNNING, SHUTDOWN
from swarm.orchestrator.replicated import plan_replicated, scale_down_order

from .factories import service, task


def test_fresh_service_fills_slots_1_to_n() -> None:
    plan = plan_replicated(service(replicas=3), [])
    assert plan.create_slots == [1, 2, 3] and not plan.remove and not plan.delete


def test_scale_up_fills_lowest_free_slots() -> None:
    tasks = [task("a", slot=1), task("b", slot=2), task("c", slot=4)]
    assert plan_replicated(service(replicas=5), tasks).create_slots == [3, 5]


def test_ready_task_keeps_its_slot_runnable() -> None:
    tasks = [task("old", slot=1, desired=SHUTDOWN, state=FAILED), task("new", slot=1, desired=384, state=0)]
    plan = plan_replicated(service(replicas=1), tasks)
    assert not plan.create_slots and not plan.remove and not plan.delete


def test_refilled_dead_slot_keeps_history_other_dead_slots_deleted() -> None:
    tasks = [task("a", slot=1), task("d1", slot=2, desired=SHUTDOWN, state=FAILED),
             task("d2", slot=3, desired=SHUTDOWN, state=FAILED)]
    plan = plan_replicated(service(replicas=2), tasks)
    assert plan.create_slots == [2]
    assert plan.delete == ["d2"]


def test_scale_down_removes_from_most_loaded_node_first() -> None:
    tasks = [task("a", slot=1, node="n1"), task("b", slot=2, node="n1"), task("c", slot=3, node="n1"),
             task("d", slot=4, node="n2"), task("e", slot=5, node="n3")]
    plan = plan_replicated(service(replicas=3), tasks)
    assert sorted(plan.remove) == ["b", "c"]
    assert plan.cause == "scale 5 -> 3"


def test_scale_down_prefers_non_running_on_a_tie() -> None:
    tasks = [task("a", slot=1, node="n1", state=ASSIGNED), task("b", slot=2, node="n1"),
             task("c", slot=3, node="n2"), task("d", slot=4, node="n2", state=ASSIGNED)]
    assert sorted(plan_replicated(service(replicas=2), tasks).remove) == ["a", "d"]


def test_scale_down_removes_unplaced_slots_first() -> None:
    tasks = [task("a", slot=1, node="n1"), task("b", slot=2, state=PENDING), task("c", slot=3, node="n1")]
    assert plan_replicated(service(replicas=2), tasks).remove == ["b"]
    order = scale_down_order({1: [tasks[0]], 2: [tasks[1]], 3: [tasks[2]]})
    assert order == [1, 3, 2]


def test_scale_to_zero_and_removed_service() -> None:
    tasks = [task("a", slot=1, node="n1"), task("b", slot=2, node="n2"),
             task("h", slot=2, node="n2", desired=SHUTDOWN, state=FAILED)]
    assert sorted(plan_replicated(service(replicas=0), tasks).remove) == ["a", "b"]
    gone = plan_replicated(None, tasks)
    assert sorted(gone.remove) == ["a", "b", "h"] and gone.cause == "service removed"
    pending = service(replicas=2)
    pending.pending_delete = True
    assert sorted(plan_replicated(pending, tasks).remove) == ["a", "b", "h"]
    already = [task("x", slot=1, desired=REMOVE)]
    assert plan_replicated(None, already).remove == []


def test_global_service_is_not_touched() -> None:
    plan = plan_replicated(service(mode_global=True), [task("a", node="n1")])
    assert not plan.create_slots and not plan.remove and not plan.delete


def test_service_without_mode_is_one_replica() -> None:
    assert plan_replicated(service(replicas=None), []).create_slots == [1]


def test_all_running_equal_count_no_change() -> None:
    tasks = [task(str(i), slot=i, node="n1") for i in range(1, 4)]
    plan = plan_replicated(service(replicas=3), tasks)
    assert not plan.create_slots and not plan.remove and not plan.delete
    assert tasks[0].status.state == RUNNING
