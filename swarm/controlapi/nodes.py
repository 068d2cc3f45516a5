"""Node reads and writes for the CLI: ls, inspect, update (availability, labels, role), rm.

Rules follow the reference (§1.9, §7.4): demoting the last manager is refused, so is a demotion
that would lose quorum; a node that is still Ready cannot be removed without --force; a manager
that is still a Raft member cannot be removed at all. The role change itself (leaving or joining
Raft, a new certificate) is carried out by the leader's role manager and the node's agent.
"""

from __future__ import annotations

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Node, NodeStatus
from swarm.api.types_pb2 import MANAGER, ORPHANED, RUNNING, WORKER
from swarm.ca.revocation import revoke
from swarm.controlapi.common import Context
from swarm.controlapi.errors import FailedPreconditionError, NotFoundError
from swarm.controlapi.resolve import resolve
from swarm.store import typed


def find_node(ctx: Context, ref: str) -> Node:
    return resolve(ref, ctx.read.list(Node), "node", lambda n: n.description.hostname)


def get_node(ctx: Context, req: c.GetNodeRequest) -> c.GetNodeResponse:
    return c.GetNodeResponse(node=find_node(ctx, req.node_id))


def list_nodes(ctx: Context, req: c.ListNodesRequest) -> c.ListNodesResponse:
    nodes = ctx.read.list(Node)
    f = req.filters
    if f.names:
        nodes = [n for n in nodes if any(x in n.description.hostname for x in f.names)]
    if f.id_prefixes:
        nodes = [n for n in nodes if any(n.id.startswith(p) for p in f.id_prefixes)]
    if f.roles:
        nodes = [n for n in nodes if n.role in f.roles]
    if f.memberships:
        nodes = [n for n in nodes if n.spec.membership in f.memberships]
    for k, v in f.node_labels.items():
        nodes = [n for n in nodes if k in n.spec.annotations.labels
                 and (not v or n.spec.annotations.labels[k] == v)]
    for k, v in f.labels.items():
        nodes = [n for n in nodes if k in n.description.engine_labels
                 and (not v or n.description.engine_labels[k] == v)]
    return c.ListNodesResponse(nodes=nodes)


async def update_node(ctx: Context, req: c.UpdateNodeRequest) -> c.UpdateNodeResponse:
    node = find_node(ctx, req.node_id)
    if req.node_version.index and req.node_version.index != node.meta.version.index:
        raise FailedPreconditionError("update out of sequence")
    demoting = node.spec.desired_role == MANAGER and req.spec.desired_role == WORKER
    if demoting:
        _check_demote(ctx, node)
        await _demote_and_revoke(ctx, node, req)
    else:
        node.spec.CopyFrom(req.spec)
        node.meta.updated_at.CopyFrom(ctx.now())
        await ctx.apply([typed.update(node)])
    return c.UpdateNodeResponse(node=ctx.read.get(Node, node.id))


async def _demote_and_revoke(ctx: Context, node: Node, req: c.UpdateNodeRequest) -> None:
    """The demotion and the revocation of the node's manager certificates in one write: from
    then on they are refused everywhere (the node fetches a worker certificate)."""

    def build() -> list[object]:
        fresh = ctx.read.get(Node, node.id)
        if fresh is None:
            raise NotFoundError(f"node {node.id} not found")
        fresh.spec.CopyFrom(req.spec)
        fresh.meta.updated_at.CopyFrom(ctx.now())
        actions: list[object] = [typed.update(fresh)]
        cluster = ctx.read.cluster()
        if cluster is not None:
            revoke(cluster, fresh, roles=(MANAGER,))
            actions.append(typed.update(cluster))
        return actions

    await ctx.apply_fresh(build)


def _check_demote(ctx: Context, node: Node) -> None:
    managers = [n for n in ctx.read.list(Node) if n.role == MANAGER or n.spec.desired_role == MANAGER]
    if len(managers) <= 1:
        raise FailedPreconditionError("attempting to demote the last manager of the swarm")
    remaining = [m for m in managers if m.id != node.id]
    reachable = sum(1 for m in remaining if ctx.raft.manager_reachable(m.id))
    if reachable < len(remaining) // 2 + 1:
        raise FailedPreconditionError(
            "can't remove member from the raft: this would result in a loss of quorum")


async def remove_node(ctx: Context, req: c.RemoveNodeRequest) -> c.RemoveNodeResponse:
    node = find_node(ctx, req.node_id)
    if node.role == MANAGER or node.spec.desired_role == MANAGER:
        raise FailedPreconditionError(
            f"node {node.id} is a cluster manager and is a member of the raft cluster. "
            "It must be demoted to worker before removal")
    if node.status.state == NodeStatus.READY and not req.force:
        raise FailedPreconditionError(f"node {node.id} is not down and can't be removed")
    nid = node.id

    def build() -> list[object]:
        r = ctx.read
        fresh = r.get(Node, nid)
        if fresh is None:
            raise NotFoundError(f"node {nid} not found")
        actions: list[object] = [typed.delete(fresh, expected_version=fresh.meta.version.index)]
        for t in r.tasks_on_node(nid):
            if t.status.state <= RUNNING:
                t.status.state = ORPHANED
                t.status.message = "node removed"
                t.status.timestamp.CopyFrom(ctx.now())
                actions.append(typed.update(t))
        cluster = r.cluster()
        if cluster is not None:
            cluster.removed_nodes.append(nid)
            revoke(cluster, fresh)
            actions.append(typed.update(cluster))
        return actions

    await ctx.apply_fresh(build)
    return c.RemoveNodeResponse()


