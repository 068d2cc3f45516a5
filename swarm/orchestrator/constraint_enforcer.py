"""The constraint enforcer: rejects running tasks whose node no longer fits them.

Design notes
------------
A task is placed once and never moved (reference §4.3), so when a node changes under its tasks --
a label removed, a role changed, its reported resources shrank -- something must notice. swarmkit's
``orchestrator/constraintenforcer`` does; so does this, on every node change (and over all nodes
when a leadership term starts). The decision is a pure function, :func:`rejections`:

* only replicated tasks that are wanted and not over yet (desired <= RUNNING, observed
  ASSIGNED..RUNNING) are considered; global tasks on a node that stopped matching are the global
  orchestrator's (it shuts them down and does not replace them);
* a task whose own placement constraints no longer match the node is rejected;
* if the node's reported capacity (a kind it reports as 0 is not checked) no longer holds the
  reservations of its tasks, the oldest tasks keep their place and the later ones that do not fit
  are rejected.

Rejecting writes the *observed* state REJECTED with swarmkit's texts (message ``task rejected by
constraint enforcer``, err ``assigned node no longer meets constraints``) -- one of the few
observed states a manager writes. The restart supervisor then sees an ended task and replaces it
by the restart policy, and the agent, which keeps its own observed state, stops the container
when the old task's desired state becomes SHUTDOWN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from swarm.api.objects_pb2 import Node, Task
from swarm.api.types_pb2 import ASSIGNED, REJECTED, RUNNING
from swarm.reconciler.base import Reconciler
from swarm.reconciler.clock import ts_seconds
from swarm.reconciler.tasks import describe, set_status, state_name
from swarm.reconciler.writes import Built, Change, commit
from swarm.scheduler import ConstraintError, node_matches, parse_constraints
from swarm.store import Event, typed
from swarm.store.typed import Reader

MESSAGE = "task rejected by constraint enforcer"
ERR = "assigned node no longer meets constraints"


def _live(t: Task) -> bool:
    return bool(t.slot) and t.desired_state <= RUNNING and ASSIGNED <= t.status.state <= RUNNING


def _matches(t: Task, node: Node) -> bool:
    try:
        return node_matches(parse_constraints(t.spec.placement.constraints), node)
    except ConstraintError:
        return True  # validated at create time; never reject on our own parse failure


def rejections(node: Node, tasks: Sequence[Task]) -> dict[str, str]:
    """Task id -> why (``constraints`` or ``resources``) for the tasks on ``node`` that no longer
    fit it, in decision order."""
    live = sorted((t for t in tasks if t.node_id == node.id and _live(t)),
                  key=lambda t: (ts_seconds(t.meta.created_at), t.id))
    out = {t.id: "constraints" for t in live if not _matches(t, node)}
    cap = node.description.resources
    cpu_left, mem_left = cap.nano_cpus, cap.memory_bytes
    for t in live:
        if t.id in out:
            continue
        res = t.spec.resources.reservations
        over = (cap.nano_cpus > 0 and res.nano_cpus > cpu_left) or \
               (cap.memory_bytes > 0 and res.memory_bytes > mem_left)
        if over:
            out[t.id] = "resources"
        else:
            cpu_left -= res.nano_cpus
            mem_left -= res.memory_bytes
    return out


class ConstraintEnforcer(Reconciler):
    name = "constraint enforcer"

    async def reconcile_all(self) -> None:
        await self._enforce([n.id for n in Reader(self.store).list(Node)])

    async def handle(self, events: Sequence[Event]) -> None:
        ids = [ev.id for ev in events if ev.table == "nodes" and ev.kind != "delete"]
        if ids:
            await self._enforce(list(dict.fromkeys(ids)))

    async def _enforce(self, node_ids: Sequence[str]) -> None:
        r = Reader(self.store.view())
        now = self.clock()
        changes: list[Change] = []
        for nid in node_ids:
            node = r.get(Node, nid)
            if node is None:
                continue
            for tid, why in rejections(node, r.tasks_on_node(nid)).items():
                changes.append(Change(_reject(tid, nid, why, now), key=tid))
        if changes:
            await commit(self.store, changes, logger=self.log)


def _reject(task_id: str, node_id: str, why: str, now: float) -> Callable[[Reader], Built | None]:
    def build(r: Reader) -> Built | None:
        # re-check this task only: still live on a node that still exists (and, for a constraint
        # decision, still does not match); a resource decision stands as made
        node, t = r.get(Node, node_id), r.get(Task, task_id)
        if node is None or t is None or t.node_id != node_id or not _live(t):
            return None
        if why == "constraints" and _matches(t, node):
            return None
        old, new = set_status(t, REJECTED, MESSAGE, now, err=ERR)
        return [typed.update(t)], [f"{describe(t)}: state {state_name(old)} -> {state_name(new)} "
                                   f"({ERR}: {why})"]
    return build


__all__ = ["ERR", "MESSAGE", "ConstraintEnforcer", "rejections"]
