"""Encryption at rest of the Raft data: the journal's entries and the snapshot file.

Docker encrypts its Raft WAL and snapshots with a data encryption key (DEK), reference §6.5.
Here the key is the managers' one: ``swarm.ca.sealing.SecretsKey.derive(RAFT_DATA_PURPOSE)``,
which every manager holds (made by ``swarm init``, handed to a joining manager over mTLS), so the
same sealed entry opens on every replica -- which a replicated state machine needs, as a Raft
entry is proposed once and applied on every member.

* An entry: the store proposes ``apply_batch(proposal_id, sealed)`` where ``sealed`` is
  ``b"\\x01" + nonce(12) + AES-256-GCM(pickle(wire actions), aad=b"raft-entry")``: pysyncobj's
  journal (``raft.journal``) and the entries it sends to followers hold only that. The tick thread
  opens it on apply (``DataKey.open_entry``). A list instead of bytes is an entry written before
  this existed, or by a store without a key (unit tests): applied as it is.
* The snapshot (``raft.dump``): ``MAGIC`` then records ``len(4, BE) + nonce(12) + ciphertext``,
  each sealing up to ``BLOCK`` bytes of the gzip stream ``snapshot.py`` writes, with the record's
  number and a last-record flag as associated data: a flipped byte, a reordered, dropped or
  appended record and a truncated file are all refused. A file without ``MAGIC`` is a plain
  snapshot from before: read as it is (the next snapshot is sealed).

Not sealed: ``raft.journal.meta`` (term, vote, commit index) and pysyncobj's own membership
entries (addresses of the managers) -- nothing secret.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: the purpose the data key is derived for from the managers' secrets key
RAFT_DATA_PURPOSE = b"pyswarm raft data v1"
MAGIC = b"PYSWARM-SEALED-SNAPSHOT-1\n"
BLOCK = 1 << 20
_ENTRY_VERSION = b"\x01"
_ENTRY_AAD = b"raft-entry"
_NONCE = 12
_TAG = 16
_RECORD = struct.Struct(">I")
_AAD = struct.Struct(">QB")


class SealedDataError(ValueError):
    """Sealed Raft data that does not open: another key, tampering, truncation."""


class DataKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"the raft data key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)

    # ---- journal entries
    def seal_entry(self, wire: list[Any]) -> bytes:
        nonce = os.urandom(_NONCE)
        data = pickle.dumps(wire, protocol=pickle.HIGHEST_PROTOCOL)
        return _ENTRY_VERSION + nonce + self._aead.encrypt(nonce, data, _ENTRY_AAD)

    def open_entry(self, blob: bytes) -> Any:
        if len(blob) < 1 + _NONCE + _TAG or blob[:1] != _ENTRY_VERSION:
            raise SealedDataError("sealed raft entry is malformed")
        try:
            data = self._aead.decrypt(blob[1:1 + _NONCE], blob[1 + _NONCE:], _ENTRY_AAD)
        except InvalidTag:
            raise SealedDataError("sealed raft entry does not open with this manager's key") from None
        return pickle.loads(data)    # authenticated above: written by a manager holding the key

    # ---- snapshot files
    def writer(self, raw: BinaryIO) -> SealedWriter:
        return SealedWriter(raw, self._aead)

    def reader(self, raw: BinaryIO) -> SealedReader:
        return SealedReader(raw, self._aead)

    def __repr__(self) -> str:       # never print the key
        return "DataKey(...)"


class SealedWriter(io.RawIOBase):
    """A write-only file that seals what is written to it in ``BLOCK``-sized records on ``raw``.
    ``close()`` writes the last record (flagged as such) and does not close ``raw``."""

    def __init__(self, raw: BinaryIO, aead: AESGCM) -> None:
        super().__init__()
        self._raw, self._aead = raw, aead
        self._buf = bytearray()
        self._n = 0
        raw.write(MAGIC)

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        self._buf += view
        while len(self._buf) > BLOCK:
            self._record(bytes(self._buf[:BLOCK]), last=False)
            del self._buf[:BLOCK]
        return len(view)

    def close(self) -> None:
        if not self.closed:
            self._record(bytes(self._buf), last=True)
            self._buf.clear()
        super().close()

    def _record(self, data: bytes, last: bool) -> None:
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, data, _AAD.pack(self._n, last))
        self._raw.write(_RECORD.pack(len(sealed)) + sealed)
        self._n += 1


class SealedReader(io.RawIOBase):
    """Reads back what ``SealedWriter`` sealed; raises :class:`SealedDataError` on any damage.
    ``raw`` must be positioned after ``MAGIC`` (see :func:`open_snapshot`)."""

    def __init__(self, raw: BinaryIO, aead: AESGCM) -> None:
        super().__init__()
        self._raw, self._aead = raw, aead
        self._buf = b""
        self._n = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf and not self._done:
            self._next_record()
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def _next_record(self) -> None:
        head = self._raw.read(_RECORD.size)
        if len(head) < _RECORD.size:
            raise SealedDataError(f"sealed snapshot is truncated before record {self._n}")
        (size,) = _RECORD.unpack(head)
        if size < _NONCE + _TAG or size > _NONCE + BLOCK + _TAG:
            raise SealedDataError(f"sealed snapshot record {self._n} has a bad length {size}")
        sealed = self._raw.read(size)
        if len(sealed) < size:
            raise SealedDataError(f"sealed snapshot is truncated in record {self._n}")
        for last in (False, True):
            try:
                self._buf = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _AAD.pack(self._n, last))
            except InvalidTag:
                continue
            self._n += 1
            if last:
                if self._raw.read(1):
                    raise SealedDataError("sealed snapshot has data after its last record")
                self._done = True
            return
        raise SealedDataError(f"sealed snapshot record {self._n} does not open with this "
                              "manager's key (another key, or the file was altered)")


def open_snapshot(raw: BinaryIO, key: DataKey | None) -> BinaryIO:
    """The snapshot's plain bytes: through ``key`` when the file is sealed, as they are when it is
    a plain one from before; a sealed file without a key is refused."""
    head = raw.read(len(MAGIC))
    if head != MAGIC:
        raw.seek(0)
        return raw
    if key is None:
        raise SealedDataError("the snapshot is sealed and this manager has no key to open it")
    return io.BufferedReader(key.reader(raw), BLOCK)


__all__ = ["BLOCK", "MAGIC", "RAFT_DATA_PURPOSE", "DataKey", "SealedDataError", "SealedReader",
           "SealedWriter", "open_snapshot"]
