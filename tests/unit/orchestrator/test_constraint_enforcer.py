"""rejections(): which running tasks no longer fit their node."""

from __future__ import annotations

from swarm.api.types_pb2 import ASSIGNED, FAILED, PENDING, SHUTDOWN
from swarm.orchestrator.constraint_enforcer import rejections

from .factories import node, service, task


def test_constraints_no_longer_matching() -> None:
    svc = service(constraints=["node.labels.disk==ssd"])
    n = node("n1", labels={"disk": "hdd"})
    tasks = [task("run", slot=1, node="n1", svc=svc), task("asg", slot=2, node="n1", state=ASSIGNED, svc=svc),
             task("done", slot=3, node="n1", state=FAILED, svc=svc),
             task("stop", slot=4, node="n1", desired=SHUTDOWN, svc=svc),
             task("pend", slot=5, state=PENDING, svc=svc),
             task("glob", slot=0, node="n1", svc=svc),          # the global orchestrator's
             task("free", slot=6, node="n1", svc=service())]  # no constraints
    assert rejections(n, tasks) == {"run": "constraints", "asg": "constraints"}
    assert rejections(node("n1", labels={"disk": "ssd"}), tasks) == {}


def test_resources_shrunk_oldest_keep_their_place() -> None:
    n = node("n1")
    n.description.resources.nano_cpus = 2_000_000_000
    svc = service()
    svc.spec.task.resources.reservations.nano_cpus = 1_000_000_000
    tasks = [task(f"t{i}", slot=i + 1, node="n1", created=float(i), svc=svc) for i in range(3)]
    assert rejections(n, tasks) == {"t2": "resources"}
    n.description.resources.nano_cpus = 0   # not reported: not checked
    assert rejections(n, tasks) == {}
