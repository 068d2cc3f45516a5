"""Another manager's write landing between a handler's read and its write (every manager
serves the control API from its own replica): the handler re-checks or refuses cleanly."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Network, Service
from swarm.api.specs_pb2 import NetworkSpec
from swarm.api.types_pb2 import IPAMConfig
from swarm.controlapi import networks, services
from swarm.controlapi.common import Context
from swarm.rpc.errors import code_name_for
from swarm.store import Action, typed
from tests.unit.orchestrator.memstore import Clock, MemStore

from .conftest import FakeRaft
from .helpers import call, service_spec

VXLAN = "com.docker.network.driver.overlay.vxlanid_list"


class RacingStore(MemStore):
    """Applies ``queued`` batches (another manager's writes) just before the next write."""

    def __init__(self) -> None:
        super().__init__()
        self.queued: list[list[Action]] = []

    async def apply(self, actions: Sequence[Action], timeout: float = 5.0) -> int:
        while self.queued:
            await super().apply(self.queued.pop(0))
        return await super().apply(actions, timeout)


Racing = tuple[RacingStore, Context]


@pytest.fixture
def racing() -> Racing:
    store = RacingStore()
    return store, Context(store=store, clock=Clock(1_700_000_000.0), raft=FakeRaft())


def other_managers_network(name: str, subnet: str, vni: str) -> Network:
    net = Network(id=f"other-{name}")
    net.spec.annotations.name = name
    net.ipam.configs.append(IPAMConfig(subnet=subnet, gateway=subnet.replace("0/24", "1")))
    net.driver_state.options[VXLAN] = vni
    return net


def test_a_service_name_taken_meanwhile_is_already_exists(racing: Racing) -> None:
    store, ctx = racing
    theirs = Service(id="theirs" + "0" * 19, spec=service_spec("web"))
    store.queued.append([typed.create(theirs)])
    with pytest.raises(Exception) as info:
        call(services.create_service, ctx, c.CreateServiceRequest(spec=service_spec("web")))
    assert code_name_for(info.value) == "ALREADY_EXISTS"
    assert str(info.value).endswith("service web already exists")
    assert [s.id for s in ctx.read.list(Service)] == [theirs.id]


def test_a_network_name_taken_meanwhile_is_already_exists(racing: Racing) -> None:
    store, ctx = racing
    store.queued.append([typed.create(other_managers_network("backend", "10.0.9.0/24", "5000"))])
    spec = NetworkSpec()
    spec.annotations.name = "backend"
    with pytest.raises(Exception) as info:
        call(networks.create_network, ctx, c.CreateNetworkRequest(spec=spec))
    assert code_name_for(info.value) == "ALREADY_EXISTS"
    assert str(info.value) == "network with name backend already exists"
    assert [n.id for n in ctx.read.list(Network)] == ["other-backend"]


def test_a_subnet_and_vni_taken_meanwhile_are_picked_again(racing: Racing) -> None:
    store, ctx = racing
    store.queued.append([typed.create(other_managers_network("theirs", "10.0.0.0/24", "4096"))])
    spec = NetworkSpec()
    spec.annotations.name = "mine"
    net = call(networks.create_network, ctx, c.CreateNetworkRequest(spec=spec)).network
    assert net.ipam.configs[0].subnet == "10.0.1.0/24"
    assert net.driver_state.options[VXLAN] == "4097"


def test_a_service_update_racing_another_write_is_refused_out_of_sequence(racing: Racing) -> None:
    store, ctx = racing
    svc = call(services.create_service, ctx, c.CreateServiceRequest(spec=service_spec("web"))).service
    theirs = Service()
    theirs.CopyFrom(svc)
    theirs.spec.task.container.image = "busybox:other"
    store.queued.append([typed.update(theirs)])
    req = c.UpdateServiceRequest(service_id=svc.id, spec=service_spec("web", replicas=3))
    req.service_version.index = svc.meta.version.index
    with pytest.raises(Exception) as info:
        call(services.update_service, ctx, req)
    assert code_name_for(info.value) == "ABORTED"          # re-read and retry
    assert str(info.value).startswith("update out of sequence")
    stored = ctx.read.get(Service, svc.id)
    assert stored is not None and stored.spec.task.container.image == "busybox:other"
