"""The leader's reconcilers end to end on a real single-member Raft store over loopback.

Every component from ``swarm.daemon.manager.leader_components()`` runs. The test plays the other
writers: the control API (services and nodes written into the store), and the dispatcher plus
agents (a fake agent moves assigned tasks forward and shuts tasks down when asked, writing only
observed state, as agents report it). Every wait is bounded polling with a message that shows
the state reached.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from swarm.api.objects_pb2 import Cluster, Node, NodeStatus, Service, Task
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import (
    ASSIGNED,
    COMPLETE,
    FAILED,
    PENDING,
    READY,
    REMOVE,
    RUNNING,
    SHUTDOWN,
    RestartPolicy,
)
from swarm.ca.ids import new_id
from swarm.daemon.manager import leader_components
from swarm.reconciler.clock import ts
from swarm.store import Commit, ConflictError, Store, typed
from swarm.store.typed import Reader
from tests.support.store_harness import free_port

pytestmark = pytest.mark.timeout(180)
T = TypeVar("T")


class Rig:
    """A store with every leader component running, plus helpers that act like the control API,
    the dispatcher and the agents."""

    def __init__(self, tmp: Path) -> None:
        addr = f"127.0.0.1:{free_port()}"
        self.store = Store(addr, [addr], tmp / "raft", "test-password")
        self.components: list[Any] = []
        self.tasks_: list[asyncio.Task[Any]] = []
        self.alive: set[str] = set()   # nodes whose fake agent runs tasks
        self.stopping = False

    async def __aenter__(self) -> Rig:
        self.store.start()
        await self.store.wait_ready(20)
        cl = Cluster(id=new_id())
        cl.spec.annotations.name = "default"
        cl.spec.orchestration.task_history_retention_limit = 5
        await self.store.apply([typed.create(cl)])
        self.tasks_.append(asyncio.create_task(self._agents()))
        self.start_components()
        return self

    async def stop_components(self) -> None:
        """The end of a leadership term: every component stops (the agents keep running)."""
        for c in self.components:
            c.stop()
        comp_tasks, self.tasks_ = self.tasks_[1:], self.tasks_[:1]
        _done, pending = await asyncio.wait(comp_tasks, timeout=10)
        assert not pending, f"components did not stop: {pending}"
        self.components = []

    def start_components(self) -> None:
        """A new leadership term: fresh instances, which reconcile from the store."""
        for make in leader_components():
            comp = make(self.store)
            self.components.append(comp)
            self.tasks_.append(asyncio.create_task(comp.run()))

    async def __aexit__(self, *exc: object) -> None:
        # a flag as well as cancel(): on Python 3.11 asyncio.wait_for (inside Store.apply) can
        # swallow a cancellation that races with the result
        self.stopping = True
        for c in self.components:
            c.stop()
        for t in self.tasks_:
            t.cancel()
        done, pending = await asyncio.wait(self.tasks_, timeout=10)
        assert not pending, f"tasks did not stop: {pending}"
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise AssertionError(f"{t} failed") from t.exception()
        await asyncio.to_thread(self.store.close)

    @property
    def r(self) -> Reader:
        return Reader(self.store)

    # ---- control API side ---------------------------------------------------------------------

    async def add_node(self, nid: str, *, labels: dict[str, str] | None = None,
                       alive: bool = True) -> None:
        n = Node(id=nid)
        n.description.hostname = f"host-{nid}"
        n.description.platform.os = "linux"
        n.description.platform.architecture = "x86_64"
        n.spec.annotations.labels.update(labels or {})
        n.status.state = NodeStatus.READY
        await self.store.apply([typed.create(n)])
        if alive:
            self.alive.add(nid)

    async def update_node(self, nid: str, mutate: Callable[[Node], None]) -> None:
        await self._update(Node, nid, mutate)

    async def node_down(self, nid: str) -> None:
        self.alive.discard(nid)

        def down(n: Node) -> None:
            n.status.state = NodeStatus.DOWN
            n.status.message = "heartbeat failure"
        await self.update_node(nid, down)

    async def drain(self, nid: str) -> None:
        def drain(n: Node) -> None:
            n.spec.availability = NodeSpec.DRAIN
        await self.update_node(nid, drain)

    async def create_service(self, name: str, *, replicas: int | None = 1, mode_global: bool = False,
                             constraints: Iterable[str] = (), delay: float | None = 0.2,
                             condition: int = RestartPolicy.RESTART_ON_ANY,
                             max_attempts: int = 0) -> str:
        s = Service(id=new_id())
        s.spec.annotations.name = name
        s.spec.task.container.image = "busybox"
        if mode_global:
            getattr(s.spec, "global").SetInParent()
        else:
            s.spec.replicated.replicas = replicas or 0
        s.spec.task.placement.constraints.extend(constraints)
        s.spec.task.restart.condition = condition  # type: ignore[assignment]
        s.spec.task.restart.max_attempts = max_attempts
        if delay is not None:
            s.spec.task.restart.delay.FromNanoseconds(int(delay * 1e9))
        s.spec_version.index = 1
        await self.store.apply([typed.create(s)])
        return s.id

    async def update_service(self, sid: str, mutate: Callable[[Service], None]) -> None:
        def m(s: Service) -> None:
            mutate(s)
            s.spec_version.index += 1
        await self._update(Service, sid, m)

    async def scale(self, sid: str, n: int) -> None:
        def m(s: Service) -> None:
            s.spec.replicated.replicas = n
        await self.update_service(sid, m)

    async def remove_service(self, sid: str) -> None:
        await self.store.apply([typed.delete(table="services", id=sid)])

    async def _update(self, cls: type[Any], oid: str, mutate: Callable[[Any], None]) -> None:
        for _ in range(20):
            obj = self.r.get(cls, oid)
            assert obj is not None
            mutate(obj)
            try:
                await self.store.apply([typed.update(obj)])
                return
            except ConflictError:
                await asyncio.sleep(0.01)
        raise AssertionError(f"could not update {oid}")

    # ---- dispatcher / agent side --------------------------------------------------------------

    async def report(self, tid: str, state: int, message: str = "", err: str = "",
                     exit_code: int = 0) -> None:
        """An agent's status report for one task (observed state only moves forward)."""
        def m(t: Task) -> None:
            assert state >= t.status.state, (t.status.state, state)
            t.status.state = state  # type: ignore[assignment]
            t.status.message = message or str(state)
            t.status.err = err
            t.status.container.exit_code = exit_code
            t.status.timestamp.CopyFrom(ts(time.time()))
        await self._update(Task, tid, m)

    async def _agents(self) -> None:
        """Fake agents on the alive nodes: start assigned tasks, stop tasks asked to stop."""
        while not self.stopping:
            await asyncio.sleep(0.05)
            actions = []
            now = ts(time.time())
            for t in self.r.list(Task):
                if t.node_id not in self.alive or t.status.state < ASSIGNED:
                    continue
                st = t.status.state
                if t.desired_state >= SHUTDOWN:
                    new, msg = (SHUTDOWN, "shutdown") if st <= RUNNING else (st, "")
                elif t.desired_state == READY:
                    new, msg = (READY, "prepared") if st < READY else (st, "")
                else:
                    new, msg = (RUNNING, "started") if st < RUNNING else (st, "")
                if new != st:
                    t.status.state = new  # type: ignore[assignment]
                    t.status.message = msg
                    t.status.timestamp.CopyFrom(now)
                    actions.append(typed.update(t))
            if actions:
                try:
                    await self.store.apply(actions[:400])
                except ConflictError:
                    pass

    # ---- reads --------------------------------------------------------------------------------

    def tasks(self, sid: str) -> list[Task]:
        return self.r.tasks_of_service(sid)

    def running(self, sid: str) -> list[Task]:
        return [t for t in self.tasks(sid) if t.desired_state == RUNNING and t.status.state == RUNNING]

    def spread(self, sid: str) -> Counter[str]:
        return Counter(t.node_id for t in self.running(sid))

    async def wait(self, what: str, check: Callable[[], T | None], timeout: float = 20.0,
                   show: Callable[[], object] | None = None) -> T:
        deadline = time.monotonic() + timeout
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; state: {show() if show else got}")
            await asyncio.sleep(0.05)


def summary(rig: Rig, sid: str) -> list[tuple[int, str, str, str, str]]:
    return sorted((t.slot, t.node_id, _n(t.desired_state), _n(t.status.state), t.status.err)
                  for t in rig.tasks(sid))


def _n(s: int) -> str:
    from swarm.reconciler.tasks import state_name
    return state_name(s)


def run(tmp_path: Path, body: Callable[[Rig], Awaitable[None]]) -> None:
    async def main() -> None:
        async with Rig(tmp_path) as rig:
            await body(rig)
    asyncio.run(main())


async def three_nodes(rig: Rig) -> None:
    for nid in ("n1", "n2", "n3"):
        await rig.add_node(nid)


# ---- replicated -------------------------------------------------------------------------------

def test_replicas_spread_and_scale(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("web", replicas=6)
        show = lambda: summary(rig, sid)  # noqa: E731
        await rig.wait("6 running 2/2/2",
                       lambda: rig.spread(sid) == Counter({"n1": 2, "n2": 2, "n3": 2}), show=show)
        ts_ = rig.tasks(sid)
        assert sorted(t.slot for t in ts_) == [1, 2, 3, 4, 5, 6]
        assert {t.annotations.name for t in ts_} == {f"web.{i}" for i in range(1, 7)}
        assert all(t.spec_version.index == 1 and t.spec.container.image == "busybox" for t in ts_)

        await rig.scale(sid, 30)
        await rig.wait("30 running 10/10/10",
                       lambda: rig.spread(sid) == Counter({"n1": 10, "n2": 10, "n3": 10}), show=show)
        assert sorted(t.slot for t in rig.tasks(sid)) == list(range(1, 31))

        await rig.scale(sid, 2)
        await rig.wait("2 tasks left, on two nodes",
                       lambda: len(rig.tasks(sid)) == 2 and len(rig.spread(sid)) == 2, show=show)
        assert all(t.desired_state == RUNNING for t in rig.tasks(sid))
    run(tmp_path, body)


def test_unsatisfiable_constraint_stays_pending(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("db", replicas=2, constraints=["node.labels.disk==ssd"])
        msg = "no suitable node (scheduling constraints not satisfied on 3 nodes)"
        await rig.wait("2 pending with the explanation",
                       lambda: [t.status.err for t in rig.tasks(sid) if t.status.state == PENDING]
                       == [msg, msg], show=lambda: summary(rig, sid))
        await rig.add_node("n4", labels={"disk": "ssd"})
        await rig.wait("both placed on n4 once it joins",
                       lambda: rig.spread(sid) == Counter({"n4": 2}), show=lambda: summary(rig, sid))
        assert all(t.status.err == "" for t in rig.tasks(sid))
        # never-placed tasks of a scaled-down service leave no trace
        other = await rig.create_service("nowhere", replicas=3, constraints=["node.labels.disk==nvme"])
        await rig.wait("3 pending", lambda: sum(t.status.err.startswith("no suitable node")
                                                for t in rig.tasks(other)) == 3,
                       show=lambda: summary(rig, other))
        await rig.scale(other, 1)
        await rig.wait("2 removed", lambda: len(rig.tasks(other)) == 1, show=lambda: summary(rig, other))
        assert rig.tasks(other)[0].status.state == PENDING
    run(tmp_path, body)


def test_service_removed_removes_tasks(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("gone", replicas=4)
        await rig.wait("4 running", lambda: len(rig.running(sid)) == 4, show=lambda: summary(rig, sid))
        await rig.remove_service(sid)
        await rig.wait("no tasks left", lambda: not rig.tasks(sid), show=lambda: summary(rig, sid))
    run(tmp_path, body)


def test_large_create_uses_few_batches(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sub = rig.store.subscribe()
        sid = await rig.create_service("big", replicas=1000)
        await rig.wait("1000 assigned", lambda: sum(t.status.state >= ASSIGNED for t in rig.tasks(sid))
                       == 1000, timeout=60, show=lambda: Counter(_n(t.status.state) for t in rig.tasks(sid)))
        spread = Counter(t.node_id for t in rig.tasks(sid))
        assert sorted(spread.values()) == [333, 333, 334]
        # never one write per task: creates, NEW -> PENDING and PENDING -> ASSIGNED each take a few
        # large batches
        creates = pendings = assigns = 0
        while (c := sub.poll()) is not None:
            assert isinstance(c, Commit)
            kinds = Counter(_n(typed.decode("tasks", e).status.state) for e in c.events
                            if e.table == "tasks" and e.kind != "delete")
            creates += any(e.kind == "create" for e in c.events if e.table == "tasks")
            pendings += kinds["PENDING"] > 0
            assigns += kinds["ASSIGNED"] > 0
        sub.close()
        assert creates <= 3 and pendings <= 4 and assigns <= 4, (creates, pendings, assigns)
    run(tmp_path, body)


def test_new_term_reconciles_from_the_store(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await three_nodes(rig)
        sid = await rig.create_service("web", replicas=3, delay=0.2)
        show = lambda: summary(rig, sid)  # noqa: E731
        await rig.wait("3 running", lambda: len(rig.running(sid)) == 3, show=show)
        await rig.stop_components()
        # while no leader component runs: a scale, a failure, a node lost, a new service
        await rig.scale(sid, 5)
        victim = next(t for t in rig.running(sid) if t.node_id == "n1")
        await rig.report(victim.id, FAILED, exit_code=1)
        await rig.node_down("n2")
        other = await rig.create_service("other", replicas=2)
        await asyncio.sleep(0.3)
        assert len(rig.tasks(sid)) == 3 and not rig.tasks(other)
        rig.start_components()
        await rig.wait("5 running on n1 and n3", lambda: len(rig.running(sid)) == 5
                       and set(rig.spread(sid)) == {"n1", "n3"}, show=show)
        await rig.wait("the new service runs", lambda: len(rig.running(other)) == 2,
                       show=lambda: summary(rig, other))
        assert rig.r.get(Task, victim.id).desired_state == SHUTDOWN
    run(tmp_path, body)


__all__ = ["COMPLETE", "FAILED", "REMOVE", "Rig", "run", "summary", "three_nodes"]
