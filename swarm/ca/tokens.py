"""Join tokens and root CA digests.

Design notes
------------
Format (swarmkit ``ca.GenerateJoinToken``, §6.2)::

    SWMTKN-1-<D>-<S>        v1
    SWMTKN-2-1-<D>-<S>      v2 (FIPS clusters); parsed, and generated with ``fips=True``

``D`` is the SHA-256 of the root CA **PEM bundle bytes** as a base-36 number left-padded with ``0``
to 50 characters; ``S`` is 16 random bytes as base 36 left-padded to 25. A token thus carries the
pin a joining node checks the remote CA against (``swarm.rpc.join.fetch_root_ca``) and a secret
the manager compares, in constant time, against its worker and manager tokens.

The digest is computed over the exact bytes of the bundle as stored in the cluster object, so
anything that hands a bundle around must keep its bytes (``RootCA`` keeps the canonical PEM that
``cryptography`` writes).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from swarm.ca.errors import InvalidTokenError
from swarm.ca.ids import from_base36, to_base36

TOKEN_PREFIX = "SWMTKN"
DIGEST_LENGTH = 50
SECRET_LENGTH = 25
SECRET_ENTROPY_BYTES = 16


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A join token split into its parts. ``ca_digest`` is the 64-character SHA-256 hex."""

    version: int
    ca_digest: str
    secret: str
    fips: bool = False


def ca_digest_hex(root_ca_pem: bytes) -> str:
    """SHA-256 hex of a root CA PEM bundle (as shown in the fingerprint error)."""
    return hashlib.sha256(root_ca_pem).hexdigest()


def ca_digest(root_ca_pem: bytes) -> str:
    """The token form of the digest: base 36, left-padded with ``0`` to 50 characters."""
    return to_base36(int(ca_digest_hex(root_ca_pem), 16)).rjust(DIGEST_LENGTH, "0")


def generate_join_token(root_ca_cert_pem: bytes, *, fips: bool = False) -> str:
    """Make a new join token pinned to ``root_ca_cert_pem`` with a fresh random secret."""
    secret = to_base36(int.from_bytes(secrets.token_bytes(SECRET_ENTROPY_BYTES), "big"))
    prefix = f"{TOKEN_PREFIX}-2-1" if fips else f"{TOKEN_PREFIX}-1"
    return f"{prefix}-{ca_digest(root_ca_cert_pem)}-{secret.rjust(SECRET_LENGTH, '0')}"


def parse_join_token(token: str) -> ParsedToken:
    """Split and check a v1 or v2 token; raises :class:`InvalidTokenError` when malformed."""
    parts = token.strip().split("-")
    if parts[0] != TOKEN_PREFIX or len(parts) not in (4, 5):
        raise InvalidTokenError("token does not have the SWMTKN-<version>-... shape")
    if len(parts) == 4:
        if parts[1] != "1":
            raise InvalidTokenError(f"unknown token version {parts[1]!r}")
        version, fips = 1, False
    else:
        if parts[1] != "2" or parts[2] != "1":
            raise InvalidTokenError(f"unknown token version {parts[1]}-{parts[2]}")
        version, fips = 2, True
    digest36, secret = parts[-2], parts[-1]
    if len(digest36) != DIGEST_LENGTH or len(secret) != SECRET_LENGTH:
        raise InvalidTokenError("digest or secret has the wrong length")
    try:
        digest = from_base36(digest36)
        from_base36(secret)
    except ValueError as exc:
        raise InvalidTokenError("digest or secret is not base 36") from exc
    if digest >= 1 << 256:
        raise InvalidTokenError("digest is larger than a SHA-256")
    return ParsedToken(version=version, ca_digest=f"{digest:064x}", secret=secret, fips=fips)


def tokens_match(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens (or secrets)."""
    return hmac.compare_digest(a.encode(), b.encode())


def token_matches_ca(parsed: ParsedToken, root_ca_pem: bytes) -> bool:
    """True when the token's digest pins ``root_ca_pem``."""
    return hmac.compare_digest(parsed.ca_digest, ca_digest_hex(root_ca_pem))
