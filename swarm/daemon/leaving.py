"""The checks `swarm leave` (without --force) runs on a manager (reference §1.5)."""

from __future__ import annotations

from typing import Any

from swarm.api.objects_pb2 import Node
from swarm.api.types_pb2 import MANAGER
from swarm.daemon.errors import DaemonError
from swarm.store.typed import Reader

PREFIX = ("You are attempting to leave the swarm on a node that is participating as a manager. ")
SUFFIX = ("The only way to restore a swarm that has lost consensus is to reinitialize it with "
          "`--force-new-cluster`. Use `--force` to suppress this message.")


class ManagerLeaveRefused(DaemonError):
    code = "FAILED_PRECONDITION"


def leave_message(managers: int, reachable: int) -> str:
    """The refusal text for a manager with `managers` members of which `reachable` can be reached
    (this node included)."""
    if managers <= 1:
        return (PREFIX + "Removing the last manager erases all current state of the swarm. "
                "Use `--force` to ignore this message. ")
    msg = PREFIX
    if reachable - 1 < (managers - 1) // 2 + 1:
        msg += (f"Removing this node leaves {reachable - 1} managers out of {managers}. "
                "Without a Raft quorum your swarm will be inaccessible. ")
    return msg + SUFFIX


def check_manager_leave(manager: Any) -> None:
    nodes = [n for n in Reader(manager.store).list(Node) if n.role == MANAGER]
    managers = max(len(nodes), len(manager.store.members()))
    reachable = sum(1 for n in nodes if manager.ctx.raft.manager_reachable(n.id))
    raise ManagerLeaveRefused(leave_message(managers, reachable))
