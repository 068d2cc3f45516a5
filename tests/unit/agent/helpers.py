"""Builders and small async helpers for the agent tests (no I/O, no threads)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import TaskState, TaskStatus

T = TypeVar("T")
S = TaskState


def make_task(tid: str, desired: int = S.RUNNING, env: Iterable[str] = (), image: str = "demo/web:1",
              service: str = "web", slot: int = 1, command: Iterable[str] = (),
              stop_grace: float | None = None) -> Task:
    t = Task(id=tid, service_id="svc" + service, slot=slot, node_id="node1",
             desired_state=desired)  # type: ignore[arg-type]
    t.service_annotations.name = service
    t.spec.container.image = image
    t.spec.container.env.extend(env)
    t.spec.container.command.extend(command)
    if stop_grace is not None:
        t.spec.container.stop_grace_period.FromNanoseconds(int(stop_grace * 1e9))
    t.status.state = S.ASSIGNED
    t.status.message = "scheduler assigned task to node"
    return t


def with_desired(task: Task, desired: int) -> Task:
    t = Task()
    t.CopyFrom(task)
    t.desired_state = desired  # type: ignore[assignment]
    return t


def complete(*tasks: Task) -> d.AssignmentsMessage:
    return d.AssignmentsMessage(type=d.AssignmentsMessage.COMPLETE, changes=[
        d.AssignmentChange(assignment=d.Assignment(task=t), action=d.AssignmentChange.UPDATE)
        for t in tasks])


def incremental(updates: Iterable[Task] = (), removes: Iterable[Task] = ()) -> d.AssignmentsMessage:
    changes = [d.AssignmentChange(assignment=d.Assignment(task=t), action=d.AssignmentChange.UPDATE)
               for t in updates]
    changes += [d.AssignmentChange(assignment=d.Assignment(task=t), action=d.AssignmentChange.REMOVE)
                for t in removes]
    return d.AssignmentsMessage(type=d.AssignmentsMessage.INCREMENTAL, changes=changes)


class Recorder:
    """A ``report``/``on_status`` callback that keeps everything it was given."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, TaskStatus]] = []

    def __call__(self, task_id: str, status: TaskStatus) -> None:
        st = TaskStatus()
        st.CopyFrom(status)
        self.updates.append((task_id, st))

    def states(self, task_id: str) -> list[str]:
        return [TaskState.Name(s.state) for tid, s in self.updates if tid == task_id]

    def last(self, task_id: str) -> TaskStatus:
        return [s for tid, s in self.updates if tid == task_id][-1]


def run(coro: Awaitable[T], timeout: float = 20.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(main())


async def eventually(pred: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
