"""Value types of the node data path and the pure naming rules.

Everything here is pure (no I/O) so it is unit-tested without root.

Names. Several daemons may share one kernel and one ``/run`` (the testbed), so every netns,
host-side link and nft table this package creates starts with ``stem(prefix)`` =
``<name_prefix>sw``. Names *inside* our own namespaces (``br0``, ``vxlan0``, ``eth0``) need
no prefix except nft tables, which carry it anyway so ``nft list ruleset`` shows whose they are.

MACs are derived from the IPv4 address (``02:42:<ip bytes>``, as Docker does): a reused IP
then never meets a stale neighbour entry (runtime lab §5), and remote endpoints need no
MAC exchange - the manager only ships (task IP, node address) pairs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

from node.network.errors import InvalidNetworkConfigError

IFNAMSIZ = 15
_PREFIX_RE = re.compile(r"^[a-z0-9]{0,8}$")


@dataclass(frozen=True)
class NetworkConfig:
    """One overlay network as this node needs it (allocated by the manager)."""

    id: str
    name: str
    vni: int
    subnet: str           # CIDR, e.g. 10.0.1.0/24
    gateway: str          # IP inside subnet, lives on br0 of every node
    mtu: int = 1450
    ingress: bool = False

    def __post_init__(self) -> None:
        if not self.id or not re.fullmatch(r"[A-Za-z0-9_.-]+", self.id):
            raise InvalidNetworkConfigError(f"bad network id {self.id!r}")
        if not 1 <= self.vni < 2**24:
            raise InvalidNetworkConfigError(f"network {self.id}: VNI {self.vni} out of range")
        net = parse_subnet(self.subnet)
        if parse_ip(self.gateway) not in net:
            raise InvalidNetworkConfigError(f"network {self.id}: gateway {self.gateway} not in {net}")
        if not 576 <= self.mtu <= 9000:
            raise InvalidNetworkConfigError(f"network {self.id}: MTU {self.mtu} out of range")


@dataclass(frozen=True)
class DnsOptions:
    """A task's ``--dns`` (the embedded DNS's upstreams for it; IPv4 here), ``--dns-search`` and
    ``--dns-option`` (its resolv.conf's search and options lines)."""

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for ns in self.nameservers:
            parse_ip(ns)
        for word in (*self.search, *self.options):
            if not word or any(c.isspace() for c in word):
                raise InvalidNetworkConfigError(f"invalid DNS search domain or option {word!r}")


@dataclass(frozen=True)
class PortMap:
    """A published port: ``published_port`` on every node -> ``target_port`` in the task."""

    protocol: str         # "tcp" | "udp"
    target_port: int
    published_port: int

    def __post_init__(self) -> None:
        if self.protocol not in ("tcp", "udp"):
            raise InvalidNetworkConfigError(f"protocol must be tcp or udp, not {self.protocol!r}")
        for p in (self.target_port, self.published_port):
            if not 1 <= p <= 65535:
                raise InvalidNetworkConfigError(f"port {p} out of range")


@dataclass(frozen=True)
class ServiceEntry:
    """A service as seen on one network: its VIP there and its task IPs there."""

    service_id: str
    name: str
    aliases: tuple[str, ...] = ()
    vip: str | None = None                  # None for dnsrr
    backends: tuple[str, ...] = ()          # task IPs on this network, healthy ones only
    ports: tuple[PortMap, ...] = field(default=())
    dnsrr: bool = False

    def __post_init__(self) -> None:
        if self.vip is not None:
            parse_ip(self.vip)
        for b in self.backends:
            parse_ip(b)
        if self.dnsrr and self.vip is not None:
            raise InvalidNetworkConfigError(f"service {self.name}: dnsrr services have no VIP")


def parse_ip(text: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError as e:
        raise InvalidNetworkConfigError(f"not an IPv4 address: {text!r}") from e


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        raise InvalidNetworkConfigError(f"not an IPv4 subnet: {text!r}") from e


def parse_ip_cidr(text: str) -> ipaddress.IPv4Interface:
    """``10.0.1.5/24`` -> interface; a bare IP is refused (the prefix length matters)."""
    if "/" not in text:
        raise InvalidNetworkConfigError(f"address needs a prefix length: {text!r}")
    try:
        return ipaddress.IPv4Interface(text)
    except ValueError as e:
        raise InvalidNetworkConfigError(f"not an IPv4 address/prefix: {text!r}") from e


def mac_from_ip(ip: str) -> str:
    """``10.0.1.5`` -> ``02:42:0a:00:01:05``."""
    return "02:42:" + ":".join(f"{b:02x}" for b in parse_ip(ip).packed)


@dataclass(frozen=True)
class Endpoint:
    """One interface of a container's sandbox, as ``NodeNetwork.sandbox_endpoints`` reports it
    (what `docker inspect` shows under ``NetworkSettings.Networks``)."""

    network_id: str
    network_name: str
    ip_cidr: str          # 10.0.1.5/24
    mac_address: str
    endpoint_id: str
    gateway: str          # the sandbox's default route through this network, "" for none


def endpoint_id(container_id: str, network_id: str) -> str:
    """A stable 64-hex id of the container's interface on a network (Docker's EndpointID)."""
    return hashlib.sha256(f"endpoint/{container_id}/{network_id}".encode()).hexdigest()


def check_prefix(prefix: str) -> str:
    if not _PREFIX_RE.match(prefix):
        raise InvalidNetworkConfigError(f"name_prefix must be 0-8 of [a-z0-9], got {prefix!r}")
    return prefix


def stem(prefix: str) -> str:
    """Common start of every name one NodeNetwork creates."""
    return check_prefix(prefix) + "sw"


def short_hash(text: str, n: int = 10) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def network_ns_name(prefix: str, network_id: str) -> str:
    """Per-network namespace holding br0 + vxlan0 (Docker's ``1-<id>``)."""
    return f"{stem(prefix)}n-{short_hash(network_id)}"


def sandbox_ns_name(prefix: str, container_id: str) -> str:
    return f"{stem(prefix)}c-{short_hash(container_id, 16)}"


def ingress_sbox_ns_name(prefix: str) -> str:
    return f"{stem(prefix)}-ingress-sbox"


def host_link_name(prefix: str, what: str) -> str:
    name = f"{stem(prefix)}{what}"
    if len(name) > IFNAMSIZ:
        raise InvalidNetworkConfigError(f"link name {name!r} longer than {IFNAMSIZ}")
    return name


def endpoint_veth_name(container_id: str, network_id: str) -> str:
    """Bridge-side veth in the network namespace (unique there, no prefix needed)."""
    return "ve" + short_hash(container_id + "/" + network_id, 12)


def nft_table_name(prefix: str, what: str) -> str:
    return f"{stem(prefix)}_{what}"
