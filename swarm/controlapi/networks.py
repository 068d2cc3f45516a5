"""Networks for the CLI: create (overlay only), inspect, list, remove.

This module validates and asks: the spec is checked here (validate.py) and against the store
(name taken, a second ingress network); the subnet, gateway and VNI are the allocator's
decision (``swarm.allocator.networks.new_network``), protected by the store's unique indexes:
when another manager took the name, subnet or VNI meanwhile, the write is refused and the
network is built again from a fresh read. Addresses inside a network are the leader's
allocator's job.
"""

from __future__ import annotations

from typing import Any

from swarm.allocator.ipam import IPAMError
from swarm.allocator.networks import new_network
from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Network, Service
from swarm.api.specs_pb2 import NetworkSpec
from swarm.controlapi.common import Context
from swarm.controlapi.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
)
from swarm.controlapi.resolve import resolve
from swarm.controlapi.validate import validate_network_spec
from swarm.store import NameConflictError, typed


def find_network(ctx: Context, ref: str) -> Network:
    return resolve(ref, ctx.read.list(Network), "network", lambda n: n.spec.annotations.name)


async def create_network(ctx: Context, req: c.CreateNetworkRequest) -> c.CreateNetworkResponse:
    spec = NetworkSpec()
    spec.CopyFrom(req.spec)
    validate_network_spec(spec)
    spec.driver_config.name = "overlay"
    name = spec.annotations.name
    if spec.ingress and any(n.spec.ingress for n in ctx.read.list(Network)):
        raise AlreadyExistsError("an ingress network already exists")
    cl = ctx.read.cluster()
    for _ in range(8):
        nets = ctx.read.list(Network)
        if any(n.spec.annotations.name.lower() == name.lower() for n in nets):  # as the store's index
            raise AlreadyExistsError(f"network with name {name} already exists")
        try:
            net = new_network(spec, nets, cl, ctx.now())
        except IPAMError as e:
            raise FailedPreconditionError(str(e)) from None
        try:
            await ctx.apply([typed.create(net)])
            return c.CreateNetworkResponse(network=ctx.read.get(Network, net.id))
        except NameConflictError:
            continue  # another manager took the name, subnet or VNI meanwhile: look again
    raise FailedPreconditionError("could not allocate the network (concurrent creations); try again")


def get_network(ctx: Context, req: c.GetNetworkRequest) -> c.GetNetworkResponse:
    return c.GetNetworkResponse(network=find_network(ctx, req.network_id))


def list_networks(ctx: Context, req: c.ListNetworksRequest) -> c.ListNetworksResponse:
    nets = ctx.read.list(Network)
    f = req.filters
    if f.names:
        nets = [n for n in nets if n.spec.annotations.name in f.names]
    if f.id_prefixes:
        nets = [n for n in nets if any(n.id.startswith(p) for p in f.id_prefixes)]
    return c.ListNetworksResponse(networks=nets)


def services_using(ctx: Context, net: Network) -> list[Service]:
    out = []
    for s in ctx.read.list(Service):
        targets = {a.target for a in s.spec.task.networks}
        if net.id in targets or net.spec.annotations.name in targets:
            out.append(s)
    return out


async def remove_network(ctx: Context, req: c.RemoveNetworkRequest) -> c.RemoveNetworkResponse:
    net = find_network(ctx, req.network_id)
    users = services_using(ctx, net)
    if users:
        raise FailedPreconditionError(f"network {net.spec.annotations.name} is in use by service "
                                      f"{users[0].spec.annotations.name}")
    if net.spec.ingress:
        ports = [s for s in ctx.read.list(Service) if any(p.publish_mode == 0 for p in s.endpoint.ports)]
        if ports:
            raise FailedPreconditionError(
                f"ingress network cannot be removed because service {ports[0].id} depends on it")
    await ctx.apply([typed.delete(net, expected_version=net.meta.version.index)])
    return c.RemoveNetworkResponse()


HANDLERS: dict[str, Any] = {
    "CreateNetwork": create_network,
    "GetNetwork": get_network,
    "ListNetworks": list_networks,
    "RemoveNetwork": remove_network,
}
