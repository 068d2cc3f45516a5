"""Exceptions of the volume store (one tree), with Docker's messages.

::

    VolumeError                      base
    ├── InvalidVolumeError           bad name, driver or option (also a ValueError)
    ├── NoSuchVolumeError            ``get <name>: no such volume`` (also a LookupError)
    └── VolumeInUseError             ``remove <name>: volume is in use - [<container>, ...]``
"""

from __future__ import annotations


class VolumeError(Exception):
    """Base of the volume store's errors."""

    temporary: bool = False


class InvalidVolumeError(VolumeError, ValueError):
    """A name the local driver refuses, another driver, an option it does not know."""


class NoSuchVolumeError(VolumeError, LookupError):
    def __init__(self, name: str, op: str = "get") -> None:
        super().__init__(f"{op} {name}: no such volume")
        self.name = name


class VolumeInUseError(VolumeError):
    def __init__(self, name: str, users: list[str]) -> None:
        super().__init__(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self.name = name
        self.users = users
