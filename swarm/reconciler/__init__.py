"""swarm/reconciler: the floor every leader-side component is built on.

* ``base.py``   -- the :class:`~swarm.reconciler.base.Reconciler` loop: subscribe, reconcile
  everything, follow the change stream in batches, wake on deadlines, back off and start over
* ``writes.py`` -- batched, re-checked writes (:func:`~swarm.reconciler.writes.commit`)
* ``tasks.py``  -- the task vocabulary and builders (new task, set status, set desired state,
  state names, timestamps)

It imports only ``swarm.store`` and ``swarm.api`` (and ``swarm.ca.ids`` for new object ids). The
orchestrators, the allocator, the scheduler loop and the updater import it; nothing here imports
them.
"""
