"""The worker hands the assignments' network items to its executor (``update_networks``); the
runtime executor forwards them to its network layer. No networking here: fakes only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.agent.worker import Worker
from node.exec.fake import NETWORK_UPDATES_KEPT, FakeExecutor
from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Network, Task
from tests.unit.agent.helpers import Recorder, eventually, make_task, run


def message(kind: int, *items: Network | d.NetworkPeer | Task) -> d.AssignmentsMessage:
    changes = []
    for it in items:
        if isinstance(it, Network):
            a = d.Assignment(network=it)
        elif isinstance(it, d.NetworkPeer):
            a = d.Assignment(peer=it)
        else:
            a = d.Assignment(task=it)
        changes.append(d.AssignmentChange(assignment=a, action=d.AssignmentChange.UPDATE))
    return d.AssignmentsMessage(type=kind, changes=changes)  # type: ignore[arg-type]


COMPLETE = d.AssignmentsMessage.COMPLETE
INCREMENTAL = d.AssignmentsMessage.INCREMENTAL


def test_worker_hands_network_items_to_the_executor(tmp_path: Path) -> None:
    async def main() -> None:
        x = FakeExecutor()
        w = Worker(tmp_path, x, Recorder(), retry_delay=0.01)
        await w.start()
        await w.assign(message(COMPLETE, Network(id="n1"), d.NetworkPeer(node_id="nodeA"),
                               make_task("t1")))
        assert len(x.network_updates) == 1
        first = x.network_updates[0]
        assert first.type == COMPLETE
        assert [c.assignment.WhichOneof("item") for c in first.changes] == ["network", "peer"]
        await eventually(lambda: "t1" in w.managers)
        await w.assign(message(INCREMENTAL, make_task("t2", slot=2)))   # tasks only: not handed on
        assert len(x.network_updates) == 1
        await w.assign(message(COMPLETE, make_task("t2", slot=2)))      # a COMPLETE always is
        assert len(x.network_updates) == 2 and list(x.network_updates[1].changes) == []
        await w.stop()
    run(main())


def test_the_fake_keeps_only_the_last_network_updates() -> None:
    async def main() -> None:
        x = FakeExecutor()
        for i in range(NETWORK_UPDATES_KEPT + 5):
            await x.update_networks(d.AssignmentsMessage(results_in=str(i)))
        assert len(x.network_updates) == NETWORK_UPDATES_KEPT
        assert x.network_updates[-1].results_in == str(NETWORK_UPDATES_KEPT + 4)
    run(main())


class _Network:
    """The one SandboxNetwork method this test drives."""

    def __init__(self) -> None:
        self.got: list[d.AssignmentsMessage] = []

    async def update(self, msg: d.AssignmentsMessage) -> None:
        self.got.append(msg)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected network call {name}")


def test_runtime_executor_forwards_network_items() -> None:
    from node.exec.runtime import RuntimeExecutor

    async def main() -> None:
        net = _Network()
        x = RuntimeExecutor(None, None, hostname="n", network=net)  # type: ignore[arg-type]
        msg = message(COMPLETE, Network(id="n1"))
        await x.update_networks(msg)
        assert net.got == [msg]
        bare = RuntimeExecutor(None, None, hostname="n")  # type: ignore[arg-type]
        await bare.update_networks(msg)      # no network layer: ignored
        await x.close()
        await bare.close()
    run(main())
