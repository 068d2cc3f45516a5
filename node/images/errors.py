"""Exceptions of the image layer (one tree, translated only at the edge).

::

    ImageError                      base; ``temporary`` says whether a retry may help
    ├── InvalidReferenceError       the reference string does not parse (permanent)
    ├── ImageNotFoundError          registry or local store has no such image/tag (permanent)
    ├── DigestMismatchError         a blob or manifest does not hash to its digest (permanent)
    ├── AuthError                   401 after trying the credentials we have (permanent)
    │   └── AccessDeniedError       403: the registry refused these credentials this access
    ├── TLSVerificationError        the registry's certificate does not verify (permanent)
    ├── UnsupportedImageError       media type / platform / compression we cannot use
    ├── RegistryUnavailableError    connection refused, timeout, 5xx, 429 (temporary)
    └── RegistryLookupError         a distribution inspect could not ask the registry (unreachable,
                                    TLS): dockerd answers it 500, not 503

Every error raised to callers carries a readable message; registry errors include the
registry's own message (e.g. ``manifest unknown``), and ``registry_text`` keeps that answer as
Docker's distribution client renders it (``manifest unknown: manifest unknown``; "" when the
registry gave no answer), which the distribution inspect reports as dockerd does.
"""

from __future__ import annotations


class ImageError(Exception):
    """Base of all image errors."""

    temporary: bool = False

    def __init__(self, message: str = "", *, registry_text: str = "") -> None:
        super().__init__(message)
        self.registry_text = registry_text


class InvalidReferenceError(ImageError, ValueError):
    """The image reference does not parse."""


class ImageNotFoundError(ImageError, LookupError):
    """No such image (registry 404 / MANIFEST_UNKNOWN / NAME_UNKNOWN, or not in the store)."""


class DigestMismatchError(ImageError):
    """Content did not match its digest; nothing was kept."""


class AuthError(ImageError):
    """Authentication or authorization failed."""


class AccessDeniedError(AuthError):
    """The registry answered 403 (``DENIED``): authenticated, but not allowed."""


class TLSVerificationError(ImageError):
    """The registry's TLS certificate did not verify against the system CAs."""


class UnsupportedImageError(ImageError):
    """Unsupported media type, compression or platform."""


class ImageInUseError(ImageError):
    """The image has several tags or is otherwise referenced; use force."""


class RegistryUnavailableError(ImageError):
    """The registry could not be reached or answered 5xx/429; retry later."""

    temporary = True


class RegistryLookupError(ImageError):
    """A distribution inspect could not reach the registry (or verify it): not temporary for
    the caller, who goes on with the tag (dockerd answers it 500)."""
