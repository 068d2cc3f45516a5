"""Sealing secret values for the store: the managers' secrets key.

A secret's value never enters the Raft log or a snapshot in clear: the control API seals it
with this key before the write (``Secret.sealed``), and only the leader's dispatcher opens it,
to hand it over mTLS to a node that runs a task using it. The key itself is never in the
store: ``swarm init`` makes it, a joining manager receives it in the Raft join answer (over
mTLS, manager certificates only), and each manager keeps it in a 0600 file of its data root --
the same protection Docker gives its Raft data encryption key without autolock (the DEK in a
PEM header of the node's TLS key).

Format: ``b"\\x01" + nonce(12) + AES-256-GCM(data, aad=secret id)``. The version byte leaves
room for rotation; the id as associated data stops a sealed value being copied onto another
secret.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE = 12


class SealingError(Exception):
    """A sealed value that this key cannot open (wrong key, tampered, truncated)."""


class SecretsKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"secrets key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.raw = key

    @classmethod
    def generate(cls) -> SecretsKey:
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    def derive(self, purpose: bytes) -> bytes:
        """A 32-byte key for another use (HKDF-SHA256 over this one, ``purpose`` as info): the
        Raft data key (``swarm.store.atrest``) is one, so that no ciphertext of one use can be
        passed off as the other's."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(self.raw)

    def seal(self, object_id: str, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, object_id.encode())

    def unseal(self, object_id: str, sealed: bytes) -> bytes:
        if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != _VERSION:
            raise SealingError(f"sealed value of {object_id} is malformed")
        try:
            return self._aead.decrypt(sealed[1:1 + _NONCE], sealed[1 + _NONCE:], object_id.encode())
        except InvalidTag:
            raise SealingError(f"sealed value of {object_id} does not open with this key") from None

    def __repr__(self) -> str:       # never print the key
        return "SecretsKey(...)"


def key_path(data_root: Path) -> Path:
    return data_root / "secrets.key"


def save_key(data_root: Path, key: SecretsKey, kek: bytes | None = None) -> None:
    """Write the key (0600, atomically: a torn write never leaves half a key), sealed with the
    unlock key ``kek`` when given (autolock, ``swarm.ca.unlockkey``)."""
    from swarm.ca.storage import atomic_write
    from swarm.ca.unlockkey import wrap

    p = key_path(data_root)
    atomic_write(p, wrap(kek, p.name, key.raw), 0o600)


def load_key(data_root: Path, kek: bytes | None = None) -> SecretsKey | None:
    """The manager's key; None if it has none (a manager from before secrets existed). A sealed
    file needs ``kek`` (``SwarmLockedError`` / ``WrongUnlockKeyError`` otherwise)."""
    from swarm.ca.unlockkey import unseal

    p = key_path(data_root)
    try:
        raw = unseal(kek, p.name, p.read_bytes())
    except FileNotFoundError:
        return None
    try:
        return SecretsKey(raw)
    except ValueError as e:
        raise SealingError(f"{p}: {e}") from None
