"""The VM testbed's network: its own netns with a bridge and taps, and root-namespace safety routes.

The bridge carries the infra address (subnet .1: the registry, the ssh client); qemu runs inside
the netns and attaches each VM to its tap, so no VM packet can reach the root namespace: there is
no uplink, no NAT, no default route. As with the netns testbed (deploy/swtb/net.py, whose route
helpers this reuses) the subnet and overlay pools get `unreachable` routes in the root namespace
(`proto 231`, metric from the name "vmtb") for the testbed's lifetime.
"""

from __future__ import annotations

import ipaddress

from swtb import net as swtb_net
from swtb.errors import TestbedError
from swtb.sh import netns_list

from vmtb.config import BRIDGE, NETNS, BedState
from vmtb.sh import run


def ip(*args: str, check: bool = True) -> None:
    run(["ip", *args], check=check)


def create(state: BedState) -> None:
    if NETNS in netns_list():
        raise TestbedError(f"netns {NETNS} already exists: run `deploy/vmtestbed down` first")
    swtb_net.add_routes(state.routes, state.route_metric)
    prefixlen = ipaddress.ip_network(state.subnet).prefixlen
    ip("netns", "add", NETNS)
    ip("-n", NETNS, "link", "set", "lo", "up")
    ip("-n", NETNS, "link", "add", BRIDGE, "type", "bridge")
    ip("-n", NETNS, "addr", "add", f"{state.infra_address}/{prefixlen}", "dev", BRIDGE)
    ip("-n", NETNS, "link", "set", BRIDGE, "up")
    for v in state.vms:
        ip("-n", NETNS, "tuntap", "add", "dev", v.tap, "mode", "tap")
        ip("-n", NETNS, "link", "set", v.tap, "master", BRIDGE, "up")


def exists() -> bool:
    return NETNS in netns_list()


def delete(routes: list[str], metric: int) -> None:
    """Remove the netns (its bridge and taps go with it) and exactly our routes."""
    if exists():
        ip("netns", "del", NETNS, check=False)  # a concurrent `down` may have just removed it
    if exists():
        raise TestbedError(f"cannot delete netns {NETNS}")
    swtb_net.delete_routes(routes, metric)
    left = swtb_net.our_routes(metric)
    if left:
        swtb_net.delete_routes(left, metric)
