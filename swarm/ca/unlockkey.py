"""The unlock key of autolock, and the key files it seals (reference §6.5).

With autolock on, the files that let a manager act as one -- its TLS key, the Raft secret and the
managers' secrets key (from which the Raft data key derives, ``swarm.store.atrest``) -- are
sealed on its disk with the unlock key (Docker's KEK), which is itself never on disk in clear: it
lives in the cluster object, inside the sealed Raft data. A manager that restarts finds its files
sealed and stays locked until ``swarm unlock`` gives the key.

* Key text: ``SWMKEY-1-`` + standard base64 without padding of 32 random bytes (43 characters),
  swarmkit's ``encryption.HumanReadableKey``.
* A sealed file: ``MAGIC`` + nonce(12) + AES-256-GCM(content, aad=the file's name). A file
  without ``MAGIC`` is in clear (autolock off, or a worker's TLS key).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from swarm.ca.errors import CAError

PREFIX = "SWMKEY-1-"
KEY_BYTES = 32
MAGIC = b"PYSWARM-LOCKED-1\n"
_NONCE = 12

#: dockerd's messages (daemon/cluster/errors.go, swarm.go)
LOCKED_MESSAGE = ('Swarm is encrypted and needs to be unlocked before it can be used. Please use '
                  '"docker swarm unlock" to unlock it.')
WRONG_KEY_MESSAGE = "swarm could not be unlocked: invalid key provided"


class UnlockKeyError(CAError):
    """Base of the autolock errors."""


class InvalidKeyStringError(UnlockKeyError):
    """Not an unlock key at all (swarmkit's ``ParseHumanReadableKey``)."""

    code: ClassVar[str] = "INVALID_ARGUMENT"

    def __init__(self) -> None:
        super().__init__("invalid key string")


class WrongUnlockKeyError(UnlockKeyError):
    """A well-formed key that does not open this node's files."""

    code: ClassVar[str] = "UNAUTHENTICATED"

    def __init__(self) -> None:
        super().__init__(WRONG_KEY_MESSAGE)


class SwarmLockedError(UnlockKeyError):
    """The node's files are sealed and it has not been given the key."""

    code: ClassVar[str] = "UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__(LOCKED_MESSAGE)


def generate() -> bytes:
    return os.urandom(KEY_BYTES)


def format_key(raw: bytes) -> str:
    return PREFIX + base64.b64encode(raw).decode().rstrip("=")


def parse_key(text: str) -> bytes:
    text = text.strip()
    if not text.startswith(PREFIX):
        raise InvalidKeyStringError()
    body = text[len(PREFIX):]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKeyStringError() from None
    if len(raw) != KEY_BYTES:
        # swarmkit decodes any length and fails later on opening: same answer as a wrong key
        raise WrongUnlockKeyError()
    return raw


def is_sealed(blob: bytes) -> bool:
    return blob.startswith(MAGIC)


def seal(kek: bytes, label: str, data: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return MAGIC + nonce + AESGCM(kek).encrypt(nonce, data, label.encode())


def unseal(kek: bytes | None, label: str, blob: bytes) -> bytes:
    """``blob``'s content: as it is when in clear; opened with ``kek`` when sealed (no key:
    :class:`SwarmLockedError`; another key or an altered file: :class:`WrongUnlockKeyError`)."""
    if not is_sealed(blob):
        return blob
    if kek is None:
        raise SwarmLockedError()
    body = blob[len(MAGIC):]
    try:
        return AESGCM(kek).decrypt(body[:_NONCE], body[_NONCE:], label.encode())
    except (InvalidTag, ValueError):
        raise WrongUnlockKeyError() from None


def wrap(kek: bytes | None, label: str, data: bytes) -> bytes:
    """What to write for ``data``: sealed with ``kek``, or in clear without one."""
    return data if kek is None else seal(kek, label, data)


__all__ = ["KEY_BYTES", "LOCKED_MESSAGE", "MAGIC", "PREFIX", "WRONG_KEY_MESSAGE", "InvalidKeyStringError",
           "SwarmLockedError", "UnlockKeyError", "WrongUnlockKeyError", "format_key", "generate",
           "is_sealed", "parse_key", "seal", "unseal", "wrap"]
