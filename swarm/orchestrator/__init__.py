"""swarm/orchestrator: the leader-side reconcilers that turn service specs into placed tasks.

Modules, one concern each (all leader-only, each ``Component(store, clock)`` with ``run()`` /
``stop()``, built on :class:`~swarm.reconciler.base.Reconciler`):

* ``replicated.py``  -- slots 1..N per replicated service; scale up/down; service removal
* ``global_.py``     -- one task per eligible node for global services
* ``restart.py``     -- restart policy: replacing ended tasks and tasks on down/drained nodes;
  delayed start (desired READY -> RUNNING)
* ``reaper.py``      -- task history retention; deletes removed tasks once shut down
* ``constraint_enforcer.py`` -- rejects running tasks whose node no longer fits them
* ``update.py``      -- the rolling updater (its own owner; the manager starts it alongside)

The loop, the task vocabulary and the batched re-checked writes are the shared floor,
``swarm.reconciler``; the scheduler loop is ``swarm.scheduler.loop``.

:func:`leader_components` lists the factories in start order: the consumers that move tasks
forward (allocator, scheduler) start before the producers, so the first tasks a new leader makes
are picked up at once. Any order is correct: each component reconciles from the store on start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def leader_components() -> list[Callable[[Any], Any]]:
    """Factories ``store -> component`` for every leader-only reconciler here, in start order."""
    from swarm.allocator.allocator import Allocator
    from swarm.scheduler.loop import SchedulerLoop

    from .constraint_enforcer import ConstraintEnforcer
    from .global_ import GlobalOrchestrator
    from .reaper import TaskReaper
    from .replicated import ReplicatedOrchestrator
    from .restart import RestartSupervisor

    return [Allocator, SchedulerLoop, RestartSupervisor, ReplicatedOrchestrator, GlobalOrchestrator,
            TaskReaper, ConstraintEnforcer]


__all__ = ["leader_components"]
