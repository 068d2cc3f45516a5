from __future__ import annotations

import datetime as dt
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from swarm.ca import (
    CAError,
    CertificateExpiredError,
    InvalidCertificateError,
    InvalidCSRError,
    InvalidExpiryError,
    Role,
    RootCA,
    is_self_signed,
    load_certificate,
    make_key_and_csr,
    new_id,
    parse_identity,
    renew_at,
    verify_chain,
)

NOW = dt.datetime.now(dt.UTC)


def issue(root: RootCA, role: str = "swarm-worker", expiry: dt.timedelta = dt.timedelta(hours=2160)):
    node_id, cluster_id = new_id(), new_id()
    key_pem, csr_pem = make_key_and_csr()
    cert_pem = root.issue(csr_pem, node_id, role, cluster_id, expiry)
    return node_id, cluster_id, key_pem, cert_pem


def sans(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )


def test_root_ca_shape(root: RootCA) -> None:
    cert = root.certificate
    assert cert.subject.rfc4514_string() == "CN=swarm-ca"
    assert is_self_signed(cert)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    life = cert.not_valid_after_utc - NOW
    assert abs(life - dt.timedelta(seconds=630_720_000)) < dt.timedelta(minutes=5)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.key_pem is not None and root.can_sign


def test_root_ca_round_trips_through_pem_with_same_digest(root: RootCA) -> None:
    again = RootCA.from_pem(root.cert_pem, root.key_pem)
    assert again.cert_pem == root.cert_pem
    assert again.digest == root.digest
    assert RootCA.from_pem(root.cert_pem).can_sign is False


def test_root_ca_rejects_foreign_key(root: RootCA, other_root: RootCA) -> None:
    assert other_root.key_pem is not None
    with pytest.raises(CAError, match="does not match"):
        RootCA.from_pem(root.cert_pem, other_root.key_pem)


def test_root_ca_rejects_non_self_signed(root: RootCA) -> None:
    _, _, _, cert_pem = issue(root)
    with pytest.raises(InvalidCertificateError):
        RootCA.from_pem(cert_pem)


def test_manager_cert_fields(root: RootCA) -> None:
    node_id, cluster_id, key_pem, cert_pem = issue(root, "swarm-manager")
    cert = load_certificate(cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == node_id
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "swarm-manager"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == cluster_id
    assert cert.issuer == root.certificate.subject
    assert sorted(sans(cert)) == sorted(["swarm-manager", node_id, "swarm-ca"])
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert cert.public_key().curve.name == "secp256r1"
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_worker_cert_has_no_swarm_ca_san(root: RootCA) -> None:
    node_id, _, _, cert_pem = issue(root, Role.WORKER)
    assert sorted(sans(load_certificate(cert_pem))) == sorted(["swarm-worker", node_id])


def test_expiry_is_honoured(root: RootCA) -> None:
    _, _, _, cert_pem = issue(root, expiry=dt.timedelta(hours=3))
    cert = load_certificate(cert_pem)
    assert abs(cert.not_valid_after_utc - (NOW + dt.timedelta(hours=3))) < dt.timedelta(minutes=5)
    assert cert.not_valid_before_utc <= NOW


def test_minimum_expiry_is_one_hour(root: RootCA) -> None:
    issue(root, expiry=dt.timedelta(hours=1))
    with pytest.raises(InvalidExpiryError):
        issue(root, expiry=dt.timedelta(minutes=59))


def test_unknown_role_is_refused(root: RootCA) -> None:
    _, csr = make_key_and_csr()
    with pytest.raises(CAError):
        root.issue(csr, new_id(), "swarm-admin", new_id())


def test_cert_without_key_cannot_sign(root: RootCA) -> None:
    _, csr = make_key_and_csr()
    with pytest.raises(CAError, match="no signing key"):
        RootCA.from_pem(root.cert_pem).issue(csr, new_id(), "swarm-worker", new_id())


def test_bad_csrs_are_refused(root: RootCA) -> None:
    with pytest.raises(InvalidCSRError):
        root.issue(b"not a csr", new_id(), "swarm-worker", new_id())
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(small, hashes.SHA256())
    with pytest.raises(InvalidCSRError):
        root.issue(csr.public_bytes(serialization.Encoding.PEM), new_id(), "swarm-worker", new_id())


def test_parse_identity_pem_and_der(root: RootCA) -> None:
    node_id, cluster_id, _, cert_pem = issue(root, "swarm-manager")
    ident = parse_identity(cert_pem)
    assert (ident.node_id, ident.role, ident.cluster_id) == (node_id, Role.MANAGER, cluster_id)
    assert ident.is_manager
    assert ident.role == "swarm-manager"
    der = load_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    assert parse_identity(der) == ident
    assert parse_identity(cert_pem.decode()) == ident


def test_parse_identity_rejects_root_and_garbage(root: RootCA) -> None:
    with pytest.raises(InvalidCertificateError):
        parse_identity(root.cert_pem)  # no OU/O
    with pytest.raises(InvalidCertificateError):
        parse_identity(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


def test_verify_chain_accepts_own_root(root: RootCA) -> None:
    _, _, _, cert_pem = issue(root)
    assert verify_chain(cert_pem, root.cert_pem) == root.certificate


def test_verify_chain_rejects_other_root(root: RootCA, other_root: RootCA) -> None:
    _, _, _, cert_pem = issue(other_root)
    with pytest.raises(InvalidCertificateError, match="not signed by the swarm root CA"):
        verify_chain(cert_pem, root.cert_pem)


def test_verify_chain_rejects_same_name_forged_root(root: RootCA) -> None:
    # Another root with the same subject CN=swarm-ca must not be accepted: the signature counts.
    forged = RootCA.create()
    _, _, _, cert_pem = issue(forged)
    assert forged.certificate.subject == root.certificate.subject
    with pytest.raises(InvalidCertificateError):
        verify_chain(cert_pem, root.cert_pem)


def test_verify_chain_accepts_bundle_with_both_roots(root: RootCA, other_root: RootCA) -> None:
    _, _, _, cert_pem = issue(other_root)
    assert verify_chain(cert_pem, root.cert_pem + other_root.cert_pem) == other_root.certificate


def test_verify_chain_checks_time(root: RootCA) -> None:
    _, _, _, cert_pem = issue(root, expiry=dt.timedelta(hours=2))
    verify_chain(cert_pem, root.cert_pem, now=NOW + dt.timedelta(hours=1))
    with pytest.raises(CertificateExpiredError):
        verify_chain(cert_pem, root.cert_pem, now=NOW + dt.timedelta(hours=3))
    with pytest.raises(CertificateExpiredError):
        verify_chain(cert_pem, root.cert_pem, now=NOW - dt.timedelta(hours=2))


def test_verify_chain_through_intermediate(root: RootCA, other_root: RootCA) -> None:
    # Root rotation shape: new root cross-signed by the old one; node certs signed by the new root.
    old = root
    new = other_root
    assert old.key_pem is not None
    old_key = serialization.load_pem_private_key(old.key_pem, None)
    assert isinstance(old_key, ec.EllipticCurvePrivateKey)
    n = new.certificate
    cross = (
        x509.CertificateBuilder()
        .subject_name(n.subject)
        .issuer_name(old.certificate.subject)
        .public_key(n.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(n.not_valid_before_utc)
        .not_valid_after(n.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(old_key, hashes.SHA256())
    )
    _, _, _, cert_pem = issue(new)
    assert verify_chain(cert_pem, old.cert_pem, intermediates=[cross]) == old.certificate


def test_renew_at_between_50_and_80_percent(root: RootCA) -> None:
    _, _, _, cert_pem = issue(root)
    cert = load_certificate(cert_pem)
    # counted from the signing time: notBefore is backdated by an hour (clock skew)
    start, end = cert.not_valid_before_utc + dt.timedelta(hours=1), cert.not_valid_after_utc
    life = end - start
    rng = random.Random(7)
    seen = [renew_at(cert_pem, rng) for _ in range(500)]
    assert all(start + life * 0.5 <= t <= start + life * 0.8 for t in seen)
    spread = max(seen) - min(seen)
    assert spread > life * 0.25  # really random across the window, not a constant
