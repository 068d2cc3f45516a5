"""Errors of the control API. Each carries the gRPC status name the edge maps it to (`code`),
so this package never imports grpc.

    ControlError
    ├── NotFoundError            NOT_FOUND
    ├── AlreadyExistsError       ALREADY_EXISTS
    ├── InvalidArgumentError     INVALID_ARGUMENT
    ├── FailedPreconditionError  FAILED_PRECONDITION
    └── AmbiguousError           INVALID_ARGUMENT   (a prefix matches several objects)
"""

from __future__ import annotations


class ControlError(Exception):
    code = "UNKNOWN"


class NotFoundError(ControlError):
    code = "NOT_FOUND"


class AlreadyExistsError(ControlError):
    code = "ALREADY_EXISTS"


class InvalidArgumentError(ControlError):
    code = "INVALID_ARGUMENT"


class FailedPreconditionError(ControlError):
    code = "FAILED_PRECONDITION"


class AmbiguousError(ControlError):
    code = "INVALID_ARGUMENT"
