"""Exceptions of the node network layer (one tree).

::

    NetworkError                     base (``temporary`` = a retry may help)
    ├── InvalidNetworkConfigError    bad CIDR / VNI / prefix / port (also a ValueError)
    ├── UnknownNetworkError          network or sandbox id not known here (also a LookupError)
    ├── NamespaceError               creating, entering or removing a netns failed
    ├── NetlinkError                 a netlink request was refused (carries errno)
    └── NftError                     ``nft -f`` rejected a ruleset or is missing

Callers (the executor) translate these at their edge; nothing here is swallowed.
"""

from __future__ import annotations


class NetworkError(Exception):
    """Base of all node network errors."""

    temporary: bool = False


class InvalidNetworkConfigError(NetworkError, ValueError):
    """A NetworkConfig / ServiceEntry / argument is invalid."""


class UnknownNetworkError(NetworkError, LookupError):
    """No such network or sandbox on this node."""


class NamespaceError(NetworkError):
    """A network namespace could not be created, entered or removed."""

    temporary = True


class NetlinkError(NetworkError):
    """The kernel refused a netlink request."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(message)
        self.errno = errno

    @property
    def temporary(self) -> bool:  # type: ignore[override]
        return self.errno in (11, 16, 105)  # EAGAIN, EBUSY, ENOBUFS


class NftError(NetworkError):
    """nft(8) rejected a ruleset, timed out, or is not installed."""
