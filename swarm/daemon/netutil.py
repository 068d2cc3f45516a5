"""Address handling for init/join: advertise and listen addresses, auto-detection."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from swarm.daemon.errors import InvalidRequestError

T = TypeVar("T")

DEFAULT_PORT = 2377


def split_addr(addr: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """`ip`, `ip:port` or an interface name (`eth0`, `eth0:2377`) -> (ip, port)."""
    host, port = addr, default_port
    if addr.count(":") == 1:
        host, p = addr.split(":")
        if not p.isdigit() or not 0 < int(p) < 65536:
            raise InvalidRequestError(f"invalid port in address {addr!r}")
        port = int(p)
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    ip = interface_ip(host)
    if ip is None:
        raise InvalidRequestError(
            f"failed to parse address {addr!r}: not an IP address nor a usable interface name")
    return ip, port


def _off_loop(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a thread of its own: pyroute2's synchronous ``IPRoute`` drives an asyncio
    loop of its own, which cannot start inside the daemon's running loop ("This event loop is
    already running", seen when docker-py's ``init_swarm(data_path_addr='eth0')`` arrived)."""
    with ThreadPoolExecutor(1, thread_name_prefix="netlink") as pool:
        return pool.submit(fn).result()


def interface_ip(name: str) -> str | None:
    return _off_loop(lambda: _interface_ip(name))


def _interface_ip(name: str) -> str | None:
    try:
        from pyroute2 import IPRoute
    except ImportError:  # pragma: no cover
        return None
    with IPRoute() as ipr:
        links = ipr.link_lookup(ifname=name)
        if not links:
            return None
        addrs = [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=links[0], family=socket.AF_INET)]
    if len(addrs) == 1:
        return str(addrs[0])
    if len(addrs) > 1:
        raise InvalidRequestError(
            f"interface {name} has more than one IPv4 address ({addrs[0]} and {addrs[1]})")
    return None


def detect_advertise_ip() -> str:
    """The one non-loopback IPv4 address of this host, as `swarm init` picks it."""
    return _off_loop(_detect_advertise_ip)


def _detect_advertise_ip() -> str:
    from pyroute2 import IPRoute

    found: list[tuple[str, str]] = []
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for a in ipr.get_addr(family=socket.AF_INET):
            ip = a.get_attr("IFA_ADDRESS")
            if ip and not ipaddress.ip_address(ip).is_loopback:
                found.append((names.get(a["index"], "?"), ip))
    if len(found) == 1:
        return found[0][1]
    if not found:
        raise InvalidRequestError(
            "could not find the system's IP address - specify one with --advertise-addr")
    (i1, a1), (i2, a2) = found[0], found[1]
    if i1 == i2:
        raise InvalidRequestError(
            f"could not choose an IP address to advertise since this system has multiple "
            f"addresses on interface {i1} ({a1} and {a2}) - specify one with --advertise-addr")
    raise InvalidRequestError(
        f"could not choose an IP address to advertise since this system has multiple addresses "
        f"on different interfaces ({a1} on {i1} and {a2} on {i2}) - specify one with --advertise-addr")


def local_ip_towards(remote: str) -> str:
    """The local address the kernel would use to reach `remote` (no packet is sent)."""
    host, port = split_addr(remote)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, port))
        return str(s.getsockname()[0])
