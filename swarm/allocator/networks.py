"""New overlay networks: the subnet, gateway and VXLAN id a network is created with.

Design notes
------------
Pure functions; the caller reads the store and writes the result. Two callers: the control
API's ``network create`` (:func:`new_network`, which the control API retries on a store
conflict) and ``swarm init``'s ``ingress`` network (:func:`build_network` with nothing taken,
so it gets the pool's first subnet and VNI 4096).

* Subnet: the one the spec asks for (refused if it overlaps a network's subnet), else the
  first subnet of the cluster's address pools (``default_address_pool``, 10.0.0.0/8 when
  unset, cut at ``subnet_size``, /24 when unset) that overlaps none. Gateway: the spec's, else
  the subnet's first host.
* VNI: the lowest free one from 4096 (ipam.py).
* Nothing is reserved: subnet and VNI are unique indexes of the store, so of two managers that
  pick the same one at once the second write is refused (``NameConflictError``) and the control
  API picks again from a fresh read.
* The id is a new object id (``swarm.ca.ids``, stdlib only), as for every object the managers
  make.

Errors: :class:`~swarm.allocator.ipam.IPAMError` (no subnet or VNI left, an overlap).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from swarm.allocator.ipam import VXLAN_OPTION, IPAMError, next_subnet, next_vni, subnet_of, vni_of
from swarm.api.objects_pb2 import Cluster, Network
from swarm.api.specs_pb2 import NetworkSpec
from swarm.api.types_pb2 import IPAMConfig
from swarm.ca.ids import new_id

DEFAULT_POOL = "10.0.0.0/8"
DEFAULT_SUBNET_SIZE = 24


def address_pools(cl: Cluster | None) -> tuple[list[str], int]:
    """(pools, subnet prefix length) that new networks' subnets are cut from."""
    pools = list(cl.default_address_pool) if cl and cl.default_address_pool else [DEFAULT_POOL]
    size = cl.subnet_size if cl and cl.subnet_size else DEFAULT_SUBNET_SIZE
    return pools, size


def build_network(spec: NetworkSpec, taken_subnets: Iterable[str], taken_vnis: Iterable[int],
                  pools: Iterable[str], size: int, now: Timestamp) -> Network:
    """A new overlay ``Network`` for ``spec``: its subnet (the spec's, else the first free one of
    ``pools`` at ``size``), gateway and the lowest free VNI. Raises IPAMError."""
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
    net.meta.created_at.CopyFrom(now)
    net.meta.updated_at.CopyFrom(now)
    return net


def new_network(spec: NetworkSpec, existing: Sequence[Network], cl: Cluster | None,
                now: Timestamp) -> Network:
    """The network ``network create`` writes, given the networks in the store and the cluster
    (its address pools). Raises IPAMError: a requested subnet overlaps one in use, or nothing
    is left."""
    taken = [str(s) for s in (subnet_of(n) for n in existing) if s]
    for cfg in spec.ipam.configs:
        sub = ipaddress.ip_network(cfg.subnet, strict=False)
        for t in taken:
            if sub.overlaps(ipaddress.ip_network(t)):
                raise IPAMError(f"subnet {sub} overlaps with the subnet {t} of another network")
    pools, size = address_pools(cl)
    return build_network(spec, taken, [vni_of(n) for n in existing], pools, size, now)
