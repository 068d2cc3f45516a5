"""Object identifiers and base-36 helpers.

Design notes
------------
IDs follow swarmkit ``identity.NewID``: 17 random bytes with the top bit forced on are read as a
big-endian integer and printed in base 36. Forcing the top bit makes the number 27 digits long; the
first digit carries almost no entropy (it is always one of a few values), so swarmkit drops it and
keeps the next 25. The result is always exactly 25 lowercase ``[0-9a-z]`` characters.

The same base-36 encoding, left-padded with ``0``, is used for join-token digests and secrets
(``swarm.ca.tokens``).
"""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_ENTROPY_BYTES = 17
ID_LENGTH = 25


def to_base36(n: int) -> str:
    """Return ``n`` (non-negative) in lowercase base 36 without padding."""
    if n < 0:
        raise ValueError("negative number")
    if n == 0:
        return "0"
    out: list[str] = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def from_base36(s: str) -> int:
    """Parse lowercase base 36; raises ``ValueError`` on any other character."""
    if not s or any(c not in _ALPHABET for c in s):
        raise ValueError(f"not a base-36 string: {s!r}")
    return int(s, 36)


def new_id() -> str:
    """Return a new 25-character object ID (node, cluster, service, task, network...)."""
    raw = bytearray(secrets.token_bytes(ID_ENTROPY_BYTES))
    raw[0] |= 0x80
    text = to_base36(int.from_bytes(raw, "big"))
    return text[1 : ID_LENGTH + 1]


def is_valid_id(s: str) -> bool:
    """True for a string shaped like an ID made by :func:`new_id`."""
    return len(s) == ID_LENGTH and all(c in _ALPHABET for c in s)
