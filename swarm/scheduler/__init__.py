"""swarm/scheduler: placement logic and the constraint language, as pure code with no I/O.

Design notes
------------
The scheduler is a function, not a service: the leader-side loop (elsewhere) takes a read-only
snapshot of the store, calls :func:`schedule`, and commits the resulting :class:`Plan` with
version checks, re-validating the picks against the latest state with :func:`recheck` first
(Nomad's plan/apply split). Nothing here reads the store, the clock, or logs per task; all
inputs and outputs are the generated protobuf types (``swarm.api.objects_pb2``) and plain
dicts, so no adapters are needed.

Modules, one concern each:

* :mod:`.constraint` -- parsing and matching ``key==value`` / ``key!=value`` (reference §4.4);
  controlapi validates with :func:`parse_constraints`, the global orchestrator matches with
  :func:`node_matches`.
* :mod:`.filters` -- the filter pipeline, its explanation texts and per-node scratch state.
* :mod:`.placement` -- batching by (service, spec version), spread ranking, placement
  preferences, pre-assigned (global) tasks.
* :mod:`.failures` -- a clock-free counter of recent task failures per (service, node).

Exceptions: :class:`ConstraintError` (a ``ValueError``) is the only one raised, by parsing.
"""

from .constraint import (
    Constraint,
    ConstraintError,
    Operator,
    node_matches,
    parse_constraint,
    parse_constraints,
)
from .failures import FailureTracker
from .placement import MAX_FAILURES, Plan, check_node, recheck, schedule

__all__ = [
    "MAX_FAILURES",
    "Constraint",
    "ConstraintError",
    "FailureTracker",
    "Operator",
    "Plan",
    "check_node",
    "node_matches",
    "parse_constraint",
    "parse_constraints",
    "recheck",
    "schedule",
]
