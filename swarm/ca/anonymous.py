"""The anonymous client certificate a node uses before it has a swarm certificate (join).

Design notes
------------
Swarmkit serves the join endpoints (``CA.GetRootCACertificate``, ``NodeCA.*``) on the same port as
everything else with Go's ``tls.VerifyClientCertIfGiven``: a client certificate is requested but
optional. Python gRPC (checked with grpcio 1.85, see ``tests/integration/test_tls_transport.py``) offers
only two server modes: ``require_client_auth=True`` (request, require and verify) or ``False``
(**never request** a client certificate, so even nodes that have one cannot present it and the
server could authorize nobody). "Request but don't require" is not exposed.

So the manager port requires a client certificate, and a node that has no swarm certificate yet
presents an *anonymous* one, issued by a well-known **anonymous CA** whose key is public: it is
derived from a fixed string, so every pyswarm process computes the same key pair and can mint
anonymous certificates. Managers add that CA to the trust anchors they verify client
certificates against (never to the anchors clients verify servers against).

Why this is safe: an anonymous certificate proves nothing and grants nothing. The authorization
layer (``swarm.rpc.auth``) takes a caller's identity only from a certificate that verifies
against the *swarm* root with ``swarm.ca.verify_chain``; whatever an anonymous certificate says
in its subject (anyone can write ``OU=swarm-manager`` into one) it only reaches the RPCs open to
anonymous callers, exactly the ones swarmkit serves without a client certificate. The token is
the credential there, as in swarmkit. Clients never trust the anonymous CA for servers, so it
cannot be used to impersonate a manager.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from swarm.ca.certs import cert_to_pem, key_to_pem, load_certificate, new_private_key, signed_by, utcnow

ANONYMOUS_CA_CN = "pyswarm-anonymous-join-ca"
ANONYMOUS_CN = "anonymous"
ANONYMOUS_OU = "swarm-anonymous"
_SEED = b"pyswarm/anonymous-client-ca/v1"
# Order of the P-256 group.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_CA_NOT_BEFORE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
_CA_NOT_AFTER = dt.datetime(2120, 1, 1, tzinfo=dt.UTC)


def _ca_key() -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(hashlib.sha256(_SEED).digest(), "big") % (_P256_N - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _ca_name() -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ANONYMOUS_CA_CN)])


@functools.cache
def anonymous_ca_pem() -> bytes:
    """The anonymous CA certificate (same key and subject in every process)."""
    key = _ca_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_ca_name())
        .issuer_name(_ca_name())
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(_CA_NOT_BEFORE)
        .not_valid_after(_CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert_to_pem(cert)


@functools.cache
def anonymous_client_cert() -> tuple[bytes, bytes]:
    """``(key_pem, cert_pem)`` of this process's anonymous client certificate (fresh key)."""
    ca_key = _ca_key()
    key = new_private_key()
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, ANONYMOUS_CN),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ANONYMOUS_OU),
                ]
            )
        )
        .issuer_name(_ca_name())
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key_to_pem(key), cert_to_pem(cert)


def is_anonymous(cert: bytes | str | x509.Certificate) -> bool:
    """True when ``cert`` was issued by the anonymous CA (signature checked)."""
    return signed_by(load_certificate(cert), load_certificate(anonymous_ca_pem()))
