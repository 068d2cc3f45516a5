"""Batched task placement: a pure function from a snapshot to a :class:`Plan` (reference §4.3).

Design notes
------------
Like Nomad's scheduler, :func:`schedule` reads a read-only snapshot (nodes, the non-terminal
tasks on each node, the pending tasks, the services) and returns a plan; it never touches the
store or the protobuf objects it is given. The leader applies the plan and, before committing,
re-checks it against the latest state (:func:`recheck` runs the same filters for that).

Order of work, following swarmkit's ``tick()``:

1. Pending tasks with desired state SHUTDOWN or beyond are never placed; they are listed in
   ``Plan.shutdown`` (a never-scheduled task the orchestrator no longer wants simply ends).
2. Pre-assigned tasks (global services: ``node_id`` already set) are checked against the
   filters for their own node only. A fit goes into ``assignments``; a misfit stays pending with
   the bare explanation (swarmkit's ``taskFitNode`` sets ``Err = pipeline.Explain()``, e.g.
   ``1 node not available for new tasks``). Tasks naming an unknown node are left untouched.
3. The rest are grouped by (service ID, spec version) -- tasks without a spec version by their
   serialized spec -- and each group is placed in one pass (swarmkit's ``scheduleTaskGroup``).
   Groups run in a deterministic order (service ID, version); inside a group, tasks by (slot, ID).

Placing one group:

* Static filters (ready, constraints, platform) run once per node per distinct
  constraint/platform set; dynamic filters (resources, host ports, max replicas) once up front
  and again only when a node reaches the top of a heap.
* Placement preferences build a tree: each ``spread=node.labels.X`` / ``engine.labels.X`` level
  splits nodes by label value (nodes without the label share the ``""`` branch). A level's tasks
  are water-filled across its branches so the per-branch counts of this service become as even
  as possible (counts include tasks on every node of the branch, as in swarmkit); spare shares go
  to the branches with the lowest key first. A branch that takes less than its share is full and
  the leftover is spread again over the others.
* A leaf is a binary heap keyed by (failure penalty, tasks of this service, tasks in total,
  node ID): each task goes to the top node, whose key is then bumped in place (``heapreplace``).
  A node rejected by a dynamic filter is popped for good: within a group those filters only get
  stricter. The penalty is the recent failure count of (service, node) once it reaches
  :data:`MAX_FAILURES` (swarmkit: 5 failures in 5 minutes; the caller counts the window), so
  faulty nodes go last. Cost: O(N) per group plus O(T log N) for T tasks.
* Whatever is left gets ``no suitable node (<explanation>)``, where the explanation counts, for
  each node, the first filter that rejects it in the state reached after placing the group.

Every task placed in the batch is accounted on its node at once (reservations, ports, counts),
so later tasks and later groups see it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from swarm.api import objects_pb2, types_pb2
from swarm.api.types_pb2 import GenericResource

from .constraint import ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX
from .filters import NodeInfo, TaskRequirements, explain, first_failing_filter

__all__ = ["MAX_FAILURES", "Plan", "check_node", "recheck", "schedule"]

MAX_FAILURES = 5
_SHUTDOWN = types_pb2.SHUTDOWN

Task = objects_pb2.Task
Node = objects_pb2.Node
Service = objects_pb2.Service
FailureCounts = Mapping[tuple[str, str], int]
_Entry = tuple[int, int, int, str, NodeInfo]


@dataclass(slots=True)
class Plan:
    """The result of one scheduling pass. Task IDs absent from all three were left untouched."""

    assignments: dict[str, str] = field(default_factory=dict)
    """task ID -> node ID, in the order the decisions were made."""
    unschedulable: dict[str, str] = field(default_factory=dict)
    """task ID -> ``Status.Err`` text for tasks that stay PENDING."""
    shutdown: list[str] = field(default_factory=list)
    """Pending tasks with desired state >= SHUTDOWN: set their state to SHUTDOWN, never place."""
    generic: dict[str, list[GenericResource]] = field(default_factory=dict)
    """task ID -> the node's generic resources it was given (tasks that reserve some)."""


def _group_key(t: Task) -> tuple[str, int, int, bytes]:
    if t.HasField("spec_version"):
        return (t.service_id, 0, t.spec_version.index, b"")
    return (t.service_id, 1, 0, t.spec.SerializeToString(deterministic=True))


def _spread_label(descriptor: str) -> tuple[bool, str] | None:
    """(is_node_label, key) for a supported spread descriptor, else None (level ignored)."""
    d = descriptor.strip()
    if d[:7].lower() == "spread=":
        d = d[7:].strip()
    low = d.lower()
    if len(d) > len(NODE_LABEL_PREFIX) and low.startswith(NODE_LABEL_PREFIX):
        return True, d[len(NODE_LABEL_PREFIX) :]
    if len(d) > len(ENGINE_LABEL_PREFIX) and low.startswith(ENGINE_LABEL_PREFIX):
        return False, d[len(ENGINE_LABEL_PREFIX) :]
    return None


class _Branch:
    __slots__ = ("children", "heap", "key", "tasks")

    def __init__(self, key: str) -> None:
        self.key = key
        self.tasks = 0  # tasks of the service under this branch
        self.children: dict[str, _Branch] | None = None
        self.heap: list[_Entry] = []


def water_fill(counts: Sequence[int], keys: Sequence[str], m: int) -> list[int]:
    """Split ``m`` tasks so that ``counts[i] + share[i]`` is as even as possible.

    Branches already above the resulting level get nothing; the remainder goes to the lowest
    keys among the branches that are filled.
    """
    k = len(counts)
    order = sorted(range(k), key=lambda i: (counts[i], keys[i]))
    used, total = 1, counts[order[0]]
    while used < k and counts[order[used]] * used - total <= m:
        total += counts[order[used]]
        used += 1
    level, rem = divmod(total + m, used)
    shares = [0] * k
    filled = sorted(order[:used], key=lambda i: keys[i])
    for n, i in enumerate(filled):
        shares[i] = level - counts[i] + (1 if n < rem else 0)
    return shares


class _GroupRun:
    """Places the tasks of one group; ``pos`` walks the (sorted) task ID list."""

    __slots__ = ("assignments", "dynamic", "generic", "pos", "req", "task_ids")

    def __init__(self, req: TaskRequirements, task_ids: list[str], assignments: dict[str, str],
                 generic: dict[str, list[GenericResource]]) -> None:
        self.req = req
        self.task_ids = task_ids
        self.assignments = assignments
        self.generic = generic
        self.pos = 0
        self.dynamic = req.needs_resources or bool(req.ports) or req.max_replicas > 0

    def fill_leaf(self, heap: list[_Entry], want: int) -> int:
        req, ids, out = self.req, self.task_ids, self.assignments
        sid, dynamic, pos = req.service_id, self.dynamic, self.pos
        end = pos + want
        replace, pop = heapq.heapreplace, heapq.heappop
        while pos < end and heap:
            pen, svc, tot, nid, info = heap[0]
            if dynamic:
                if not req.dynamic_ok(info):
                    pop(heap)
                    continue
                claimed = info.assign(req)
                if claimed:
                    self.generic[ids[pos]] = claimed
            else:
                info.total += 1
                info.by_service[sid] = svc + 1
            out[ids[pos]] = nid
            pos += 1
            replace(heap, (pen, svc + 1, tot + 1, nid, info))
        got = pos - self.pos
        self.pos = pos
        return got

    def spread(self, branch: _Branch, want: int) -> int:
        if branch.children is None:
            got = self.fill_leaf(branch.heap, want)
        else:
            got = 0
            live = list(branch.children.values())
            while got < want and live:
                shares = water_fill([b.tasks for b in live], [b.key for b in live], want - got)
                full: set[int] = set()
                for i, (b, share) in enumerate(zip(live, shares, strict=True)):
                    if share:
                        n = self.spread(b, share)
                        got += n
                        if n < share:
                            full.add(i)
                live = [b for i, b in enumerate(live) if i not in full]
        branch.tasks += got
        return got


class _Scheduler:
    def __init__(
        self,
        nodes: Sequence[Node],
        tasks_by_node: Mapping[str, Sequence[Task]],
        services: Mapping[str, Service],
        failures: FailureCounts,
    ) -> None:
        self.services = services
        infos = {n.id: NodeInfo(n) for n in nodes}
        port_cache: dict[str, frozenset[tuple[int, int]]] = {}
        for nid, tasks in tasks_by_node.items():
            info = infos.get(nid)
            if info is not None and tasks:
                info.add_existing(tasks, services, port_cache)
        self.infos = infos
        self.order: list[NodeInfo] = [infos[k] for k in sorted(infos)]
        self.static_cache: dict[tuple[object, ...], list[NodeInfo]] = {}
        self.failures: dict[str, dict[str, int]] = {}
        for (sid, nid), count in failures.items():
            if count >= MAX_FAILURES:
                self.failures.setdefault(sid, {})[nid] = count
        self.reqs: dict[tuple[str, int, int, bytes], TaskRequirements] = {}
        self.plan = Plan()

    def requirements(self, key: tuple[str, int, int, bytes], task: Task) -> TaskRequirements:
        req = self.reqs.get(key)
        if req is None:
            req = self.reqs[key] = TaskRequirements(task, self.services.get(task.service_id))
        return req

    def statically_eligible(self, req: TaskRequirements) -> list[NodeInfo]:
        cached = self.static_cache.get(req.static_key)
        if cached is None:
            cached = [i for i in self.order if req.static_failure(i) is None]
            self.static_cache[req.static_key] = cached
        return cached

    def preassigned(self, task: Task, req: TaskRequirements) -> None:
        info = self.infos.get(task.node_id)
        if info is None:
            return
        failed = first_failing_filter(req, info)
        if failed is None:
            got = info.assign(req)
            if got:
                self.plan.generic[task.id] = got
            self.plan.assignments[task.id] = info.id
        else:
            self.plan.unschedulable[task.id] = explain({failed: 1})

    def build_tree(self, req: TaskRequirements, prefs: Iterable[str]) -> _Branch:
        root = _Branch("")
        sid = req.service_id
        penalties = self.failures.get(sid, {})
        levels = [lv for lv in (_spread_label(p) for p in prefs) if lv is not None]
        eligible = self.statically_eligible(req)
        dynamic = req.needs_resources or bool(req.ports) or req.max_replicas > 0
        if levels:
            ok = {i.id for i in eligible if not dynamic or req.dynamic_ok(i)}
            for info in self.order:
                count = info.by_service.get(sid, 0)
                node = info.node
                branch = root
                for is_node, label in levels:
                    labels = node.spec.annotations.labels if is_node else node.description.engine_labels
                    value = labels.get(label, "")
                    if branch.children is None:
                        branch.children = {}
                    nxt = branch.children.get(value)
                    if nxt is None:
                        nxt = branch.children[value] = _Branch(value)
                    branch = nxt
                    branch.tasks += count
                if info.id in ok:
                    branch.heap.append((penalties.get(info.id, 0), count, info.total, info.id, info))
            stack = [root]
            while stack:
                b = stack.pop()
                if b.children is None:
                    heapq.heapify(b.heap)
                else:
                    stack.extend(b.children.values())
        else:
            cands = [i for i in eligible if req.dynamic_ok(i)] if dynamic else eligible
            if penalties:
                heap = [(penalties.get(i.id, 0), i.by_service.get(sid, 0), i.total, i.id, i) for i in cands]
            else:
                heap = [(0, i.by_service.get(sid, 0), i.total, i.id, i) for i in cands]
            heapq.heapify(heap)
            root.heap = heap
        return root

    def group(self, tasks: list[Task], req: TaskRequirements) -> None:
        decorated = sorted((t.slot, t.id) for t in tasks)
        ids = [tid for _, tid in decorated]
        prefs = [p.spread_descriptor for p in tasks[0].spec.placement.preferences]
        run = _GroupRun(req, ids, self.plan.assignments, self.plan.generic)
        run.spread(self.build_tree(req, prefs), len(ids))
        if run.pos < len(ids):
            counts: dict[str, int] = {}
            for info in self.order:
                failed = first_failing_filter(req, info)
                if failed is not None:
                    counts[failed] = counts.get(failed, 0) + 1
            why = explain(counts)
            err = f"no suitable node ({why})" if why else "no suitable node"
            for tid in ids[run.pos :]:
                self.plan.unschedulable[tid] = err


def schedule(
    nodes: Sequence[Node],
    tasks_by_node: Mapping[str, Sequence[Task]],
    pending: Sequence[Task],
    services: Mapping[str, Service] | None = None,
    failures: FailureCounts | None = None,
) -> Plan:
    """Decide where ``pending`` tasks go.

    ``tasks_by_node`` holds each node's current non-terminal tasks (for counts, reservations
    and host ports). ``services`` (by ID) supplies published ports when tasks carry no endpoint
    of their own. ``failures`` maps (service ID, node ID) to recent failures (the caller applies
    the 5-minute window); nodes with :data:`MAX_FAILURES` or more go last for that service.
    """
    s = _Scheduler(nodes, tasks_by_node, services or {}, failures or {})
    groups: dict[tuple[str, int, int, bytes], list[Task]] = {}
    for t in pending:
        if t.desired_state >= _SHUTDOWN:
            s.plan.shutdown.append(t.id)
            continue
        key = _group_key(t)
        if t.node_id:
            s.preassigned(t, s.requirements(key, t))
            continue
        bucket = groups.get(key)
        if bucket is None:
            groups[key] = [t]
        else:
            bucket.append(t)
    for key in sorted(groups):
        tasks = groups[key]
        s.group(tasks, s.requirements(key, tasks[0]))
    return s.plan


def check_node(
    node: Node,
    tasks_on_node: Sequence[Task],
    task: Task,
    services: Mapping[str, Service] | None = None,
) -> str | None:
    """Explanation if ``task`` cannot go on ``node`` now (e.g. ``1 node not available for new
    tasks``), else None. For one-off checks such as the global orchestrator's; ``services``
    (by ID) supplies published ports for tasks that carry no endpoint of their own."""
    services = services or {}
    info = NodeInfo(node)
    info.add_existing(tasks_on_node, services, {})
    failed = first_failing_filter(TaskRequirements(task, services.get(task.service_id)), info)
    return None if failed is None else explain({failed: 1})


def recheck(
    nodes: Sequence[Node],
    tasks_by_node: Mapping[str, Sequence[Task]],
    planned: Sequence[tuple[Task, str]],
    services: Mapping[str, Service] | None = None,
) -> dict[str, str]:
    """Re-run the filters for planned (task, node ID) pairs against the latest snapshot.

    Pairs are applied cumulatively in order. Returns task ID -> explanation for the pairs that
    no longer fit (node gone: ``node not found``); the leader drops those from the commit.
    """
    services = services or {}
    s = _Scheduler(nodes, tasks_by_node, services, {})
    rejected: dict[str, str] = {}
    for task, node_id in planned:
        info = s.infos.get(node_id)
        if info is None:
            rejected[task.id] = "node not found"
            continue
        req = s.requirements(_group_key(task), task)
        failed = first_failing_filter(req, info)
        if failed is None:
            info.assign(req)
        else:
            rejected[task.id] = explain({failed: 1})
    return rejected
