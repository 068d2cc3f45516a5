"""The manager side of joining: check a join token, create the Node, sign its certificate.

Any manager can serve this: the root CA key is replicated in the cluster object, and the Node
is created through Raft. Renewals (a node asking for a new certificate over mTLS, e.g. after a
promotion or demotion) get the role the node's spec asks for.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from swarm.api import ca_pb2
from swarm.api.objects_pb2 import Cluster, Node, NodeStatus
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import MANAGER, WORKER
from swarm.ca import Identity, RootCA
from swarm.ca.certs import utcnow
from swarm.ca.errors import InvalidTokenError, PermissionDeniedError
from swarm.ca.ids import new_id
from swarm.ca.revocation import is_recorded, record_issued, revoked_serials
from swarm.ca.tokens import parse_join_token, tokens_match
from swarm.reconciler.clock import now_ts
from swarm.store import ObjectStore, typed
from swarm.store.typed import Reader

log = logging.getLogger(__name__)

EXPIRED_MESSAGE = "Swarm certificates have expired. To replace them, leave the swarm and join again."
REVOKED_MESSAGE = "this node certificate has been revoked; a manager certificate is not renewed from it"

DEFAULT_CERT_EXPIRY = dt.timedelta(days=90)


def cert_expiry(cluster: Cluster) -> dt.timedelta:
    if cluster.spec.ca_config.HasField("node_cert_expiry"):
        s = cluster.spec.ca_config.node_cert_expiry.ToSeconds()
        if s > 0:
            return dt.timedelta(seconds=s)
    return DEFAULT_CERT_EXPIRY


class NodeCAServer:
    def __init__(self, store: ObjectStore, trust: Any = None) -> None:
        self.store = store
        self.trust = trust

    def _cluster(self) -> Cluster:
        cl = Reader(self.store).cluster()
        if cl is None:
            raise InvalidTokenError("the swarm is not ready yet")
        return cl

    def root_ca_pem(self) -> bytes:
        return self._cluster().root_ca.ca_cert

    def role_for_token(self, cluster: Cluster, token: str) -> int:
        parse_join_token(token)
        if tokens_match(token, cluster.root_ca.join_tokens.manager):
            return MANAGER
        if tokens_match(token, cluster.root_ca.join_tokens.worker):
            return WORKER
        raise InvalidTokenError()

    async def issue(self, req: ca_pb2.IssueNodeCertificateRequest, peer_ip: str,
                    renewing: Identity | None = None) -> ca_pb2.IssueNodeCertificateResponse:
        """Sign a certificate: for a new node (the token says its role), or a renewal over
        mTLS (``renewing`` = the caller's verified certificate; the role is the one the node's
        spec asks for now). A renewal must present a certificate recorded for the node: a copy
        of an old one kept by someone else is refused; a revoked one (a demoted manager's)
        may only be exchanged for the worker certificate its node is now entitled to."""
        cl = self._cluster()
        root = RootCA.from_pem(cl.root_ca.ca_cert, cl.root_ca.ca_key)
        if renewing is not None:
            if renewing.not_after < utcnow():
                raise PermissionDeniedError(EXPIRED_MESSAGE)
            node = Reader(self.store).get(Node, renewing.node_id)
            if node is None or renewing.node_id in cl.removed_nodes:
                raise InvalidTokenError("node not found or removed")
            if node.certificates and not is_recorded(node, renewing.serial):
                raise PermissionDeniedError("this certificate is not one issued to the node")
            role = int(node.spec.desired_role)
            if renewing.serial in revoked_serials(cl) and role == MANAGER:
                raise PermissionDeniedError(REVOKED_MESSAGE)
        else:
            role = self.role_for_token(cl, req.token)
            node = Node(id=new_id())
            node.spec.desired_role = role  # type: ignore[assignment]
            node.spec.membership = NodeSpec.ACCEPTED
            node.spec.availability = req.availability
            node.role = WORKER  # becomes MANAGER once it has joined Raft
            node.description.hostname = req.hostname
            node.status.state = NodeStatus.UNKNOWN
            node.status.addr = req.advertise_addr.rsplit(":", 1)[0] if req.advertise_addr else peer_ip
            node.data_path_addr = req.data_path_addr or node.status.addr
            now = now_ts()
            node.meta.created_at.CopyFrom(now)
            node.meta.updated_at.CopyFrom(now)
            node.joined_at.CopyFrom(now)
        ou = "swarm-manager" if role == MANAGER else "swarm-worker"
        cert = root.issue(req.csr, node.id, ou, cl.id, cert_expiry(cl))
        if renewing is None:
            record_issued(node, cert)
            await self.store.apply([typed.create(node)])
            log.info("node %s (%s) joined as %s", node.id, req.hostname,
                     "manager" if role == MANAGER else "worker")
        else:
            await self._record_renewal(node.id, cert)
        return ca_pb2.IssueNodeCertificateResponse(
            node_id=node.id, node_membership=NodeSpec.ACCEPTED, role=role,  # type: ignore[arg-type]
            certificate=cert, data_path_port=cl.vxlan_udp_port or 4789)

    async def _record_renewal(self, node_id: str, cert: bytes) -> None:
        """Record the new serial before the certificate is handed out (it is refused elsewhere
        until recorded); a concurrent write to the node is retried."""
        from swarm.store import ConflictError

        for _ in range(8):
            node = Reader(self.store).get(Node, node_id)
            if node is None:
                raise InvalidTokenError("node not found or removed")
            record_issued(node, cert)
            try:
                await self.store.apply([typed.update(node)])
                return
            except ConflictError:
                continue
        raise InvalidTokenError("could not record the renewed certificate (too many concurrent writes)")
