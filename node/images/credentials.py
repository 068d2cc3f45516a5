"""Docker's X-Registry-Auth: base64url JSON with ``username``/``password``, or ``auth`` (base64
``user:pass``), as a task's ``--with-registry-auth`` and a distribution inspect carry it."""

from __future__ import annotations

import base64
import binascii
import json


class UnreadableAuthError(ValueError):
    """The encoded credentials are not base64url JSON of that shape."""


def decode_registry_auth(encoded: str) -> tuple[str, str] | None:
    """(user, password) from ``encoded``; None when it is empty or names no user and password
    (an identity token alone); :class:`UnreadableAuthError` when it cannot be read."""
    if not encoded:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        if doc.get("username") and doc.get("password"):
            return str(doc["username"]), str(doc["password"])
        if doc.get("auth"):
            user, _, pw = base64.b64decode(doc["auth"]).decode().partition(":")
            return user, pw
    except (binascii.Error, ValueError, UnicodeDecodeError, AttributeError) as e:
        raise UnreadableAuthError(f"registry credentials unreadable: {e}") from None
    return None
