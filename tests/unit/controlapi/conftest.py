"""Fixtures for the control API's unit tests: a real ``Context`` over the in-memory store
(``tests.unit.orchestrator.memstore``: the real state machine, no Raft) and a fake clock.

``swarm`` is what ``swarm init`` leaves behind, built through the public handlers where one
exists: the cluster object, one Ready manager (``mgr1``, the leader) and the ``ingress`` network
(made by ``create_network``, so it gets the pool's first subnet and VNI 4096 as at init).

Helpers (imported by the tests from :mod:`.helpers`) call a handler whether it is sync or
async, and check that a refused call leaves the store untouched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Cluster
from swarm.api.specs_pb2 import NetworkSpec
from swarm.ca import RootCA
from swarm.ca.tokens import generate_join_token
from swarm.controlapi import networks
from swarm.controlapi.common import Context
from swarm.store import typed
from tests.unit.orchestrator.memstore import Clock, MemStore

from .helpers import call, make_node


@dataclass
class FakeRaft:
    """Raft reachability as the quorum check sees it: every manager reachable unless listed."""

    unreachable: set[str] = field(default_factory=set)

    def manager_reachable(self, node_id: str) -> bool:
        return node_id not in self.unreachable


@dataclass
class Swarm:
    store: MemStore
    clock: Clock
    raft: FakeRaft
    ctx: Context
    cluster_id: str
    manager_id: str
    ingress_id: str


@pytest.fixture(scope="session")
def root_ca() -> RootCA:
    return RootCA.create()


@pytest.fixture
def store() -> MemStore:
    return MemStore()


@pytest.fixture
def clock() -> Clock:
    return Clock(1_700_000_000.0)


@pytest.fixture
def raft() -> FakeRaft:
    return FakeRaft()


@pytest.fixture
def ctx(store: MemStore, clock: Clock, raft: FakeRaft) -> Context:
    return Context(store=store, clock=clock, raft=raft)


@pytest.fixture
def swarm(store: MemStore, clock: Clock, raft: FakeRaft, ctx: Context, root_ca: RootCA) -> Swarm:
    cl = Cluster(id="clusterid0000000000000001", raft_secret=b"raft-secret", subnet_size=24,
                 vxlan_udp_port=4789)
    cl.spec.annotations.name = "default"
    cl.spec.orchestration.task_history_retention_limit = 5
    cl.spec.dispatcher.heartbeat_period.FromSeconds(5)
    cl.spec.ca_config.node_cert_expiry.FromSeconds(90 * 24 * 3600)
    cl.default_address_pool.append("10.0.0.0/8")
    cl.root_ca.ca_cert = root_ca.cert_pem
    cl.root_ca.ca_key = root_ca.key_pem or b""
    cl.root_ca.ca_cert_hash = root_ca.digest
    cl.root_ca.join_tokens.worker = generate_join_token(root_ca.cert_pem)
    cl.root_ca.join_tokens.manager = generate_join_token(root_ca.cert_pem)
    mgr = make_node("mgr1", manager=True, leader=True)
    asyncio.run(store.apply([typed.create(cl), typed.create(mgr)]))
    spec = NetworkSpec(ingress=True)
    spec.annotations.name = "ingress"
    ingress = call(networks.create_network, ctx, c.CreateNetworkRequest(spec=spec)).network
    return Swarm(store=store, clock=clock, raft=raft, ctx=ctx, cluster_id=cl.id,
                 manager_id=mgr.id, ingress_id=ingress.id)
