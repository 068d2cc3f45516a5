"""The Engine API over TCP, as dockerd's ``-H tcp://... --tlsverify``: TLS with client
certificates signed by ``--tlscacert`` required; without --tlsverify tcp:// is refused."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.daemons import SWARMD, Swarmd, free_port

pytestmark = pytest.mark.timeout(120)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0].subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        b = b.add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    if server:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return b.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(d: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / f"{name}-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    d = tmp_path / "pki"
    d.mkdir()
    ca_key = _key()
    ca = _cert("test ca", ca_key, None, ca=True)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, server in (("server", True), ("client", False)):
        k = _key()
        _write(d, name, _cert(name, k, (ca, ca_key), server=server), k)
    other_key = _key()  # a client of another CA
    other_ca = _cert("other ca", other_key, None, ca=True)
    k = _key()
    _write(d, "stranger", _cert("stranger", k, (other_ca, other_key)), k)
    # the docker CLI's DOCKER_CERT_PATH layout: ca.pem, cert.pem, key.pem
    (d / "cli").mkdir()
    shutil.copy(d / "ca.pem", d / "cli" / "ca.pem")
    shutil.copy(d / "client.pem", d / "cli" / "cert.pem")
    shutil.copy(d / "client-key.pem", d / "cli" / "key.pem")
    return d


@pytest.fixture
def tls_daemon(tmp_path: Path, pki: Path) -> Iterator[tuple[Swarmd, int]]:
    port = free_port()
    d = Swarmd(
        tmp_path,
        extra_args=[
            "--executor",
            "fake",
            "--api-host",
            f"tcp://127.0.0.1:{port}",
            "--tlsverify",
            "--tlscacert",
            str(pki / "ca.pem"),
            "--tlscert",
            str(pki / "server.pem"),
            "--tlskey",
            str(pki / "server-key.pem"),
        ],
    ).start()
    deadline = time.monotonic() + 15  # the API starts just after the control socket
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield d, port
    d.stop()


def _get(port: int, pki: Path, client: str | None) -> int:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if client:
        ctx.load_cert_chain(str(pki / f"{client}.pem"), str(pki / f"{client}-key.pem"))
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        c.request("GET", "/_ping")
        return c.getresponse().status
    finally:
        c.close()


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on this machine")
def test_the_docker_cli_over_tls_with_its_client_certificate(
    tls_daemon: tuple[Swarmd, int], pki: Path
) -> None:
    d, port = tls_daemon
    env = dict(
        os.environ,
        DOCKER_HOST=f"tcp://127.0.0.1:{port}",
        DOCKER_TLS_VERIFY="1",
        DOCKER_CERT_PATH=str(pki / "cli"),
        DOCKER_CONFIG=str(d.root / "docker-config"),
    )
    cp = subprocess.run(
        ["docker", "version", "--format", "{{.Server.APIVersion}}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert cp.returncode == 0 and cp.stdout.strip() == "1.51", cp.stderr
    assert not (d.socket.parent / "docker.sock").exists()  # tcp instead of the default socket


def test_clients_without_a_certificate_of_the_ca_are_refused(
    tls_daemon: tuple[Swarmd, int], pki: Path
) -> None:
    _, port = tls_daemon
    assert _get(port, pki, "client") == 200
    for client in (None, "stranger"):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _get(port, pki, client)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # plain HTTP
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        c.request("GET", "/_ping")
        c.getresponse()
    c.close()


def test_tcp_without_tlsverify_is_refused(tmp_path: Path) -> None:
    cp = subprocess.run(
        [
            SWARMD,
            "--data-root",
            str(tmp_path / "data"),
            "--host",
            f"unix://{tmp_path}/s.sock",
            "--api-host",
            "tcp://127.0.0.1:2375",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert cp.returncode == 1
    assert "tcp:// is served only with --tlsverify, --tlscacert, --tlscert and --tlskey" in cp.stderr, (
        cp.stderr
    )
