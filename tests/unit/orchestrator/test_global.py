"""plan_global: one task per eligible node, shutdowns on ineligible nodes."""

from __future__ import annotations

from swarm.api.objects_pb2 import NodeStatus
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import COMPLETE, FAILED, SHUTDOWN, RestartPolicy
from swarm.orchestrator.global_ import plan_global

from .factories import node, service, task


def test_one_task_per_eligible_node() -> None:
    nodes = [node("n1"), node("n2"), node("n3", availability=NodeSpec.PAUSE),
             node("n4", state=NodeStatus.UNKNOWN), node("n5", labels={"zone": "b"})]
    svc = service(mode_global=True, constraints=["node.labels.zone!=b"])
    plan = plan_global(svc, nodes, [task("t1", node="n1")], 0.0)
    assert plan.create_on == ["n2"] and plan.shutdown == []


def test_shutdown_on_drained_down_removed_and_mismatched_nodes() -> None:
    nodes = [node("n1", availability=NodeSpec.DRAIN), node("n2", state=NodeStatus.DOWN),
             node("n3", labels={"zone": "b"}), node("n4", availability=NodeSpec.PAUSE)]
    svc = service(mode_global=True, constraints=["node.labels.zone!=b"])
    tasks = [task("t1", node="n1"), task("t2", node="n2"), task("t3", node="n3"), task("t4", node="n4"),
             task("t5", node="gone"), task("old", node="n1", desired=SHUTDOWN, state=SHUTDOWN)]
    plan = plan_global(svc, nodes, tasks, 0.0)
    assert plan.create_on == []
    assert sorted(plan.shutdown) == [("t1", "node drained"), ("t2", "node down"),
                                     ("t3", "node no longer satisfies the constraints"),
                                     ("t5", "node removed")]


def test_bad_constraints_match_nothing() -> None:
    svc = service(mode_global=True, constraints=["nonsense"])
    assert plan_global(svc, [node("n1")], [], 0.0).create_on == []


def test_no_new_task_where_the_policy_said_no_restart() -> None:
    none = service(mode_global=True, condition=RestartPolicy.RESTART_ON_NONE)
    ended = task("t", node="n1", state=FAILED, desired=SHUTDOWN, svc=none)
    assert plan_global(none, [node("n1")], [ended], 0.0).create_on == []
    on_failure = service(mode_global=True, condition=RestartPolicy.RESTART_ON_FAILURE)
    done = task("t", node="n1", state=COMPLETE, desired=SHUTDOWN, svc=on_failure)
    assert plan_global(on_failure, [node("n1")], [done], 0.0).create_on == []
    # shut down because the node was drained, now active again: a new task
    anyp = service(mode_global=True)
    drained = task("t", node="n1", state=SHUTDOWN, desired=SHUTDOWN, svc=anyp)
    assert plan_global(anyp, [node("n1")], [drained], 0.0).create_on == ["n1"]
    # a new spec version gets a task even where the old one ended for good
    assert plan_global(service(mode_global=True, version=2, condition=RestartPolicy.RESTART_ON_NONE),
                       [node("n1")], [ended], 0.0).create_on == ["n1"]


def test_replicated_service_ignored() -> None:
    assert plan_global(service(replicas=2), [node("n1")], [], 0.0).create_on == []
