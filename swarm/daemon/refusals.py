"""Domain errors for calls a manager refuses because of where they arrived, not what they ask.

    DaemonError (swarm.daemon.errors)
    ├── NotTheLeaderError      a leader-only call on a follower: UNAVAILABLE, "leader=<addr>"
    └── UnimplementedError     an RPC of the protocol that this daemon does not serve

Leader-only services (the dispatcher, the log broker's agent side, Raft membership changes)
answer a follower's caller with the leader's manager address in the message (``not the leader;
leader=<addr>``, the address empty while there is none): agents and joining managers parse it
and go there next (``node.agent.agent``, ``swarm.daemon.joining``), so the text is a contract.
"""

from __future__ import annotations

from typing import Any, TypeVar

from swarm.daemon.errors import DaemonError

T = TypeVar("T")

NOT_LEADER = "not the leader"


class NotTheLeaderError(DaemonError):
    code = "UNAVAILABLE"

    def __init__(self, leader_addr: str | None) -> None:
        super().__init__(f"{NOT_LEADER}; leader={leader_addr or ''}")
        self.leader_addr = leader_addr or ""


class UnimplementedError(DaemonError):
    code = "UNIMPLEMENTED"


def leader_only(component: T | None, manager: Any) -> T:
    """The leader's ``component``; on a follower (where it is None) ``NotTheLeaderError``."""
    if component is None:
        raise NotTheLeaderError(manager.leader_api_addr())
    return component
