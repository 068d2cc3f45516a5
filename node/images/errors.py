"""Exceptions of the image layer (one tree, translated only at the edge).

::

    ImageError                      base; ``temporary`` says whether a retry may help
    ├── InvalidReferenceError       the reference string does not parse (permanent)
    ├── ImageNotFoundError          registry or local store has no such image/tag (permanent)
    ├── DigestMismatchError         a blob or manifest does not hash to its digest (permanent)
    ├── AuthError                   401/403 after trying the credentials we have (permanent)
    ├── TLSVerificationError        the registry's certificate does not verify (permanent)
    ├── UnsupportedImageError       media type / platform / compression we cannot use
    └── RegistryUnavailableError    connection refused, timeout, 5xx, 429 (temporary)

Every error raised to callers carries a readable message; registry errors include the
registry's own message (e.g. ``manifest unknown``).
"""

from __future__ import annotations


class ImageError(Exception):
    """Base of all image errors."""

    temporary: bool = False


class InvalidReferenceError(ImageError, ValueError):
    """The image reference does not parse."""


class ImageNotFoundError(ImageError, LookupError):
    """No such image (registry 404 / MANIFEST_UNKNOWN / NAME_UNKNOWN, or not in the store)."""


class DigestMismatchError(ImageError):
    """Content did not match its digest; nothing was kept."""


class AuthError(ImageError):
    """Authentication or authorization failed."""


class TLSVerificationError(ImageError):
    """The registry's TLS certificate did not verify against the system CAs."""


class UnsupportedImageError(ImageError):
    """Unsupported media type, compression or platform."""


class ImageInUseError(ImageError):
    """The image has several tags or is otherwise referenced; use force."""


class RegistryUnavailableError(ImageError):
    """The registry could not be reached or answered 5xx/429; retry later."""

    temporary = True
