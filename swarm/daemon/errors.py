"""Errors of the daemon layer, each carrying the message users see (reference §1.1).

    DaemonError
    ├── NotInSwarmError          "This node is not part of a swarm"
    ├── AlreadyInSwarmError      "This node is already part of a swarm. ..."
    ├── NotAManagerError         "This node is not a swarm manager. ..."
    ├── InvalidRequestError      bad input from the CLI
    ├── NotLockedError           "swarm is not locked" (`swarm unlock` on a node that is not)
    └── LockedLeaveError         "Swarm is encrypted and locked. ..." (leave without --force)

`code` names the gRPC status the edge maps the error to; the daemon's domain code never
imports grpc for that.
"""

from __future__ import annotations


class DaemonError(Exception):
    code = "UNKNOWN"


class NotInSwarmError(DaemonError):
    code = "FAILED_PRECONDITION"

    def __init__(self, msg: str = "This node is not part of a swarm") -> None:
        super().__init__(msg)


class AlreadyInSwarmError(DaemonError):
    code = "FAILED_PRECONDITION"

    def __init__(self) -> None:
        super().__init__(
            'This node is already part of a swarm. Use "swarm leave" to leave this swarm and '
            "join another one."
        )


class NotAManagerError(DaemonError):
    code = "FAILED_PRECONDITION"

    def __init__(self) -> None:
        super().__init__(
            "This node is not a swarm manager. Worker nodes can't be used to view or modify "
            "cluster state. Please run this command on a manager node or promote the current "
            "node to a manager."
        )


class InvalidRequestError(DaemonError):
    code = "INVALID_ARGUMENT"


class NotLockedError(DaemonError):
    code = "ALREADY_EXISTS"       # dockerd's notLockedError is a Conflict (409)

    def __init__(self) -> None:
        super().__init__("swarm is not locked")


class LockedLeaveError(DaemonError):
    code = "UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("Swarm is encrypted and locked. Please unlock it first or use `--force` "
                         "to ignore this message.")
