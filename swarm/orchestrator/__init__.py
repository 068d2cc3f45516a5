"""swarm/orchestrator: the leader-side reconcilers that turn service specs into placed tasks.

Modules, one concern each (all leader-only, each ``Component(store, clock)`` with ``run()`` /
``stop()``, built on :class:`~swarm.reconciler.base.Reconciler`):

* ``replicated.py``  -- slots 1..N per replicated service; scale up/down; service removal
* ``global_.py``     -- one task per eligible node for global services
* ``jobs.py``        -- replicated-job and global-job services: runs to completion, iterations
* ``restart.py``     -- restart policy: replacing ended tasks and tasks on down/drained nodes;
  delayed start (desired READY -> RUNNING)
* ``reaper.py``      -- task history retention; deletes removed tasks once shut down
* ``constraint_enforcer.py`` -- rejects running tasks whose node no longer fits them
* ``update.py``      -- the rolling updater (its own owner; the manager starts it alongside)

The loop, the task vocabulary and the batched re-checked writes are the shared floor,
``swarm.reconciler``; the scheduler loop is ``swarm.scheduler.loop``.

The list of leader components (these, the allocator, the scheduler loop, the dispatcher and the
role manager) is ``swarm.daemon.manager.leader_components`` / ``ManagerRole.leader_components``.
"""
