"""The executor seam between the agent and a container back end (swarmkit ``agent/exec``).

The agent's task state machine (``node.agent.taskmanager``) knows no runtime, and a runtime
knows no agent: they meet here. An :class:`Executor` describes the node and hands out one
:class:`Controller` per task; the controller does the container work for that one task.

Contract every executor keeps (checked by ``tests/unit/exec/test_conformance.py``, run against
each of them):

* ``prepare()`` pulls the image and creates the container; ``start()`` starts it. Both are
  idempotent: calling them again after success (or after an agent restart) is a no-op.
* ``wait()`` returns the exit code once the process has ended (at once if it already has);
  a non-zero code is *not* an exception. It raises :class:`~node.exec.errors.ExecError`
  only when it cannot tell (container gone, runtime unreachable). Cancelling ``wait()``
  leaves the container alone.
* ``shutdown(grace)`` sends the stop signal, waits ``grace`` seconds, then kills; it is a
  no-op when there is no container or it already exited. ``terminate()`` kills at once.
  ``remove()`` stops (if needed) and deletes the container; no-op when there is none.
* ``adopt()`` re-attaches to the task's container after the agent restarted (live restore):
  it returns what it found, or ``None`` if the task has no container on this node.
* Errors are from the :mod:`node.exec.errors` tree, so the caller can tell temporary from
  permanent without knowing the back end.
* Controllers may be cancelled in any ``await``; an executor whose work runs in threads must
  not let a cancelled call race a later one on the same container.
* ``update_networks(msg)`` takes the non-task items (networks, routes, peers) of every
  assignments message, before its tasks are applied: the executor owns what the node's
  data path looks like, the agent only passes the manager's view on. An executor without
  networking accepts and ignores them.

* Secrets and configs: the agent hands the executor its in-memory store once
  (``set_dependencies``, a :class:`Dependencies`); a controller reads a referenced value with
  ``executor.dependency(kind, id)`` when it creates the container and never keeps or logs it.

Container names follow Docker: ``<service>.<slot>.<taskID>`` (global services use the node
ID in place of the slot); the task's own ``annotations.name`` wins when the manager set one.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from swarm.api.dispatcher_pb2 import AssignmentsMessage
from swarm.api.objects_pb2 import NodeDescription, Task
from swarm.api.types_pb2 import ContainerStatus

DEFAULT_STOP_GRACE = 10.0

#: Docker's labels on task containers (used to find a task's container again).
LABEL_TASK_ID = "com.docker.swarm.task.id"
LABEL_TASK_NAME = "com.docker.swarm.task.name"
LABEL_SERVICE_ID = "com.docker.swarm.service.id"
LABEL_SERVICE_NAME = "com.docker.swarm.service.name"
LABEL_NODE_ID = "com.docker.swarm.node.id"


class Dependencies(Protocol):
    """The node's secrets and configs as the executor sees them (``node.agent.dependencies``)."""

    def get(self, kind: str, oid: str) -> bytes | None:
        """The value of ``kind`` ("secret" | "config") ``oid``; None if the node does not hold it."""
        ...

    @property
    def complete(self) -> bool:
        """A COMPLETE assignment set has arrived (a missing item will not come later)."""
        ...

    def templated(self, kind: str, oid: str) -> bool:
        """``kind`` ``oid`` is a Go template (``--template-driver golang``), rendered per task."""
        ...


class NoDependencies:
    """An executor's store before the agent gives it one: holds nothing, never will."""

    complete = True

    def get(self, kind: str, oid: str) -> bytes | None:
        return None

    def templated(self, kind: str, oid: str) -> bool:
        return False


@dataclass(frozen=True)
class ContainerInfo:
    """What an executor knows about a task's container."""

    container_id: str
    state: str                     # "created" | "running" | "exited"
    pid: int = 0
    exit_code: int | None = None
    error: str = ""
    health: str = ""               # "starting" | "healthy" | "unhealthy" | "" (no healthcheck)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def exited(self) -> bool:
        return self.state == "exited"

    def to_proto(self) -> ContainerStatus:
        return ContainerStatus(container_id=self.container_id, pid=self.pid if self.running else 0,
                               exit_code=self.exit_code or 0, health=self.health)


@dataclass(frozen=True)
class LogRecord:
    """One log line of a task's container, as ``service logs`` needs it."""

    timestamp: Timestamp
    stream: str                    # "stdout" | "stderr"
    data: bytes


def task_name(task: Task) -> str:
    """Docker's full task (and container) name: ``svc.slot.taskID`` / ``svc.nodeID.taskID``."""
    if task.annotations.name:
        return task.annotations.name
    service = task.service_annotations.name or task.service_id
    middle = str(task.slot) if task.slot else task.node_id
    return f"{service}.{middle}.{task.id}"


def stop_grace(task: Task) -> float:
    """The task's stop grace period in seconds (Docker's default 10 s when unset)."""
    c = task.spec.container
    if c.HasField("stop_grace_period"):
        return max(0.0, c.stop_grace_period.ToNanoseconds() / 1e9)
    return DEFAULT_STOP_GRACE


def task_labels(task: Task) -> dict[str, str]:
    """Docker's swarm labels plus the spec's container labels."""
    labels = dict(task.spec.container.labels)
    labels.update({
        LABEL_TASK_ID: task.id, LABEL_TASK_NAME: task_name(task),
        LABEL_SERVICE_ID: task.service_id,
        LABEL_SERVICE_NAME: task.service_annotations.name, LABEL_NODE_ID: task.node_id,
    })
    return labels


class Controller(abc.ABC):
    """Does the container work of one task. See the module docstring for the contract."""

    def __init__(self, task: Task) -> None:
        self.task = task

    def update(self, task: Task) -> None:
        """The manager changed the task (desired state); the spec never changes."""
        self.task = task

    @property
    def task_id(self) -> str:
        return self.task.id

    @abc.abstractmethod
    async def adopt(self) -> ContainerInfo | None:
        """Re-attach to an existing container of this task; ``None`` if there is none."""

    @abc.abstractmethod
    async def prepare(self) -> None:
        """Pull the image and create the container (idempotent)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start the created container (idempotent)."""

    @abc.abstractmethod
    async def wait(self) -> int:
        """Wait until the process exits; return its exit code."""

    @abc.abstractmethod
    async def shutdown(self, grace: float | None = None) -> None:
        """Stop signal, ``grace`` seconds (default: the spec's, else 10 s), then kill."""

    @abc.abstractmethod
    async def terminate(self) -> None:
        """Kill the container at once."""

    @abc.abstractmethod
    async def remove(self) -> None:
        """Stop if needed and delete the container."""

    @abc.abstractmethod
    async def inspect(self) -> ContainerInfo | None:
        """The container's current state, ``None`` if it does not exist."""


class Executor(abc.ABC):
    """A container back end for the agent."""

    @abc.abstractmethod
    def describe(self) -> NodeDescription:
        """Hostname, platform and resources of this node (cheap; called on every session)."""

    @abc.abstractmethod
    def controller(self, task: Task) -> Controller:
        """A controller for ``task`` (no I/O; the controller does its work when asked)."""

    @abc.abstractmethod
    async def task_ids(self) -> set[str]:
        """IDs of the tasks that have a container on this node (for clean-up)."""

    @abc.abstractmethod
    def logs(self, task_id: str, follow: bool = False, tail: int = -1) -> AsyncIterator[LogRecord]:
        """The task container's log lines; ``tail=-1`` means all; ``follow`` until it exits."""

    @abc.abstractmethod
    async def update_networks(self, msg: AssignmentsMessage) -> None:
        """The network, route and peer items of one assignments message (no task items), with
        the message's ``type``: a COMPLETE one is the whole set, an INCREMENTAL one upserts or
        removes. Called before the message's tasks are applied, so a task starting from it
        finds its networks known."""

    def set_dependencies(self, deps: Dependencies) -> None:
        """Where the node's secrets and configs are read from (the agent's in-memory store)."""
        self._dependencies = deps

    @property
    def dependencies(self) -> Dependencies:
        deps: Dependencies | None = getattr(self, "_dependencies", None)
        return deps if deps is not None else NoDependencies()

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the executor's resources; containers keep running."""
