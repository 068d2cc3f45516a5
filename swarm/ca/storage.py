"""The node's certificate files under its state directory.

Design notes
------------
Layout (swarmkit ``ca/config.go``)::

    <state dir>/certificates/swarm-root-ca.crt   root CA bundle (PEM)
    <state dir>/certificates/swarm-node.crt      this node's certificate (PEM)
    <state dir>/certificates/swarm-node.key      this node's key (PEM, mode 0600)

Each file is replaced atomically: written to a temporary file in the same directory with its
final mode, fsynced, then ``os.replace``d over the old one, and the directory is fsynced. A crash
leaves either the old or the new file, never a torn one.

The key and the certificate are two files, so replacing both is not one atomic step. A save
first writes the new pair, together, to ``swarm-node.pending`` (0600), then the key, then the
certificate, then removes the pending file. A reader that finds a certificate not belonging to
the key (a crash between the two replaces, or a read while a renewal is being written) takes the
pending pair when it is whole and matching, and otherwise reads again: a node that crashed mid
renewal restarts with its new identity instead of refusing to start, and a reader never sees a
mixed pair.

With autolock (``swarm.ca.unlockkey``) a manager's key file -- and the key in the pending pair --
is sealed with the unlock key: ``save_node_tls(..., kek=)`` seals, ``load_node_tls(..., kek=)``
opens, and without the key a sealed file raises ``SwarmLockedError``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from swarm.ca.certs import Identity, load_certificate, parse_identity
from swarm.ca.errors import CAError, CertificateStoreError
from swarm.ca.unlockkey import unseal, wrap

CERT_DIR = "certificates"
ROOT_CA_FILE = "swarm-root-ca.crt"
NODE_CERT_FILE = "swarm-node.crt"
NODE_KEY_FILE = "swarm-node.key"
PENDING_FILE = "swarm-node.pending"
_READ_ATTEMPTS = 5


@dataclass(frozen=True)
class NodeTLS:
    """The three PEM blobs a node needs to speak mTLS."""

    root_ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes = field(repr=False)

    @property
    def identity(self) -> Identity:
        return parse_identity(self.cert_pem)


def cert_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / CERT_DIR


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically, the new file having ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(d: Path) -> None:
    dir_fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_root_ca(state_dir: str | os.PathLike[str], root_ca_pem: bytes) -> None:
    atomic_write(cert_dir(state_dir) / ROOT_CA_FILE, root_ca_pem, 0o644)


def save_node_tls(state_dir: str | os.PathLike[str], tls: NodeTLS, kek: bytes | None = None) -> None:
    """Write root CA, the pending pair (0600), key (0600, sealed with ``kek`` if given) and
    certificate, in that order, then remove the pending pair (see the module notes)."""
    d = cert_dir(state_dir)
    save_root_ca(state_dir, tls.root_ca_pem)
    key_file = wrap(kek, NODE_KEY_FILE, tls.key_pem)
    atomic_write(d / PENDING_FILE, tls.cert_pem + key_file, 0o600)
    atomic_write(d / NODE_KEY_FILE, key_file, 0o600)
    atomic_write(d / NODE_CERT_FILE, tls.cert_pem, 0o644)
    _unlink(d / PENDING_FILE)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)


def load_root_ca(state_dir: str | os.PathLike[str]) -> bytes:
    path = cert_dir(state_dir) / ROOT_CA_FILE
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertificateStoreError(f"cannot read {path}: {exc}") from exc


def load_node_tls(state_dir: str | os.PathLike[str], kek: bytes | None = None) -> NodeTLS:
    """Read the three files; raises :class:`CertificateStoreError` if any is missing or the
    certificate does not belong to the key (and no whole pending pair stands in for them), and
    ``SwarmLockedError`` / ``WrongUnlockKeyError`` when the key is sealed and ``kek`` is not
    given / not the one."""
    d = cert_dir(state_dir)
    for _ in range(_READ_ATTEMPTS):
        try:
            root = (d / ROOT_CA_FILE).read_bytes()
            cert = (d / NODE_CERT_FILE).read_bytes()
            key = unseal(kek, NODE_KEY_FILE, (d / NODE_KEY_FILE).read_bytes())
        except OSError as exc:
            raise CertificateStoreError(f"cannot read node certificates in {d}: {exc}") from exc
        if _belongs(cert, key, d):
            return NodeTLS(root, cert, key)
        pending = _pending_pair(d, kek)
        if pending is not None:
            return NodeTLS(root, *pending)
    raise CertificateStoreError(f"node certificate in {d} does not match its key")


def _belongs(cert: bytes, key: bytes, d: Path) -> bool:
    try:
        private = serialization.load_pem_private_key(key, password=None)
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        cert_key = load_certificate(cert).public_key().public_bytes(*spki)
        return private.public_key().public_bytes(*spki) == cert_key
    except (ValueError, TypeError) as exc:
        raise CertificateStoreError(f"cannot parse node key in {d}: {exc}") from exc


def _pending_pair(d: Path, kek: bytes | None) -> tuple[bytes, bytes] | None:
    """The pending (certificate, key) when the file is there, whole and matching."""
    try:
        blob = (d / PENDING_FILE).read_bytes()
    except OSError:
        return None
    marker = b"-----END CERTIFICATE-----\n"
    cut = blob.rfind(marker)  # after the last certificate of a chain: the key follows
    if cut < 0:
        return None
    cert, key_file = blob[: cut + len(marker)], blob[cut + len(marker) :]
    try:
        key = unseal(kek, NODE_KEY_FILE, key_file)
        return (cert, key) if _belongs(cert, key, d) else None
    except CAError:
        return None


def has_node_tls(state_dir: str | os.PathLike[str]) -> bool:
    d = cert_dir(state_dir)
    return all((d / f).is_file() for f in (ROOT_CA_FILE, NODE_CERT_FILE, NODE_KEY_FILE))


def remove_node_tls(state_dir: str | os.PathLike[str]) -> None:
    """Delete the node's certificate files (``swarm leave``)."""
    d = cert_dir(state_dir)
    for name in (NODE_CERT_FILE, NODE_KEY_FILE, ROOT_CA_FILE, PENDING_FILE):
        try:
            (d / name).unlink()
        except FileNotFoundError:
            pass
