"""The agent's side of `service logs -f`: a task that starts on the node while following is read
from its first line, even when the watcher first sees it before its container exists or runs
(its reader then ends at once with nothing; it must be started again, not forgotten)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from node.agent.agent import Agent
from swarm.api import dispatcher_pb2 as d


class LateSource:
    """Task t-new exists at once; its log has lines only from the third look on."""

    def __init__(self) -> None:
        self.looks = 0

    def has_task(self, task_id: str) -> bool:
        return task_id == "t-new"

    def tasks_of(self, service_ids: object) -> list[str]:
        return ["t-new"]

    def attrs(self, task_id: str) -> list[tuple[str, str]]:
        return []

    async def logs(self, task_id: str, follow: bool, tail: int) -> AsyncIterator[tuple[float, str, bytes]]:
        self.looks += 1
        if self.looks < 3:               # no container yet / created, not running: nothing, ends
            return
        yield 1.0, "stdout", b"hello\n"
        yield 2.0, "stderr", b"world\n"
        await asyncio.Event().wait()      # following


class Broker:
    def __init__(self) -> None:
        self.got: list[d.LogMessage] = []
        self.enough = asyncio.Event()

    async def PublishLogs(self, requests: AsyncIterator[d.PublishLogsMessage],  # noqa: N802
                          timeout: object = None) -> None:
        async for m in requests:
            self.got.extend(m.messages)
            if len(self.got) >= 2:
                self.enough.set()


def test_a_task_seen_before_its_container_runs_is_read_from_its_first_line() -> None:
    async def body() -> None:
        src = LateSource()
        agent = Agent(channel_for=lambda a: None, managers=["m:1"], describe=lambda: None,  # type: ignore[arg-type,return-value]
                      advertise_addr="n:1", log_source=src)
        broker = Broker()
        sub = d.SubscriptionMessage(id="s1")
        sub.selector.service_ids.append("svc")
        sub.options.follow = True
        sub.options.tail = 0
        pub = asyncio.create_task(agent._publish_logs(broker, sub))
        try:
            await asyncio.wait_for(broker.enough.wait(), 10)
        finally:
            pub.cancel()
        assert [m.data for m in broker.got] == [b"hello\n", b"world\n"]
        assert src.looks == 3                                  # restarted twice, then followed

    asyncio.run(body())
