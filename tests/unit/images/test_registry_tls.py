"""HTTPS registries: verified against the system CA store, insecure ones unverified."""

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from node.images import ImageStore, TLSVerificationError
from node.images import registry as reg_mod

from .fake_registry import FakeRegistry


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-registry")])
    now = datetime.datetime.now(datetime.UTC)
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                        critical=False)
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .sign(key, hashes.SHA256()))
    (d / "cert.pem").write_bytes(c.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (d / "key.pem").write_bytes(pem)
    return str(d / "cert.pem"), str(d / "key.pem")


def test_loopback_https_registry_works_unverified(tmp_path, cert):
    with FakeRegistry(tls=cert) as reg:
        img = ImageStore(tmp_path).pull(f"{reg.address}/x/y:1")
        assert img.config.cmd == ("/hello",)


def test_secure_registry_verifies_against_system_cas(tmp_path, cert, monkeypatch):
    monkeypatch.setattr(reg_mod, "_is_loopback", lambda host: False)   # treat it as a remote registry
    with FakeRegistry(tls=cert) as reg:
        with pytest.raises(TLSVerificationError, match="certificate verif"):
            ImageStore(tmp_path / "a").pull(f"{reg.address}/x/y:1")
        monkeypatch.setenv("SSL_CERT_FILE", cert[0])                    # "install" our CA
        assert ImageStore(tmp_path / "b").pull(f"{reg.address}/x/y:1").config.cmd == ("/hello",)
        ImageStore(tmp_path / "c", insecure_registries=[reg.address]).pull(f"{reg.address}/x/y:1")
