"""Nodes through the control API's handlers (reference §1.7, §1.9, §7.4): inspect and list with
filters, update with a version check, demotion rules (last manager, quorum), removal rules."""

from __future__ import annotations

import pytest

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Node, NodeStatus, Task
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import COMPLETE, MANAGER, ORPHANED, RUNNING, WORKER
from swarm.controlapi import nodes
from swarm.store import typed

from .conftest import Swarm
from .helpers import call, make_node, refused, snapshot


def add(swarm: Swarm, *new: Node) -> None:
    call(lambda ctx, _: ctx.apply([typed.create(n) for n in new]), swarm.ctx, None)


def node(swarm: Swarm, nid: str) -> Node:
    n = swarm.ctx.read.get(Node, nid)
    assert n is not None
    return n


def update_req(n: Node, **spec_changes: object) -> c.UpdateNodeRequest:
    req = c.UpdateNodeRequest(node_id=n.id, spec=n.spec)
    req.node_version.index = n.meta.version.index
    for k, v in spec_changes.items():
        setattr(req.spec, k, v)
    return req


def revoked(swarm: Swarm) -> set[str]:
    cl = swarm.ctx.read.cluster()
    assert cl is not None
    return {r.serial for r in cl.revoked_certificates}


# ---- get and list --------------------------------------------------------------------------


def test_get_by_id_hostname_and_prefix(swarm: Swarm) -> None:
    add(swarm, make_node("wrk1" + "0" * 21, hostname="worker1"))
    w = node(swarm, "wrk1" + "0" * 21)
    for ref in (w.id, "worker1", "wrk1"):
        assert call(nodes.get_node, swarm.ctx, c.GetNodeRequest(node_id=ref)).node == w
    refused(nodes.get_node, swarm.ctx, c.GetNodeRequest(node_id="nope"), "NOT_FOUND", "no such node: nope")


def test_get_ambiguous_hostname_and_prefix(swarm: Swarm) -> None:
    add(swarm, make_node("abc1" + "0" * 21, hostname="twin"), make_node("abc2" + "0" * 21, hostname="twin"))
    refused(nodes.get_node, swarm.ctx, c.GetNodeRequest(node_id="twin"),
            "INVALID_ARGUMENT", "node twin is ambiguous (2 matches found)")
    refused(nodes.get_node, swarm.ctx, c.GetNodeRequest(node_id="abc"),
            "INVALID_ARGUMENT", "multiple nodes found with provided prefix: abc")


def test_list_filters(swarm: Swarm) -> None:
    w1 = make_node("w1", hostname="worker1")
    w1.spec.annotations.labels["zone"] = "a"
    w1.description.engine_labels["ssd"] = "yes"
    w2 = make_node("w2", hostname="worker2")
    w2.spec.annotations.labels["zone"] = "b"
    w2.spec.membership = NodeSpec.PENDING
    add(swarm, w1, w2)
    before = snapshot(swarm.store)

    def ls(**kw: object) -> list[str]:
        req = c.ListNodesRequest(filters=c.ListNodesRequest.Filters(**kw))  # type: ignore[arg-type]
        return sorted(n.id for n in call(nodes.list_nodes, swarm.ctx, req).nodes)

    assert ls() == ["mgr1", "w1", "w2"]
    assert ls(names=["worker"]) == ["w1", "w2"]                  # reference §1.7: partial hostname
    assert ls(names=["ker2"]) == ["w2"]
    assert ls(id_prefixes=["w"]) == ["w1", "w2"]
    assert ls(roles=[MANAGER]) == ["mgr1"]
    assert ls(roles=[WORKER]) == ["w1", "w2"]
    assert ls(memberships=[NodeSpec.PENDING]) == ["w2"]
    assert ls(node_labels={"zone": ""}) == ["w1", "w2"]
    assert ls(node_labels={"zone": "b"}) == ["w2"]
    assert ls(labels={"ssd": ""}) == ["w1"]                      # engine labels
    assert ls(labels={"ssd": "no"}) == []
    assert ls(roles=[WORKER], node_labels={"zone": "a"}) == ["w1"]
    assert snapshot(swarm.store) == before


# ---- update --------------------------------------------------------------------------------


def test_update_availability_and_labels(swarm: Swarm) -> None:
    add(swarm, make_node("w1"))
    w = node(swarm, "w1")
    swarm.clock.now += 30
    req = update_req(w, availability=NodeSpec.DRAIN)
    req.spec.annotations.labels["zone"] = "a"
    out = call(nodes.update_node, swarm.ctx, req).node
    assert out.spec.availability == NodeSpec.DRAIN and dict(out.spec.annotations.labels) == {"zone": "a"}
    assert out.meta.updated_at.seconds == int(swarm.clock.now)
    assert out.meta.version.index == swarm.store.index and out == node(swarm, "w1")
    req = update_req(out)
    del req.spec.annotations.labels["zone"]
    assert not call(nodes.update_node, swarm.ctx, req).node.spec.annotations.labels


def test_update_with_a_stale_version_is_refused(swarm: Swarm) -> None:
    add(swarm, make_node("w1"), make_node("m2", manager=True, serials=["m2a"]))
    w, m2 = node(swarm, "w1"), node(swarm, "m2")
    call(nodes.update_node, swarm.ctx, update_req(w, availability=NodeSpec.PAUSE))
    call(nodes.update_node, swarm.ctx, update_req(m2, availability=NodeSpec.PAUSE))
    refused(nodes.update_node, swarm.ctx, update_req(w, availability=NodeSpec.DRAIN),
            "FAILED_PRECONDITION", "update out of sequence")
    refused(nodes.update_node, swarm.ctx, update_req(m2, desired_role=WORKER),   # a demotion too
            "FAILED_PRECONDITION", "update out of sequence")


def test_promote_sets_the_desired_role_only(swarm: Swarm) -> None:
    # reference §7.4: the role itself changes when the node has its manager certificate
    add(swarm, make_node("w1", serials=["aa"]))
    out = call(nodes.update_node, swarm.ctx, update_req(node(swarm, "w1"), desired_role=MANAGER)).node
    assert out.spec.desired_role == MANAGER and out.role == WORKER
    assert revoked(swarm) == set()


def test_the_last_manager_cannot_be_demoted(swarm: Swarm) -> None:
    refused(nodes.update_node, swarm.ctx, update_req(node(swarm, "mgr1"), desired_role=WORKER),
            "FAILED_PRECONDITION", "attempting to demote the last manager of the swarm")


def test_demote_sets_the_desired_role_and_revokes_manager_certificates(swarm: Swarm) -> None:
    add(swarm, make_node("m2", manager=True, serials=["m2a"]), make_node("m3", manager=True))
    index = swarm.store.index
    out = call(nodes.update_node, swarm.ctx, update_req(node(swarm, "m2"), desired_role=WORKER)).node
    assert out.spec.desired_role == WORKER and out.role == MANAGER     # role manager finishes it
    assert revoked(swarm) == {"m2a"}
    assert swarm.store.index == index + 1                                # node and cluster, one write


def test_demote_that_would_lose_quorum_is_refused(swarm: Swarm) -> None:
    add(swarm, make_node("m2", manager=True), make_node("m3", manager=True))
    swarm.raft.unreachable.add("m3")
    refused(nodes.update_node, swarm.ctx, update_req(node(swarm, "m2"), desired_role=WORKER),
            "FAILED_PRECONDITION", "can't remove member from the raft: this would result in a loss of quorum")
    # demoting the unreachable one leaves two reachable of two: allowed
    out = call(nodes.update_node, swarm.ctx, update_req(node(swarm, "m3"), desired_role=WORKER)).node
    assert out.spec.desired_role == WORKER


def test_update_of_an_unknown_node_is_not_found(swarm: Swarm) -> None:
    refused(nodes.update_node, swarm.ctx, c.UpdateNodeRequest(node_id="nope"),
            "NOT_FOUND", "no such node: nope")


# ---- remove --------------------------------------------------------------------------------


def test_a_manager_cannot_be_removed_even_with_force(swarm: Swarm) -> None:
    add(swarm, make_node("m2", manager=True, state=NodeStatus.DOWN))
    for force in (False, True):
        refused(nodes.remove_node, swarm.ctx, c.RemoveNodeRequest(node_id="m2", force=force),
                "FAILED_PRECONDITION", "node m2 is a cluster manager and is a member of the raft "
                "cluster. It must be demoted to worker before removal")


def test_a_ready_node_is_not_removed_without_force(swarm: Swarm) -> None:
    add(swarm, make_node("w1"))
    refused(nodes.remove_node, swarm.ctx, c.RemoveNodeRequest(node_id="w1"),
            "FAILED_PRECONDITION", "node w1 is not down and can't be removed")


def test_force_removes_a_ready_node_orphans_its_tasks_and_revokes_it(swarm: Swarm) -> None:
    add(swarm, make_node("w1", serials=["w1a", "w1b"]))
    tasks = [Task(id="live", service_id="s", slot=1, node_id="w1"),
             Task(id="done", service_id="s", slot=2, node_id="w1"),
             Task(id="other", service_id="s", slot=3, node_id="mgr1")]
    tasks[0].status.state = RUNNING
    tasks[1].status.state = COMPLETE
    tasks[2].status.state = RUNNING
    call(lambda ctx, _: ctx.apply([typed.create(t) for t in tasks]), swarm.ctx, None)
    index = swarm.store.index
    call(nodes.remove_node, swarm.ctx, c.RemoveNodeRequest(node_id="w1", force=True))
    assert swarm.store.index == index + 1
    assert swarm.ctx.read.get(Node, "w1") is None
    states = {t.id: (t.status.state, t.status.message) for t in swarm.ctx.read.list(Task)}
    assert states == {"live": (ORPHANED, "node removed"), "done": (COMPLETE, ""),
                      "other": (RUNNING, "")}
    cl = swarm.ctx.read.cluster()
    assert cl is not None and list(cl.removed_nodes) == ["w1"]
    assert revoked(swarm) == {"w1a", "w1b"}


@pytest.mark.parametrize("state", [NodeStatus.DOWN, NodeStatus.UNKNOWN, NodeStatus.DISCONNECTED])
def test_a_node_that_is_not_ready_is_removed_without_force(swarm: Swarm, state: int) -> None:
    # reference §1.9: the check is "state == READY without --force"
    add(swarm, make_node("w1", state=state))
    call(nodes.remove_node, swarm.ctx, c.RemoveNodeRequest(node_id="w1"))
    assert swarm.ctx.read.get(Node, "w1") is None


def test_removing_an_unknown_node_is_not_found(swarm: Swarm) -> None:
    refused(nodes.remove_node, swarm.ctx, c.RemoveNodeRequest(node_id="nope", force=True),
            "NOT_FOUND", "no such node: nope")
