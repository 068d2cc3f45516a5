"""The agent role of a node: wires node.agent to this daemon's identity and managers."""

from __future__ import annotations

import logging
from typing import Any

from swarm.api.objects_pb2 import Node
from swarm.daemon.membership import describe

log = logging.getLogger(__name__)


class AgentRole:
    def __init__(self, daemon: Any) -> None:
        from node.agent.agent import Agent
        from node.agent.worker import Worker
        from swarm.daemon.executors import make_executor
        from swarm.rpc.tls import manager_channel

        self.daemon = daemon
        self.executor = make_executor(daemon.cfg, daemon.images)
        self.worker = Worker(daemon.cfg.data_root, self.executor,
                             lambda tid, status: self.agent.report(tid, status))
        st = daemon.state
        tls = daemon.tls
        managers = list(st.remote_managers) or [st.advertise_addr]
        if st.role == "manager":
            managers = [st.advertise_addr, *managers]
        self.agent = Agent(
            channel_for=lambda addr: manager_channel(addr, tls, call_timeout=10.0),
            managers=managers,
            describe=describe,
            advertise_addr=st.advertise_addr,
            data_path_addr=st.data_path_addr,
            on_node=self._on_node,
            worker=self.worker,
            log_source=_Logs(self.executor, self.worker),
        )

    @property
    def error(self) -> str:
        return self.agent.error

    async def start(self) -> None:
        await self.worker.start()
        self.agent.start()

    async def stop(self) -> None:
        await self.agent.stop()
        await self.worker.stop()
        await self.executor.close()

    async def _on_node(self, node: Node, managers: list[str]) -> None:
        st = self.daemon.state
        if st is not None and managers and managers != st.remote_managers:
            st.remote_managers = managers
            self.daemon.state_file.save(st)
        self.daemon.on_node_update(node)


class _Logs:
    """The agent's log source: the tasks this worker manages, read through the executor."""

    def __init__(self, executor: Any, worker: Any) -> None:
        self.executor = executor
        self.worker = worker

    def has_task(self, task_id: str) -> bool:
        return task_id in self.worker.managers

    async def logs(self, task_id: str, follow: bool, tail: int):  # type: ignore[no-untyped-def]
        async for rec in self.executor.logs(task_id, follow=follow, tail=tail):
            yield rec.timestamp.ToNanoseconds() / 1e9, rec.stream, rec.data
