from __future__ import annotations

import datetime as dt

from swarm.api.objects_pb2 import Cluster, Node
from swarm.api.types_pb2 import MANAGER, WORKER
from swarm.ca import RootCA, make_key_and_csr, parse_identity
from swarm.ca.revocation import is_recorded, prune, record_issued, revoke, revoked_serials


def cert(root: RootCA, node_id: str, role: str, hours: float = 2160) -> bytes:
    _key, csr = make_key_and_csr()
    return root.issue(csr, node_id, role, "cluster1", dt.timedelta(hours=hours))


def test_issued_certificates_are_recorded_and_expired_ones_forgotten() -> None:
    root = RootCA.create()
    node = Node(id="n1")
    a = cert(root, "n1", "swarm-manager")
    record_issued(node, a)
    assert is_recorded(node, parse_identity(a).serial)
    assert node.certificates[0].role == MANAGER
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3000)
    b = cert(root, "n1", "swarm-worker")
    record_issued(node, b, now=later)         # by then `a` has expired
    assert [c.serial for c in node.certificates] == [parse_identity(b).serial]
    assert not is_recorded(node, parse_identity(a).serial)


def test_demotion_revokes_only_manager_certificates_and_removal_revokes_all() -> None:
    root = RootCA.create()
    node = Node(id="n1")
    m, w = cert(root, "n1", "swarm-manager"), cert(root, "n1", "swarm-worker")
    record_issued(node, m)
    record_issued(node, w)
    cl = Cluster(id="c")
    assert revoke(cl, node, roles=(MANAGER,)) == [parse_identity(m).serial]
    assert revoked_serials(cl) == {parse_identity(m).serial}
    assert revoke(cl, node, roles=(MANAGER,)) == []        # idempotent
    revoke(cl, node, roles=(MANAGER, WORKER))
    assert revoked_serials(cl) == {parse_identity(m).serial, parse_identity(w).serial}
    assert {r.node_id for r in cl.revoked_certificates} == {"n1"}


def test_revoked_entries_are_pruned_once_expired() -> None:
    root = RootCA.create()
    node = Node(id="n1")
    record_issued(node, cert(root, "n1", "swarm-manager", hours=2))
    cl = Cluster(id="c")
    revoke(cl, node)
    assert len(cl.revoked_certificates) == 1
    prune(cl, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=3))
    assert len(cl.revoked_certificates) == 0
    assert revoked_serials(None) == frozenset()
