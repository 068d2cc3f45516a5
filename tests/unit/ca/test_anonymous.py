from __future__ import annotations

import datetime as dt

import pytest

from swarm.ca import (
    InvalidCertificateError,
    RootCA,
    anonymous_ca_pem,
    anonymous_client_cert,
    is_anonymous,
    is_self_signed,
    load_certificate,
    make_key_and_csr,
    new_id,
    parse_identity,
    verify_chain,
)
from swarm.ca import anonymous as anon_mod


def test_anonymous_ca_key_is_the_same_in_every_process() -> None:
    # Derived from a fixed seed: recomputing gives the same public key.
    a = anon_mod._ca_key().public_key().public_numbers()
    b = anon_mod._ca_key().public_key().public_numbers()
    assert a == b
    assert load_certificate(anonymous_ca_pem()).public_key().public_numbers() == a
    assert is_self_signed(load_certificate(anonymous_ca_pem()))


def test_anonymous_client_cert_chains_to_the_anonymous_ca_only(root: RootCA) -> None:
    _key, cert = anonymous_client_cert()
    assert is_anonymous(cert)
    verify_chain(cert, anonymous_ca_pem())
    with pytest.raises(InvalidCertificateError):
        verify_chain(cert, root.cert_pem)
    with pytest.raises(InvalidCertificateError):
        parse_identity(cert)  # no swarm role


def test_swarm_certs_are_not_anonymous(root: RootCA) -> None:
    _, csr = make_key_and_csr()
    assert not is_anonymous(root.issue(csr, new_id(), "swarm-manager", new_id()))


def test_anonymous_cert_is_valid_now() -> None:
    cert = load_certificate(anonymous_client_cert()[1])
    now = dt.datetime.now(dt.UTC)
    assert cert.not_valid_before_utc < now < cert.not_valid_after_utc
