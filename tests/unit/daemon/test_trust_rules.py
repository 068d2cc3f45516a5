"""The Raft join rules (swarm.daemon.membership.check_raft_join) and the renewal schedule."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from swarm.api.objects_pb2 import ManagerStatus, Node
from swarm.api.types_pb2 import MANAGER
from swarm.ca import RootCA, make_key_and_csr
from swarm.ca.storage import NodeTLS
from swarm.daemon.membership import RaftJoinRefusedError, check_raft_join
from swarm.daemon.renewal import CertRenewer


def node(nid: str, addr: str, raft: str = "", role: int = 0) -> Node:
    n = Node(id=nid, role=role)  # type: ignore[arg-type]
    n.status.addr = addr
    if raft:
        n.manager_status.CopyFrom(ManagerStatus(raft_addr=raft))
    return n


NODES = [node("a", "10.0.0.1", "10.0.0.1:2378", MANAGER), node("b", "10.0.0.2")]


def test_join_with_own_address_is_accepted() -> None:
    check_raft_join(NODES, "b", "10.0.0.2:2378", "10.0.0.2:2377", "10.0.0.2")


@pytest.mark.parametrize(("raft", "api", "peer", "why"), [
    ("10.0.0.1:2378", "10.0.0.2:2377", "10.0.0.2", "not this node's own address"),   # a's host
    ("10.0.0.9:2378", "10.0.0.2:2377", "10.0.0.2", "not this node's own address"),   # phantom
    ("10.0.0.2:2378", "10.0.0.9:2377", "10.0.0.2", "manager address"),
    ("", "", "10.0.0.2", "not this node's own address"),
])
def test_join_under_another_address_is_refused(raft: str, api: str, peer: str, why: str) -> None:
    with pytest.raises(RaftJoinRefusedError, match=why):
        check_raft_join(NODES, "b", raft, api, peer)


def test_join_with_another_members_address_is_refused() -> None:
    nodes = [node("a", "10.0.0.1", "10.0.0.1:2378", MANAGER), node("b", "10.0.0.1")]  # same host
    with pytest.raises(RaftJoinRefusedError, match="belongs to node a"):
        check_raft_join(nodes, "b", "10.0.0.1:2378", "10.0.0.1:2377", "10.0.0.1")


def test_a_member_keeps_its_address() -> None:
    nodes = [node("a", "10.0.0.1", "10.0.0.1:2378", MANAGER)]
    with pytest.raises(RaftJoinRefusedError, match="already a raft member"):
        check_raft_join(nodes, "a", "10.0.0.1:2400", "10.0.0.1:2377", "10.0.0.1")
    with pytest.raises(RaftJoinRefusedError, match="not part of this swarm"):
        check_raft_join(nodes, "zz", "10.0.0.1:2400", "10.0.0.1:2377", "10.0.0.1")


def tls_for(hours: float) -> NodeTLS:
    root = RootCA.create()
    key, csr = make_key_and_csr()
    return NodeTLS(root_ca_pem=root.cert_pem, key_pem=key,
                   cert_pem=root.issue(csr, "n1", "swarm-worker", "c1", dt.timedelta(hours=hours)))


def test_renewal_is_due_between_half_and_four_fifths_of_the_life_and_drawn_once() -> None:
    tls = tls_for(100)
    r = CertRenewer(lambda: tls, lambda: asyncio.sleep(0))  # type: ignore[arg-type,return-value]
    first = r.due_in(tls)
    assert 50 * 3600 - 60 <= first <= 80 * 3600
    assert abs(r.due_in(tls) - first) < 5     # the same draw, not a new one each time


def test_renewer_retries_with_backoff_and_installs_the_new_certificate(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import swarm.daemon.renewal as mod

    monkeypatch.setattr(mod, "BACKOFF_START", 0.01)
    old, new = tls_for(1), tls_for(100)
    current = [old]
    attempts: list[int] = []

    async def renew() -> bool:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("manager unreachable")
        current[0] = new
        return True

    async def main() -> None:
        r = CertRenewer(lambda: current[0], renew)
        r._when = {old.cert_pem: 0.0}        # due now
        task = asyncio.create_task(r.run())
        while r.renewals < 1:
            await asyncio.sleep(0.01)
        task.cancel()
        assert current[0] is new and len(attempts) == 3

    asyncio.run(main())
