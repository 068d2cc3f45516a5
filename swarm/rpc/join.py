"""The joining side of §6.2: pin the remote root CA, then get a node certificate.

Design notes
------------
A joining node knows only ``HOST:PORT`` and a join token whose ``D`` part is the SHA-256 of the
swarm's root CA bundle. :func:`fetch_root_ca` turns that pin into a trusted root without sending
anything secret first:

1. A plain TLS handshake with Python's ``ssl`` module, verifying nothing (``CERT_NONE``) and
   presenting the anonymous client certificate (``swarm.ca.anonymous``). Managers send their
   chain as node cert + root (``swarm.rpc.tls``), so the handshake yields the self-signed root.
   The chain is read with ``get_unverified_chain()`` (public on 3.13+, on the private
   ``_sslobj`` on 3.10-3.12). The socket is closed right after the handshake.
2. If the canonical PEM of a self-signed certificate in the chain hashes to ``D``, that is the
   root: done, nothing but a handshake has happened.
3. Otherwise (a bundle of several roots during a rotation, or PEM bytes that are not canonical)
   we call ``CA.GetRootCACertificate`` -- an empty request, nothing secret -- over gRPC verified
   against the candidate root, and accept the returned bundle only if it hashes to ``D`` and
   contains the candidate. Either way, on failure: :class:`~swarm.ca.CAMismatchError`
   ("remote CA does not match fingerprint. Expected: <hex>").

The pin establishes only the trust anchor, not the server: a man in the middle can replay the
real (public) root certificate in its chain, and step 2 would then return that real root. That is
harmless, because the server is authenticated in the next step: every later call is gRPC
verified against the pinned root, which the impostor cannot pass, so the token never reaches it.

Only then does :func:`request_node_certificate` send the token and a CSR to
``NodeCA.IssueNodeCertificate`` over gRPC verified against the pinned root, and poll
``NodeCertificateStatus`` every 2 s until the certificate is issued. gRPC errors from the
manager (``INVALID_ARGUMENT`` "A valid join token is necessary to join this cluster") propagate
as ``grpc.RpcError``; connection errors as ``OSError``.
"""

from __future__ import annotations

import _ssl
import asyncio
import os
import socket
import ssl
import tempfile
import time
from typing import Any

import grpc
from cryptography import x509

from swarm.api import ca_pb2, ca_pb2_grpc
from swarm.ca import (
    CAError,
    CAMismatchError,
    NodeTLS,
    anonymous_client_cert,
    ca_digest_hex,
    cert_to_pem,
    is_self_signed,
    load_certificates,
    make_key_and_csr,
    parse_identity,
    parse_join_token,
    verify_chain,
)
from swarm.ca.ids import from_base36
from swarm.rpc.tls import CA_SERVER_NAME, ca_channel, manager_channel

POLL_INTERVAL = 2.0


def split_addr(addr: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → ``(host, port)``."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address {addr!r} must be HOST:PORT")
    return host.strip("[]"), int(port)


def _unverified_chain(sock: ssl.SSLSocket) -> list[x509.Certificate]:
    getter = getattr(sock, "get_unverified_chain", None)  # Python 3.13+
    if getter is None:
        getter = sock._sslobj.get_unverified_chain  # type: ignore[attr-defined]  # 3.10-3.12
    out = []
    for item in getter() or []:
        der = item if isinstance(item, bytes) else item.public_bytes(_ssl.ENCODING_DER)
        out.append(x509.load_der_x509_certificate(der))
    return out


def handshake_chain(addr: str, timeout: float) -> list[x509.Certificate]:
    """TLS handshake with ``addr`` verifying nothing; return the chain the server sent."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2"])
    key_pem, cert_pem = anonymous_client_cert()
    with tempfile.TemporaryDirectory(prefix="swarm-join-") as d:
        cert_file, key_file = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(key_pem)
        ctx.load_cert_chain(cert_file, key_file)
    host, port = split_addr(addr)
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        ctx.wrap_socket(raw, server_hostname=CA_SERVER_NAME) as tls,
    ):
        return _unverified_chain(tls)


def _expected_hex(expected_digest: str) -> str:
    d = expected_digest.lower()
    if len(d) == 64 and all(c in "0123456789abcdef" for c in d):
        return d
    try:
        return f"{from_base36(d):064x}"  # the 50-character token form
    except ValueError as exc:
        raise CAError(f"not a CA digest: {expected_digest!r}") from exc


async def fetch_root_ca(addr: str, expected_digest: str, timeout: float = 10.0) -> bytes:
    """Return the root CA bundle of the manager at ``addr`` if it hashes to ``expected_digest``
    (hex SHA-256, or the 50-character base-36 form of a token); else raise CAMismatchError."""
    expected = _expected_hex(expected_digest)
    chain = await asyncio.to_thread(handshake_chain, addr, timeout)
    candidates = [c for c in chain if is_self_signed(c)]
    for cand in candidates:
        pem = cert_to_pem(cand)
        if ca_digest_hex(pem) == expected:
            return pem
    for cand in candidates:
        bundle = await _root_bundle(addr, cert_to_pem(cand), timeout)
        if bundle is not None and ca_digest_hex(bundle) == expected and cand in load_certificates(bundle):
            return bundle
    raise CAMismatchError(expected)


async def _root_bundle(addr: str, root_pem: bytes, timeout: float) -> bytes | None:

    try:
        async with ca_channel(addr, root_pem, call_timeout=timeout) as ch:
            resp = await ca_pb2_grpc.CAStub(ch).GetRootCACertificate(ca_pb2.GetRootCACertificateRequest())
    except grpc.RpcError:
        return None
    return bytes(resp.certificate)


async def request_node_certificate(
    addr: str,
    token: str,
    *,
    timeout: float = 20.0,
    poll_interval: float = POLL_INTERVAL,
    **request_fields: Any,
) -> tuple[NodeTLS, ca_pb2.IssueNodeCertificateResponse]:
    """Join steps 1-4: pin the root from ``token``, send a CSR with the token, wait for the cert.

    ``request_fields`` go into ``IssueNodeCertificateRequest`` (``availability``,
    ``advertise_addr``, ``data_path_addr``, ``hostname``). Returns the node's TLS material (not
    yet saved; see ``swarm.ca.save_node_tls``) and the manager's response (node ID, role).
    """
    deadline = time.monotonic() + timeout
    parsed = parse_join_token(token)
    root = await fetch_root_ca(addr, parsed.ca_digest, timeout)
    key_pem, csr_pem = make_key_and_csr()
    async with ca_channel(addr, root, call_timeout=max(1.0, deadline - time.monotonic())) as ch:
        stub = ca_pb2_grpc.NodeCAStub(ch)
        resp = await stub.IssueNodeCertificate(
            ca_pb2.IssueNodeCertificateRequest(csr=csr_pem, token=token, **request_fields)
        )
        cert = bytes(resp.certificate)
        while not cert:
            if time.monotonic() + poll_interval > deadline:
                raise TimeoutError("timed out waiting for the node certificate to be issued")
            await asyncio.sleep(poll_interval)
            status = await stub.NodeCertificateStatus(
                ca_pb2.NodeCertificateStatusRequest(node_id=resp.node_id)
            )
            if status.state == "failed":
                raise CAError("the manager failed to issue a certificate for this node")
            if status.state == "issued":
                cert = bytes(status.certificate)
    return _checked(root, cert, key_pem, resp.node_id), resp


async def renew_node_certificate(addr: str, tls: NodeTLS, timeout: float = 20.0) -> NodeTLS:
    """Renew over mTLS with the current identity (no token): same node ID, role from the
    manager. Polls like a join when the manager does not sign at once."""
    key_pem, csr_pem = make_key_and_csr()
    async with manager_channel(addr, tls, call_timeout=timeout) as ch:
        stub = ca_pb2_grpc.NodeCAStub(ch)
        resp = await stub.IssueNodeCertificate(ca_pb2.IssueNodeCertificateRequest(csr=csr_pem))
        cert, root = bytes(resp.certificate), tls.root_ca_pem
        deadline = time.monotonic() + timeout
        while not cert:
            if time.monotonic() + POLL_INTERVAL > deadline:
                raise TimeoutError("timed out waiting for the renewed certificate")
            await asyncio.sleep(POLL_INTERVAL)
            status = await stub.NodeCertificateStatus(
                ca_pb2.NodeCertificateStatusRequest(node_id=tls.identity.node_id)
            )
            if status.state == "issued":
                cert, root = bytes(status.certificate), bytes(status.root_ca) or root
    return _checked(root, cert, key_pem, tls.identity.node_id)


def _checked(root: bytes, cert: bytes, key_pem: bytes, node_id: str) -> NodeTLS:
    verify_chain(cert, root)
    identity = parse_identity(cert)
    if node_id and identity.node_id != node_id:
        raise CAError(f"issued certificate is for node {identity.node_id}, expected {node_id}")
    return NodeTLS(root, cert, key_pem)
