"""Exception tree of the PKI layer.

Design notes
------------
One tree, drawn here, raised by everything in ``swarm.ca``::

    CAError                          base; ``temporary`` says whether a retry can help
    ├── InvalidTokenError            join token malformed or not the cluster's (InvalidArgument)
    ├── CAMismatchError              remote root CA digest differs from the token's (FailedPrecondition)
    ├── InvalidCSRError              CSR unparsable, bad signature or unsupported key (InvalidArgument)
    ├── InvalidExpiryError           certificate lifetime below the 1 h minimum (InvalidArgument)
    ├── InvalidCertificateError      unparsable cert, wrong issuer, bad signature, bad subject
    │   │                            (PermissionDenied when met on an incoming call)
    │   └── CertificateExpiredError  outside its validity window
    └── CertificateStoreError        node certificate files missing or unreadable on disk

``swarm.ca`` never imports grpc. Each class names the canonical status code (the google.rpc.Code
name, which is protocol neutral) in ``code``; ``swarm.rpc.errors`` is the one place that
turns that name into a ``grpc.StatusCode`` at the transport edge.

The retry decision is in the type: ``temporary = False`` means retrying the same request cannot
succeed (wrong token, wrong CA); ``True`` means a later attempt may (files being rewritten).
"""

from __future__ import annotations

from typing import ClassVar


class CAError(Exception):
    """Base of every PKI error."""

    code: ClassVar[str] = "INTERNAL"
    temporary: ClassVar[bool] = False


class InvalidTokenError(CAError):
    """The join token is malformed or does not match one of the cluster's tokens.

    The message is the one Docker shows (§1.3), whatever the detail; the detail goes to ``reason``
    so logs can say why without telling a caller which part of a guess was right.
    """

    code = "INVALID_ARGUMENT"
    MESSAGE: ClassVar[str] = "A valid join token is necessary to join this cluster"

    def __init__(self, reason: str = "") -> None:
        super().__init__(self.MESSAGE)
        self.reason = reason


class PermissionDeniedError(CAError):
    """A caller with a valid signature asked for something its node may not have now."""

    code = "PERMISSION_DENIED"


class CAMismatchError(CAError):
    """The root CA a remote manager presents does not hash to the digest in the join token."""

    code = "FAILED_PRECONDITION"

    def __init__(self, expected_hex: str) -> None:
        super().__init__(f"remote CA does not match fingerprint. Expected: {expected_hex}")
        self.expected_hex = expected_hex


class InvalidCSRError(CAError):
    """A certificate signing request that cannot be signed."""

    code = "INVALID_ARGUMENT"


class InvalidExpiryError(CAError):
    """Requested certificate validity below the minimum (1 h, §6.1)."""

    code = "INVALID_ARGUMENT"


class InvalidCertificateError(CAError):
    """A certificate that does not chain to the swarm root or has no swarm identity."""

    code = "PERMISSION_DENIED"


class CertificateExpiredError(InvalidCertificateError):
    """A certificate used outside its validity window."""


class CertificateStoreError(CAError):
    """Node certificate files are missing or unreadable."""

    code = "FAILED_PRECONDITION"
    temporary = True
