"""Node certificates: keys, CSRs, identities, chain checks and renewal timing.

Design notes
------------
A node's identity *is* its certificate (§6.1): ``CN`` = node ID, ``OU`` = role
(``swarm-manager``/``swarm-worker``), ``O`` = cluster ID. Nothing else about a peer is trusted:
not its address, not its hostname. :func:`parse_identity` reads those three fields;
:func:`verify_chain` checks that a certificate was signed by the swarm root (directly, or through
the intermediates of a root rotation) and is inside its validity window.

``verify_chain`` is deliberately small and explicit instead of a WebPKI path builder: swarm certs
have one level (root → node), or two during rotation (root → cross-signed root → node), and the
rules that matter are the signature, the issuer name and the validity window.

Renewal (:func:`renew_at`) happens at a uniformly random point between 50 % and 80 % of the
lifetime, so a fleet issued at the same moment does not renew at the same moment.

Keys are ECDSA P-256, written as ``EC PRIVATE KEY`` PEM like swarmkit (so a DEK header can be
added later, §6.5).
"""

from __future__ import annotations

import datetime as dt
import enum
import random
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from swarm.ca.errors import CertificateExpiredError, InvalidCertificateError

RENEW_MIN_FRACTION = 0.5
RENEW_MAX_FRACTION = 0.8


class Role(enum.StrEnum):
    """Certificate roles: the OU of a node certificate."""

    MANAGER = "swarm-manager"
    WORKER = "swarm-worker"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a certificate says its holder is."""

    node_id: str
    role: Role
    cluster_id: str
    not_after: dt.datetime
    not_before: dt.datetime | None = None
    serial: str = ""          # lower-case hex, as recorded in the store (swarm.ca.revocation)

    @property
    def is_manager(self) -> bool:
        return self.role is Role.MANAGER


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def make_key_and_csr(common_name: str = "") -> tuple[bytes, bytes]:
    """Make an ECDSA P-256 key and a CSR for it. Returns ``(key_pem, csr_pem)``.

    The subject is advisory only: the CA sets CN/OU/O itself when it signs.
    """
    key = new_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return key_to_pem(key), csr.public_bytes(serialization.Encoding.PEM)


def load_certificate(data: bytes | str | x509.Certificate) -> x509.Certificate:
    """Load one certificate from PEM or DER (the first one of a PEM bundle)."""
    if isinstance(data, x509.Certificate):
        return data
    raw = data.encode() if isinstance(data, str) else data
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise InvalidCertificateError(f"cannot parse certificate: {exc}") from exc


def load_certificates(pem: bytes | str) -> list[x509.Certificate]:
    """Load every certificate of a PEM bundle (at least one)."""
    raw = pem.encode() if isinstance(pem, str) else pem
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        raise InvalidCertificateError(f"cannot parse certificate bundle: {exc}") from exc
    return certs


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _single(name: x509.Name, oid: x509.ObjectIdentifier, label: str) -> str:
    attrs = name.get_attributes_for_oid(oid)
    if len(attrs) != 1:
        raise InvalidCertificateError(f"certificate subject must have exactly one {label}")
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode()


def parse_identity(cert: bytes | str | x509.Certificate) -> Identity:
    """Read node ID (CN), role (OU) and cluster ID (O) from a node certificate."""
    c = load_certificate(cert)
    node_id = _single(c.subject, NameOID.COMMON_NAME, "CN")
    ou = _single(c.subject, NameOID.ORGANIZATIONAL_UNIT_NAME, "OU")
    cluster_id = _single(c.subject, NameOID.ORGANIZATION_NAME, "O")
    try:
        role = Role(ou)
    except ValueError as exc:
        raise InvalidCertificateError(f"unknown certificate role (OU) {ou!r}") from exc
    if not node_id or not cluster_id:
        raise InvalidCertificateError("certificate has an empty node ID or cluster ID")
    return Identity(node_id, role, cluster_id, c.not_valid_after_utc, c.not_valid_before_utc,
                    format(c.serial_number, "x"))


def is_self_signed(cert: x509.Certificate) -> bool:
    """True when ``cert`` is signed by its own key (a root)."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def check_validity(cert: x509.Certificate, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CertificateExpiredError(
            f"certificate {cert.subject.rfc4514_string()} is valid from {cert.not_valid_before_utc} "
            f"to {cert.not_valid_after_utc}, not at {now}"
        )


def verify_chain(
    cert: bytes | str | x509.Certificate,
    roots: bytes | str | x509.Certificate | list[x509.Certificate],
    intermediates: list[x509.Certificate] | bytes | None = None,
    now: dt.datetime | None = None,
    *,
    check_time: bool = True,
) -> x509.Certificate:
    """Check ``cert`` chains to one of ``roots`` (a PEM bundle, cert or list) at ``now``.

    Returns the root that anchored the chain; raises :class:`InvalidCertificateError` (or its
    subclass :class:`CertificateExpiredError`) otherwise. ``intermediates`` may be given for a
    root rotation (at most a few; the walk is bounded). ``check_time=False`` checks signatures
    only, for callers that cache the result and check the validity window themselves.
    """
    leaf = load_certificate(cert)
    if isinstance(roots, list):
        anchors = roots
    elif isinstance(roots, x509.Certificate):
        anchors = [roots]
    else:
        anchors = load_certificates(roots)
    pool = load_certificates(intermediates) if isinstance(intermediates, bytes) else list(intermediates or [])
    if check_time:
        check_validity(leaf, now)
    current = leaf
    for _ in range(len(pool) + 1):
        for root in anchors:
            if signed_by(current, root):
                if check_time:
                    check_validity(root, now)
                return root
        step = next((i for i in pool if i is not current and signed_by(current, i)), None)
        if step is None:
            break
        if check_time:
            check_validity(step, now)
        current = step
    raise InvalidCertificateError(
        f"certificate {leaf.subject.rfc4514_string()} is not signed by the swarm root CA"
    )


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer`` signed ``cert`` (name and signature; no validity check)."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def renew_at(
    cert: bytes | str | x509.Certificate, rng: random.Random | None = None,
    backdate: dt.timedelta = dt.timedelta(hours=1),
) -> dt.datetime:
    """When to renew ``cert``: uniformly between 50 % and 80 % of its lifetime (§6.1).

    The lifetime is counted from when the certificate was signed, not from its backdated
    ``notBefore`` (the root backdates by ``backdate`` to absorb clock skew): counted from
    notBefore, a 1 h certificate would be "half gone" the moment it is issued and be renewed
    again at once, for ever."""
    c = load_certificate(cert)
    start, end = c.not_valid_before_utc, c.not_valid_after_utc
    if end - start > backdate:
        start = start + backdate
    fraction = (rng or random.SystemRandom()).uniform(RENEW_MIN_FRACTION, RENEW_MAX_FRACTION)
    return start + (end - start) * fraction
