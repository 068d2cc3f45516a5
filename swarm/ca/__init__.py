"""The cluster PKI: IDs, root CA, node certificates, join tokens, certificate files.

Design notes
------------
Pure crypto on top of ``cryptography``; no grpc, no store. The CA *server* (the NodeCA servicer
that checks tokens against the cluster object and creates Node objects) is manager code that
calls into this package; the TLS transport that uses these PEM blobs is ``swarm.rpc``.

Modules: ``ids`` (object IDs), ``tokens`` (join tokens and CA digests), ``certs`` (keys, CSRs,
identities, chain checks, renewal time), ``rootca`` (create/load a root, sign node certs),
``storage`` (the node's certificate files), ``anonymous`` (the client certificate used before a
node has one: why it exists is explained there), ``errors`` (the exception tree).
"""

from swarm.ca.anonymous import anonymous_ca_pem, anonymous_client_cert, is_anonymous
from swarm.ca.certs import (
    Identity,
    Role,
    cert_to_pem,
    is_self_signed,
    load_certificate,
    load_certificates,
    make_key_and_csr,
    parse_identity,
    renew_at,
    signed_by,
    verify_chain,
)
from swarm.ca.errors import (
    CAError,
    CAMismatchError,
    CertificateExpiredError,
    CertificateStoreError,
    InvalidCertificateError,
    InvalidCSRError,
    InvalidExpiryError,
    InvalidTokenError,
)
from swarm.ca.ids import is_valid_id, new_id
from swarm.ca.rootca import DEFAULT_NODE_CERT_EXPIRY, MIN_NODE_CERT_EXPIRY, ROOT_EXPIRY, RootCA
from swarm.ca.storage import (
    NodeTLS,
    has_node_tls,
    load_node_tls,
    load_root_ca,
    remove_node_tls,
    save_node_tls,
    save_root_ca,
)
from swarm.ca.tokens import (
    ParsedToken,
    ca_digest,
    ca_digest_hex,
    generate_join_token,
    parse_join_token,
    token_matches_ca,
    tokens_match,
)

__all__ = [
    "DEFAULT_NODE_CERT_EXPIRY",
    "MIN_NODE_CERT_EXPIRY",
    "ROOT_EXPIRY",
    "CAError",
    "CAMismatchError",
    "CertificateExpiredError",
    "CertificateStoreError",
    "Identity",
    "InvalidCSRError",
    "InvalidCertificateError",
    "InvalidExpiryError",
    "InvalidTokenError",
    "NodeTLS",
    "ParsedToken",
    "Role",
    "RootCA",
    "anonymous_ca_pem",
    "anonymous_client_cert",
    "ca_digest",
    "ca_digest_hex",
    "cert_to_pem",
    "generate_join_token",
    "has_node_tls",
    "is_anonymous",
    "is_self_signed",
    "is_valid_id",
    "load_certificate",
    "load_certificates",
    "load_node_tls",
    "load_root_ca",
    "make_key_and_csr",
    "new_id",
    "parse_identity",
    "parse_join_token",
    "remove_node_tls",
    "renew_at",
    "save_node_tls",
    "save_root_ca",
    "signed_by",
    "token_matches_ca",
    "tokens_match",
    "verify_chain",
]
