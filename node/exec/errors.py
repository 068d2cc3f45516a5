"""Exceptions of the executor layer (one tree; the retry decision is in the type).

::

    ExecError                        base; ``temporary`` says whether retrying may help
    ├── PermanentError               this task cannot get further on this node
    │   ├── InvalidSpecError         the spec cannot be run here (bad limits, no command, ...)
    │   ├── ImagePullError           the registry refused: "manifest unknown", unauthorized, ...
    │   ├── ContainerStartError      the process could not be started (exec failed, bad user)
    │   ├── ContainerGoneError       the task's container vanished (removed behind our back)
    │   └── ContainerNotRunningError a ``docker exec`` into a container that is not running
    └── TemporaryError               a retry after ``retry_after`` seconds may succeed
        ├── RegistryUnavailableError connection refused, timeout, 5xx/429
        ├── RuntimeUnavailableError  the runtime's helper/shim does not answer
        └── DependencyNotReceivedError  a secret/config not received yet (before the first
                                     COMPLETE assignment set after a restart)

Executors translate their back end's errors into this tree at the edge (``node.exec.runtime``
does it for ``node.images`` and ``node.runtime``); the task manager only looks at the type.
A temporary error is retried with backoff a few times and then treated as permanent, so a
task never sits in PREPARING for ever while its registry is down (Docker rejects it at once;
we give the registry a few seconds first). ``str(err)`` is what ends up in
``TaskStatus.err``, so messages are written for the user.

A non-zero exit is not an error here: ``Controller.wait()`` returns the exit code and the
task manager turns it into FAILED with ``task: non-zero exit (N)``.
"""

from __future__ import annotations


class ExecError(Exception):
    """Base of all executor errors."""

    temporary: bool = False
    retry_after: float = 0.0


class PermanentError(ExecError):
    """The task cannot make progress: REJECTED before STARTING, FAILED from STARTING on."""


class InvalidSpecError(PermanentError, ValueError):
    """The task spec cannot be run (invalid limits, missing image reference, no command)."""


class ImagePullError(PermanentError):
    """The image could not be pulled and is not on the node; carries the registry's message."""


class ContainerStartError(PermanentError):
    """The container's process could not be started."""


class ContainerGoneError(PermanentError, LookupError):
    """The task's container no longer exists."""


class ContainerNotRunningError(PermanentError):
    """The container exists but is not running (a ``docker exec`` into a stopped one)."""


class UnhealthyContainerError(PermanentError):
    """The task's healthcheck found the container unhealthy (Docker's task error)."""

    def __init__(self, message: str = "dockerexec: unhealthy container") -> None:
        super().__init__(message)


class TemporaryError(ExecError):
    """A retry may help (after ``retry_after`` seconds)."""

    temporary = True
    retry_after = 0.5


class RegistryUnavailableError(TemporaryError):
    """The registry could not be reached or answered 5xx/429."""


class RuntimeUnavailableError(TemporaryError):
    """The container runtime (zygote/shim) did not answer."""


class DependencyNotReceivedError(TemporaryError):
    """A referenced secret or config has not arrived from the manager yet."""
