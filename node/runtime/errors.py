"""Exceptions of the runtime layer (one tree).

::

    ContainerRuntimeError                    base (``temporary`` = a retry may help)
    ├── InvalidConfigError           bad limits / user / mounts (also a ValueError)
    ├── ContainerNotFoundError       no such container id (also a LookupError)
    ├── ContainerExistsError         create() with an id already in use
    ├── ContainerStateError          wrong state for the call (start twice, remove running)
    ├── ContainerStartError          the process could not be started (exec failed, bad user,
    │                                mount failed); carries the message from inside
    ├── ShimUnavailableError         the container's supervisor does not answer (temporary)
    └── RuntimeSetupError            the host lacks something (cgroup mount, libseccomp, ...)

``WaitTimeout`` (also a ``TimeoutError``) is raised by ``wait(timeout=...)``.
"""

from __future__ import annotations


class ContainerRuntimeError(Exception):
    """Base of all runtime errors."""

    temporary: bool = False





class InvalidConfigError(ContainerRuntimeError, ValueError):
    """The container configuration is invalid (e.g. memory limit below 6 MiB)."""


class ContainerNotFoundError(ContainerRuntimeError, LookupError):
    """No container with that id."""


class ContainerExistsError(ContainerRuntimeError):
    """A container with that id already exists."""


class ContainerStateError(ContainerRuntimeError):
    """The container is in the wrong state for this operation."""


class ContainerStartError(ContainerRuntimeError):
    """The container process could not be set up or exec'd."""


class ShimUnavailableError(ContainerRuntimeError):
    """The container's shim did not answer."""

    temporary = True


class RuntimeSetupError(ContainerRuntimeError):
    """The host is missing something the runtime needs."""


class WaitTimeout(ContainerRuntimeError, TimeoutError):
    """wait() timed out; the container is still running."""
