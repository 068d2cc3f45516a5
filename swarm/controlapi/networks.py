"""Networks for the CLI: create (overlay only), inspect, list, remove.

Subnets and VNIs are picked here (see swarm.allocator.ipam) and protected by the store's unique
indexes; addresses inside a network are the allocator's job.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from swarm.allocator.ipam import VXLAN_OPTION, IPAMError, next_subnet, next_vni, subnet_of, vni_of
from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Network, Service
from swarm.api.specs_pb2 import NetworkSpec
from swarm.api.types_pb2 import IPAMConfig
from swarm.ca.ids import new_id
from swarm.controlapi.common import Context
from swarm.controlapi.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
)
from swarm.controlapi.resolve import resolve
from swarm.controlapi.validate import NAME_RE
from swarm.store import NameConflictError, typed

DEFAULT_POOL = "10.0.0.0/8"


def find_network(ctx: Context, ref: str) -> Network:
    return resolve(ref, ctx.read.list(Network), "network", lambda n: n.spec.annotations.name)


def build_network(spec: NetworkSpec, taken_subnets: list[str], taken_vnis: list[int],
                  pools: list[str], size: int, now: object) -> Network:
    net = Network(id=new_id(), spec=spec)
    net.driver_state.name = "overlay"
    if spec.ipam.configs and spec.ipam.configs[0].subnet:
        sub = ipaddress.ip_network(spec.ipam.configs[0].subnet, strict=False)
        gw = spec.ipam.configs[0].gateway or str(next(sub.hosts()))
    else:
        sub = ipaddress.ip_network(next_subnet(pools, size, taken_subnets))
        gw = str(next(sub.hosts()))
    net.ipam.configs.append(IPAMConfig(subnet=str(sub), gateway=gw))
    net.driver_state.options[VXLAN_OPTION] = str(next_vni(taken_vnis))
    net.meta.created_at.CopyFrom(now)  # type: ignore[arg-type]
    net.meta.updated_at.CopyFrom(now)  # type: ignore[arg-type]
    return net


async def create_network(ctx: Context, req: c.CreateNetworkRequest) -> c.CreateNetworkResponse:
    spec = NetworkSpec()
    spec.CopyFrom(req.spec)
    name = spec.annotations.name
    if not name or not NAME_RE.match(name):
        raise InvalidArgumentError("network name must be valid as a DNS name component")
    driver = spec.driver_config.name or "overlay"
    if driver != "overlay":
        raise InvalidArgumentError(f"network driver {driver!r} is not supported: only overlay")
    spec.driver_config.name = "overlay"
    for cfg in spec.ipam.configs:
        try:
            sub = ipaddress.ip_network(cfg.subnet, strict=False)
        except ValueError:
            raise InvalidArgumentError(f"invalid subnet {cfg.subnet!r}") from None
        if not isinstance(sub, ipaddress.IPv4Network) or sub.prefixlen > 29:
            raise InvalidArgumentError(f"invalid subnet {cfg.subnet}: IPv4, /29 or larger")
        if cfg.gateway and ipaddress.ip_address(cfg.gateway) not in sub:
            raise InvalidArgumentError(f"gateway {cfg.gateway} is not in subnet {cfg.subnet}")
    if spec.ingress and any(n.spec.ingress for n in ctx.read.list(Network)):
        raise AlreadyExistsError("an ingress network already exists")
    cl = ctx.read.cluster()
    pools = list(cl.default_address_pool) if cl and cl.default_address_pool else [DEFAULT_POOL]
    size = cl.subnet_size if cl and cl.subnet_size else 24
    for _ in range(8):
        nets = ctx.read.list(Network)
        if any(n.spec.annotations.name == name for n in nets):
            raise AlreadyExistsError(f"network with name {name} already exists")
        taken = [str(s) for s in (subnet_of(n) for n in nets) if s]
        for cfg in spec.ipam.configs:
            sub = ipaddress.ip_network(cfg.subnet, strict=False)
            for t in taken:
                if sub.overlaps(ipaddress.ip_network(t)):
                    raise FailedPreconditionError(
                        f"subnet {sub} overlaps with the subnet {t} of another network")
        try:
            net = build_network(spec, taken, [vni_of(n) for n in nets], pools, size, ctx.now())
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
