"""The campaign's record: every client operation and every fault, with times and answers.

Times are seconds since the campaign started (``time.monotonic`` based), so they compare across
threads. An operation's ``status`` is ``ok`` (acknowledged), ``refused`` (the answer says it was
not applied: no leader, a version conflict, a name already taken, not found) or ``unknown`` (a
timeout, a lost connection, "outcome unknown": it may or may not have been applied).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Op:
    client: int
    host: str
    kind: str          # service.create|update|scale|rm, node.label|availability, network.create|rm, read
    key: str           # the object the op is about (service name, node:host:label, network name)
    args: dict[str, Any]
    start: float
    end: float = 0.0
    status: str = ""   # ok | refused | unknown
    answer: str = ""
    value: Any = None  # what a read saw
    index: int = 0     # position in the history


@dataclass
class Fault:
    kind: str
    target: list[str]
    hold: float
    start: float
    healed: float = 0.0
    converged: float | None = None   # seconds from the heal until every service converged again
    notes: list[str] = field(default_factory=list)


class History:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.t0 = time.monotonic()
        self.ops: list[Op] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 4)

    def begin(self, client: int, host: str, kind: str, key: str, **args: Any) -> Op:
        op = Op(client, host, kind, key, args, self.now())
        with self._lock:
            op.index = len(self.ops)
            self.ops.append(op)
        return op

    def finish(self, op: Op, status: str, answer: str = "", value: Any = None) -> Op:
        op.end, op.status, op.answer, op.value = self.now(), status, answer.strip()[:400], value
        return op

    def fault(self, kind: str, target: list[str], hold: float) -> Fault:
        f = Fault(kind, target, hold, self.now())
        with self._lock:
            self.faults.append(f)
        return f

    def fault_around(self, t: float) -> Fault | None:
        """The fault active at t, or the last one healed before it."""
        best = None
        for f in self.faults:
            if f.start <= t:
                best = f
        return best

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self.seed, "ops": [asdict(o) for o in self.ops],
                    "faults": [asdict(f) for f in self.faults]}

    def write(self, path: Path, verdict: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**self.to_json(), "verdict": verdict}, indent=1, default=str))
