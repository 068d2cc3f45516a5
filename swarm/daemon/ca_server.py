"""The manager side of joining: check a join token, create the Node, sign its certificate.

Any manager can serve this: the root CA key is replicated in the cluster object, and the Node
is created through Raft. Renewals (a node asking for a new certificate over mTLS, e.g. after a
promotion or demotion) get the role the node's spec asks for.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from swarm.api import ca_pb2
from swarm.api.objects_pb2 import Cluster, Node, NodeStatus
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import MANAGER, WORKER
from swarm.ca import RootCA
from swarm.ca.errors import InvalidTokenError
from swarm.ca.ids import new_id
from swarm.ca.tokens import parse_join_token, tokens_match
from swarm.store import typed
from swarm.store.typed import Reader

log = logging.getLogger(__name__)

DEFAULT_CERT_EXPIRY = dt.timedelta(days=90)


def cert_expiry(cluster: Cluster) -> dt.timedelta:
    if cluster.spec.ca_config.HasField("node_cert_expiry"):
        s = cluster.spec.ca_config.node_cert_expiry.ToSeconds()
        if s > 0:
            return dt.timedelta(seconds=s)
    return DEFAULT_CERT_EXPIRY


def _now_ts() -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(time.time_ns())
    return t


class NodeCAServer:
    def __init__(self, store: Any) -> None:
        self.store = store

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
                    renewing_node_id: str | None = None) -> ca_pb2.IssueNodeCertificateResponse:
        cl = self._cluster()
        root = RootCA.from_pem(cl.root_ca.ca_cert, cl.root_ca.ca_key)
        if renewing_node_id is not None:
            node = Reader(self.store).get(Node, renewing_node_id)
            if node is None or renewing_node_id in cl.removed_nodes:
                raise InvalidTokenError("node not found or removed")
            role = int(node.spec.desired_role)
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
            now = _now_ts()
            node.meta.created_at.CopyFrom(now)
            node.meta.updated_at.CopyFrom(now)
            node.joined_at.CopyFrom(now)
            await self.store.apply([typed.create(node)])
            log.info("node %s (%s) joined as %s", node.id, req.hostname,
                     "manager" if role == MANAGER else "worker")
        ou = "swarm-manager" if role == MANAGER else "swarm-worker"
        cert = root.issue(req.csr, node.id, ou, cl.id, cert_expiry(cl))
        return ca_pb2.IssueNodeCertificateResponse(
            node_id=node.id, node_membership=NodeSpec.ACCEPTED, role=role,  # type: ignore[arg-type]
            certificate=cert, data_path_port=cl.vxlan_udp_port or 4789)
