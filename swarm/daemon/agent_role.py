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
        from swarm.rpc.tls import manager_channel

        self.daemon = daemon
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
        )

    @property
    def error(self) -> str:
        return self.agent.error

    async def start(self) -> None:
        self.agent.start()

    async def stop(self) -> None:
        await self.agent.stop()

    async def _on_node(self, node: Node, managers: list[str]) -> None:
        st = self.daemon.state
        if st is not None and managers and managers != st.remote_managers:
            st.remote_managers = managers
            self.daemon.state_file.save(st)
        self.daemon.on_node_update(node)
