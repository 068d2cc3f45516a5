"""What the store says about a peer's certificate, for every check that needs more than a
signature: the manager port's authorizer (swarm.rpc.auth.PeerTrust), the CA's renewals and the
Raft link's peer check. See swarm.ca.revocation for the records it reads.
"""

from __future__ import annotations

from swarm.api.objects_pb2 import Cluster, Node
from swarm.api.types_pb2 import MANAGER
from swarm.ca import Identity, InvalidCertificateError, Role, parse_identity, verify_chain
from swarm.ca.revocation import revoked_serials
from swarm.store import ObjectSource
from swarm.store.typed import Reader

JOIN_METHOD = "/swarm.api.RaftMembership/Join"


class StoreTrust:
    """Reads the replica's current view; cheap enough per call (a cluster and a node decode),
    with the revoked set cached per cluster version."""

    def __init__(self, store: ObjectSource) -> None:
        self.store = store
        self._cache: tuple[int, frozenset[str]] = (-1, frozenset())

    def _cluster(self) -> Cluster | None:
        return Reader(self.store).cluster()

    def revoked(self) -> frozenset[str]:
        cl = self._cluster()
        if cl is None:
            return frozenset()
        version = cl.meta.version.index
        if self._cache[0] != version:
            self._cache = (version, revoked_serials(cl))
        return self._cache[1]

    def is_revoked(self, identity: Identity) -> bool:
        return bool(identity.serial) and identity.serial in self.revoked()

    def is_current_manager(self, identity: Identity, method: str = "") -> bool:
        """The caller's node is a manager now (role and desired role); for Join, the desired
        role is enough (the node becomes a manager by joining)."""
        node = Reader(self.store).get(Node, identity.node_id)
        if node is None or node.spec.desired_role != MANAGER:
            return False
        return method == JOIN_METHOD or node.role == MANAGER

    def raft_peer_ok(self, cert_der: bytes, root_ca_pem: bytes, cluster_id: str) -> bool:
        """The Raft link's check of a peer (either direction): a swarm manager certificate of
        this cluster, unexpired, not revoked, of a node not removed, whose desired role is
        manager when the replica knows the node. A replica that does not know the node yet
        (its state is behind: a new manager joined while it was down) accepts the certificate
        on its signature and revocation list alone, so it can catch up from the leader."""
        from cryptography import x509

        try:
            cert = x509.load_der_x509_certificate(cert_der)
            verify_chain(cert, root_ca_pem)
            ident = parse_identity(cert)
        except (InvalidCertificateError, ValueError):
            return False
        if ident.role is not Role.MANAGER or ident.cluster_id != cluster_id or self.is_revoked(ident):
            return False
        cl = self._cluster()
        if cl is not None and ident.node_id in cl.removed_nodes:
            return False
        node = Reader(self.store).get(Node, ident.node_id)
        return node is None or node.spec.desired_role == MANAGER


__all__ = ["JOIN_METHOD", "StoreTrust"]
