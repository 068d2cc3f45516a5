"""Which secrets and configs a node gets, and when (swarmkit ``manager/dispatcher/assignments.go``).

A node holds a secret or config only while one of its tasks needs it: a task assigned to the
node (in its assignment set) whose desired state is at most RUNNING and whose observed state is
not past RUNNING (not terminal). The dispatcher keeps one :class:`DependencyTracker` per
assignments stream:

* COMPLETE: every dependency of every such task (the node replaces what it holds);
* INCREMENTAL: an UPDATE for each dependency a task needs that the node does not have yet
  (the dispatcher puts these *before* the task changes of the same message, so the task finds
  them), a REMOVE (``Secret(id=...)`` / ``Config(id=...)`` only) for each one no task on the node
  needs any more (the task was deleted, reached a terminal state, or its desired state went past
  RUNNING -- a ``service rm`` or an update shutting it down).

A secret goes out with ``spec.data`` opened with the managers' secrets key and ``sealed`` empty
(the stream is mTLS to the node itself). One that cannot be opened -- no key on this manager, a
wrong key, a tampered value -- or that is not in the store is logged by id (never its value) and
left out; the task then fails on the node (``secret <id> not found``). It is tried again at the
next COMPLETE set, not on every commit.
"""

from __future__ import annotations

import logging

from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Config, Secret, Task
from swarm.api.types_pb2 import COMPLETE, RUNNING
from swarm.ca.sealing import SealingError, SecretsKey
from swarm.store import ObjectSource, typed

log = logging.getLogger(__name__)

SECRET = "secret"
CONFIG = "config"
#: the store tables the objects live in
TABLE = {SECRET: "secrets", CONFIG: "configs"}

Ref = tuple[str, str]          # (SECRET | CONFIG, object id)


def needs_dependencies(t: Task) -> bool:
    """Swarmkit's rule: the task may still run (desired <= RUNNING, or COMPLETE for a job's task;
    observed not terminal)."""
    return t.desired_state <= (COMPLETE if t.HasField("job_iteration") else RUNNING) \
        and t.status.state <= RUNNING


def task_refs(t: Task) -> frozenset[Ref]:
    c = t.spec.container
    return frozenset([(SECRET, s.secret_id) for s in c.secrets if s.secret_id]
                     + [(CONFIG, x.config_id) for x in c.configs if x.config_id])


def load(src: ObjectSource, ref: Ref, key: SecretsKey | None, node_id: str) -> d.Assignment | None:
    """The assignment item for ``ref`` as a node receives it; None (logged) if it cannot be had."""
    kind, oid = ref
    so = src.get(TABLE[kind], oid)
    if so is None:
        log.warning("node %s: %s %s is not in the store; not delivered", node_id, kind, oid)
        return None
    if kind == CONFIG:
        return d.Assignment(config=typed.decode_as(Config, so))
    s = typed.decode_as(Secret, so)
    if key is None:
        log.error("node %s: secret %s not delivered: this manager has no secrets key", node_id, oid)
        return None
    try:
        data = key.unseal(oid, s.sealed)
    except SealingError as e:        # the message names the id only, never the value
        log.error("node %s: secret %s not delivered: %s", node_id, oid, e)
        return None
    s.spec.data = data
    s.ClearField("sealed")
    return d.Assignment(secret=s)


def removal(ref: Ref) -> d.AssignmentChange:
    kind, oid = ref
    a = d.Assignment(secret=Secret(id=oid)) if kind == SECRET else d.Assignment(config=Config(id=oid))
    return d.AssignmentChange(assignment=a, action=d.AssignmentChange.REMOVE)


class DependencyTracker:
    """The secrets and configs one node's assignments stream has delivered; see the module
    docstring. Feed it the node's tasks (:meth:`task`, :meth:`forget`), then ask :meth:`changes`."""

    def __init__(self, node_id: str, key: SecretsKey | None) -> None:
        self.node_id = node_id
        self.key = key
        self.by_task: dict[str, frozenset[Ref]] = {}   # task id -> what it needs (needing tasks only)
        self.sent: set[Ref] = set()                    # what the node holds
        self.failed: set[Ref] = set()                  # needed, could not be delivered (logged)

    def reset(self) -> None:
        """A COMPLETE set follows: the node will hold exactly what the next changes() sends."""
        self.by_task.clear()
        self.sent.clear()
        self.failed.clear()

    def task(self, t: Task) -> None:
        """``t`` (assigned to the node) was created or changed."""
        refs = task_refs(t) if needs_dependencies(t) else frozenset()
        if refs:
            self.by_task[t.id] = refs
        else:
            self.by_task.pop(t.id, None)

    def forget(self, task_id: str) -> None:
        """The task left the node's assignment set (deleted)."""
        self.by_task.pop(task_id, None)

    def needed(self) -> set[Ref]:
        out: set[Ref] = set()
        for refs in self.by_task.values():
            out |= refs
        return out

    def changes(self, src: ObjectSource) -> tuple[list[d.AssignmentChange], list[d.AssignmentChange]]:
        """(UPDATEs for newly needed items, REMOVEs for items no longer needed), sorted."""
        need = self.needed()
        self.failed &= need
        updates: list[d.AssignmentChange] = []
        for ref in sorted(need - self.sent - self.failed):
            a = load(src, ref, self.key, self.node_id)
            if a is None:
                self.failed.add(ref)
                continue
            self.sent.add(ref)
            updates.append(d.AssignmentChange(assignment=a, action=d.AssignmentChange.UPDATE))
        gone = sorted(self.sent - need)
        self.sent -= set(gone)
        return updates, [removal(r) for r in gone]

