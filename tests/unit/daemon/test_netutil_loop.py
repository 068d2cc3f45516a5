"""Interface names in init/join addresses are resolved over netlink; the daemon does that
inside its running event loop (docker-py's init_swarm(data_path_addr='eth0') got a 500
"This event loop is already running")."""

from __future__ import annotations

import asyncio

import pytest

from swarm.daemon.errors import InvalidRequestError
from swarm.daemon.netutil import split_addr


def test_an_interface_name_resolves_inside_a_running_loop() -> None:
    async def main() -> tuple[str, int]:
        return split_addr("lo:4000")

    assert asyncio.run(main()) == ("127.0.0.1", 4000)


def test_an_unknown_interface_is_a_clear_error_inside_a_running_loop() -> None:
    async def main() -> tuple[str, int]:
        return split_addr("nosuchif0")

    with pytest.raises(InvalidRequestError, match=r"nosuchif0.*not an IP address nor a usable interface"):
        asyncio.run(main())
