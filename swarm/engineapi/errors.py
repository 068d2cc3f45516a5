"""Errors of the Engine API edge, and the one place a gRPC status becomes an HTTP status.

    ApiError(status, message)            answered as {"message": message} with that status
    ├── BadRequest                       400: a body, query or filter we cannot read
    └── NotServed                        501: an endpoint (or a mode of one) pyswarm does not serve

:func:`from_rpc` maps what the daemon answered (Docker's mapping, moby errdefs): NOT_FOUND 404,
ALREADY_EXISTS and ABORTED 409, INVALID_ARGUMENT, FAILED_PRECONDITION and OUT_OF_RANGE 400,
PERMISSION_DENIED 403, UNIMPLEMENTED 501, UNAVAILABLE 503, anything else 500; and, whatever the
code, the swarm-membership messages dockerd answers 503 (``This node is not a swarm manager...``,
``This node is not part of a swarm``, ``This node is already part of a swarm...``, a manager's
``You are attempting to leave the swarm...``); and
``update out of sequence`` (a stale ``version``) is always 409, whichever layer noticed it (the
control API's check says FAILED_PRECONDITION, the store's ABORTED).
"""

from __future__ import annotations

import grpc


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BadRequest(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class NotServed(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(501, message)


_CODES = {
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
}

_SWARM_STATE = (
    "This node is not a swarm manager",
    "This node is not part of a swarm",
    "This node is already part of a swarm",
    "You are attempting to leave the swarm on a node that is participating as a manager",
)


SEQUENCE_CONFLICT = "update out of sequence"


def http_status(code: grpc.StatusCode | None, details: str) -> int:
    if details.startswith(_SWARM_STATE):
        return 503
    if details.startswith(SEQUENCE_CONFLICT):
        return 409
    return _CODES.get(code, 500) if code is not None else 500


def from_rpc(e: grpc.RpcError) -> ApiError:
    code = e.code() if hasattr(e, "code") else None
    details = (e.details() if hasattr(e, "details") else None) or str(e)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        details = "context deadline exceeded"
    if details.startswith(SEQUENCE_CONFLICT):
        details = SEQUENCE_CONFLICT   # dockerd's exact text; docker-py retries on endswith() it
    return ApiError(http_status(code, details), details)
