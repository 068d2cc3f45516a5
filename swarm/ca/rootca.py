"""The swarm root CA: creation, loading, and signing node certificates.

Design notes
------------
The root is created once, at ``swarm init`` (§6.1): ECDSA P-256, subject ``CN=swarm-ca``,
self-signed, valid 20 years. Its certificate and key live in the cluster object so every manager
can sign; workers only ever hold the certificate.

:meth:`RootCA.issue` is the whole signing policy. The CSR contributes only its public key: the
subject (``CN=<node id>, OU=<role>, O=<cluster id>``), the DNS SANs (``<role>``, ``<node id>``,
and ``swarm-ca`` for managers, since managers also serve the CA API) and the lifetime are set
by the CA. Clients dial with a fixed server name (``swarm-manager`` / ``swarm-ca``), which is
why the role is a SAN: IPs and hostnames are never in certificates.

Certificates are back-dated by one hour (swarmkit ``CertBackdate``) so small clock skew between
nodes does not make a fresh certificate "not yet valid"; the requested expiry is counted from now.

``cert_pem`` is always the canonical PEM that ``cryptography`` writes: the join-token digest is a
hash of these bytes, so they must not change when a root is saved and loaded again.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from swarm.ca.certs import (
    Role,
    cert_to_pem,
    is_self_signed,
    key_to_pem,
    load_certificates,
    new_private_key,
    utcnow,
)
from swarm.ca.errors import CAError, InvalidCertificateError, InvalidCSRError, InvalidExpiryError
from swarm.ca.tokens import ca_digest, ca_digest_hex

ROOT_CN = "swarm-ca"
ROOT_EXPIRY = dt.timedelta(seconds=630_720_000)  # 20 years, as swarmkit
DEFAULT_NODE_CERT_EXPIRY = dt.timedelta(hours=2160)
#: Docker's minimum. ``PYSWARM_TEST_MIN_CERT_EXPIRY`` (seconds) lowers it for the tests that
#: watch a swarm through several renewals; it is not meant for real clusters.
MIN_NODE_CERT_EXPIRY = dt.timedelta(seconds=int(os.environ.get("PYSWARM_TEST_MIN_CERT_EXPIRY", "3600")))
CERT_BACKDATE = dt.timedelta(hours=1)


def _signing_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CAError("root CA key must be an ECDSA key")
    return key


@dataclass(frozen=True)
class RootCA:
    """A root CA certificate (PEM) with its key when this node can sign (managers)."""

    cert_pem: bytes
    key_pem: bytes | None = field(default=None, repr=False)

    @classmethod
    def create(cls, expiry: dt.timedelta = ROOT_EXPIRY) -> RootCA:
        """Make a new self-signed ECDSA P-256 root, ``CN=swarm-ca``."""
        key = new_private_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN)])
        now = utcnow()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CERT_BACKDATE)
            .not_valid_after(now + expiry)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert_to_pem(cert), key_to_pem(key))

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes | None = None) -> RootCA:
        """Load a root; the certificate must be a self-signed CA and match the key if given."""
        certs = load_certificates(cert_pem)
        root = certs[0]
        if not is_self_signed(root):
            raise InvalidCertificateError("root CA certificate is not self-signed")
        if key_pem is not None:
            key = _signing_key(key_pem)
            spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            if key.public_key().public_bytes(*spki) != root.public_key().public_bytes(*spki):
                raise CAError("root CA key does not match its certificate")
        return cls(b"".join(cert_to_pem(c) for c in certs), key_pem)

    @property
    def certificate(self) -> x509.Certificate:
        return load_certificates(self.cert_pem)[0]

    @property
    def digest(self) -> str:
        """Base-36 SHA-256 of the PEM bundle, padded to 50 (the ``D`` of a join token)."""
        return ca_digest(self.cert_pem)

    @property
    def digest_hex(self) -> str:
        return ca_digest_hex(self.cert_pem)

    @property
    def can_sign(self) -> bool:
        return self.key_pem is not None

    def issue(
        self,
        csr_pem: bytes,
        node_id: str,
        role: Role | str,
        cluster_id: str,
        expiry: dt.timedelta = DEFAULT_NODE_CERT_EXPIRY,
    ) -> bytes:
        """Sign ``csr_pem`` as node ``node_id`` with ``role`` in ``cluster_id``; returns cert PEM."""
        if self.key_pem is None:
            raise CAError("this root CA has no signing key")
        if expiry < MIN_NODE_CERT_EXPIRY:
            raise InvalidExpiryError(f"certificate expiry must be at least {MIN_NODE_CERT_EXPIRY}")
        try:
            role = Role(role)
        except ValueError as exc:
            raise CAError(f"unknown role {role!r}") from exc
        if not node_id or not cluster_id:
            raise CAError("node ID and cluster ID must not be empty")
        public_key = _csr_public_key(csr_pem)
        key = _signing_key(self.key_pem)
        root = self.certificate
        now = utcnow()
        sans = [x509.DNSName(role.value), x509.DNSName(node_id)]
        if role is Role.MANAGER:
            sans.append(x509.DNSName(ROOT_CN))
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, node_id),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.value),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(root.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CERT_BACKDATE)
            .not_valid_after(now + expiry)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=True,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cert_to_pem(cert)


def _csr_public_key(csr_pem: bytes) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InvalidCSRError(f"cannot parse CSR: {exc}") from exc
    if not csr.is_signature_valid:
        raise InvalidCSRError("CSR signature is invalid")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise InvalidCSRError(f"unsupported curve {key.curve.name}")
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return key
    raise InvalidCSRError("CSR key must be ECDSA P-256/P-384 or RSA >= 2048 bits")


__all__ = [
    "CERT_BACKDATE",
    "DEFAULT_NODE_CERT_EXPIRY",
    "MIN_NODE_CERT_EXPIRY",
    "ROOT_CN",
    "ROOT_EXPIRY",
    "RootCA",
]
