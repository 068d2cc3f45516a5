"""Client threads: each drives its own objects through the CLI of one manager at a time.

Client ``i`` owns the services ``c{i}s{n}`` and networks ``c{i}n{n}``, the node label
``chaos.c{i}`` on every node, and the availability of one node, so its operations on an object are
sequential and the checker can model each object separately. A client starts on manager
``i % managers`` and moves to the next one when its daemon does not answer. Choices come from a
``random.Random`` seeded from the campaign seed and the client number.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading

from tests.chaos.bed import NET, ChaosBed
from tests.chaos.history import History, Op

#: answers that mean "not applied" (everything else that is not exit 0 counts as unknown)
REFUSED = ("does not have a leader", "update out of sequence", "already exists", "not found",
           "No such", "is in use", "in use by", "conflict", "too few managers")
CLI_TIMEOUT = 40.0
MAX_SERVICES = 3
MAX_NETWORKS = 2


def classify(cp: subprocess.CompletedProcess[str]) -> str:
    if cp.returncode == 0:
        return "ok"
    text = cp.stderr + cp.stdout
    if "outcome unknown" in text or "may or may not" in text:
        return "unknown"
    if any(r.lower() in text.lower() for r in REFUSED):
        return "refused"
    return "unknown"


class Client(threading.Thread):
    def __init__(self, idx: int, bed: ChaosBed, hist: History, seed: int, stop: threading.Event,
                 node_ids: dict[str, str]) -> None:
        super().__init__(name=f"chaos-client-{idx}", daemon=True)
        self.idx, self.bed, self.hist, self.stop = idx, bed, hist, stop
        self.rng = random.Random(f"{seed}:client:{idx}")
        self.node_ids = node_ids
        self.home = idx % len(bed.managers)
        self.services: list[str] = []     # ones that may exist (acked or unknown create)
        self.networks: list[str] = []
        self.n = 0
        self.version = 0
        self.own_node = bed.hosts[idx % len(bed.hosts)]
        self.errors: list[str] = []

    @property
    def host(self) -> str:
        return self.bed.managers[self.home % len(self.bed.managers)]

    def do(self, kind: str, key: str, argv: list[str], **args: object) -> Op:
        host = self.host
        op = self.hist.begin(self.idx, host, kind, key, argv=argv, **args)
        try:
            cp = self.bed.cli(host, *argv, timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            return self.hist.finish(op, "unknown", f"no answer in {CLI_TIMEOUT} s")
        status = classify(cp)
        if cp.returncode != 0 and "Cannot connect" in cp.stderr:
            self.home += 1                # that daemon is down: use the next manager from now on
        return self.hist.finish(op, status, cp.stderr if cp.returncode else "",
                                value=cp.stdout if kind == "read" else None)

    def step(self) -> None:
        r = self.rng.random()
        if r < 0.22 or not self.services:
            if len(self.services) >= MAX_SERVICES:
                self.rm_service()
            else:
                self.create_service()
        elif r < 0.36:
            self.version += 1
            name = self.rng.choice(self.services)
            argv = ["service", "update", "-d", "--label-add", f"chaos.v={self.version}", name]
            self.gone(self.do("service.update", name, argv, version=self.version))
        elif r < 0.48:
            name, n = self.rng.choice(self.services), self.rng.randint(1, 2)
            self.gone(self.do("service.scale", name, ["service", "scale", "-d", f"{name}={n}"], replicas=n))
        elif r < 0.56:
            self.rm_service()
        elif r < 0.66:
            node = self.rng.choice(self.bed.hosts)
            self.version += 1
            self.do("node.label", f"{node}:chaos.c{self.idx}",
                    ["node", "update", "--label-add", f"chaos.c{self.idx}={self.version}",
                     self.node_ids[node]], value=str(self.version))
        elif r < 0.72:
            av = self.rng.choice(["active", "pause"])
            self.do("node.availability", f"{self.own_node}:availability",
                    ["node", "update", "--availability", av, self.node_ids[self.own_node]], value=av)
        elif r < 0.84:
            if len(self.networks) >= MAX_NETWORKS or (self.networks and self.rng.random() < 0.5):
                name = self.rng.choice(self.networks)
                op = self.do("network.rm", name, ["network", "rm", name])
                if op.status == "ok":
                    self.networks.remove(name)
            else:
                self.n += 1
                name = f"c{self.idx}n{self.n}"
                op = self.do("network.create", name, ["network", "create", "-d", "overlay", name])
                if op.status != "refused":
                    self.networks.append(name)
        else:
            op = self.do("read", "services", ["service", "ls", "--format", "json"])
            if op.status == "ok":
                op.value = sorted(json.loads(x)["Name"] for x in str(op.value).splitlines() if x.strip())

    def create_service(self) -> None:
        self.n += 1
        name, n = f"c{self.idx}s{self.n}", self.rng.randint(1, 2)
        op = self.do("service.create", name,
                     ["service", "create", "-d", "--name", name, "--replicas", str(n), "--network", NET,
                      "--label", "chaos.v=0", "--stop-grace-period", "1s", self.bed.image()],
                     replicas=n)
        if op.status != "refused":
            self.services.append(name)

    def rm_service(self) -> None:
        if not self.services:
            return
        name = self.rng.choice(self.services)
        op = self.do("service.rm", name, ["service", "rm", name])
        if op.status == "ok":
            self.services.remove(name)
        else:
            self.gone(op)

    def gone(self, op: Op) -> None:
        """A "no such service" answer: stop using that name (its create was not applied)."""
        low = op.answer.lower()
        if op.status == "refused" and ("not found" in low or "no such" in low) and op.key in self.services:
            self.services.remove(op.key)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.step()
            except Exception as e:  # a bug in the workload itself must not pass silently
                self.errors.append(repr(e))
            self.stop.wait(self.rng.uniform(0.05, 0.4))   # pacing, not a wait for a condition
