"""overlay.program_peers diffing and egress address/name allocation, against fakes (no root)."""

from __future__ import annotations

from typing import Any

import pytest

from node.network import InvalidNetworkConfigError, PortMap, overlay
from node.network.egress import Egress

ZERO = overlay.ZERO_MAC


class _Msg(dict):  # type: ignore[type-arg]
    def __init__(self, attrs: dict[str, Any], state: int = overlay.NUD_PERMANENT) -> None:
        super().__init__(state=state)
        self.attrs = attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


class FakeIPRoute:
    """Just enough of pyroute2.IPRoute for program_peers: one vxlan0 with FDB and neighbours."""

    def __init__(self, fdb: list[tuple[str, str]], neigh: dict[str, str]) -> None:
        self.fdb_entries = list(fdb)          # (mac, dst)
        self.neigh_entries = dict(neigh)      # ip -> mac
        self.ops: list[tuple[str, ...]] = []

    def link_lookup(self, ifname: str) -> list[int]:
        return [7] if ifname == overlay.VXLAN else []

    def fdb(self, cmd: str, ifindex: int, lladdr: str = "", dst: str = "", state: int = 0) -> Any:
        if cmd == "dump":
            return [_Msg({"NDA_LLADDR": m, "NDA_DST": d}) for m, d in self.fdb_entries]
        self.ops.append(("fdb", cmd, lladdr, dst))
        if cmd == "del":
            self.fdb_entries.remove((lladdr, dst))
        else:
            self.fdb_entries.append((lladdr, dst))
        return []

    def neigh(self, cmd: str, ifindex: int, dst: str = "", lladdr: str = "", state: str = "") -> Any:
        if cmd == "dump":
            return [_Msg({"NDA_DST": ip, "NDA_LLADDR": mac}) for ip, mac in self.neigh_entries.items()]
        self.ops.append(("neigh", cmd, dst, lladdr))
        if cmd == "del":
            del self.neigh_entries[dst]
        else:
            self.neigh_entries[dst] = lladdr
        return []


def test_program_peers_from_scratch_then_idempotent() -> None:
    ipr = FakeIPRoute([], {})
    overlay.program_peers(ipr, ["192.168.1.2", "192.168.1.3"], [("10.0.1.5", "192.168.1.2")])  # type: ignore[arg-type]
    assert sorted(ipr.fdb_entries) == sorted([(ZERO, "192.168.1.2"), (ZERO, "192.168.1.3"),
                                              ("02:42:0a:00:01:05", "192.168.1.2")])
    assert ipr.neigh_entries == {"10.0.1.5": "02:42:0a:00:01:05"}
    ipr.ops.clear()
    overlay.program_peers(ipr, ["192.168.1.3", "192.168.1.2"], [("10.0.1.5", "192.168.1.2")])  # type: ignore[arg-type]
    assert ipr.ops == []  # nothing to do


def test_program_peers_moves_and_removes() -> None:
    ipr = FakeIPRoute([(ZERO, "192.168.1.2"), (ZERO, "192.168.1.9"), ("02:42:0a:00:01:05", "192.168.1.2"),
                       ("02:42:0a:00:01:06", "192.168.1.9")],
                      {"10.0.1.5": "02:42:0a:00:01:05", "10.0.1.6": "02:42:0a:00:01:06"})
    # node .9 left; task 10.0.1.5 moved to node .3; 10.0.1.6 is gone
    overlay.program_peers(ipr, ["192.168.1.2", "192.168.1.3"], [("10.0.1.5", "192.168.1.3")])  # type: ignore[arg-type]
    assert sorted(ipr.fdb_entries) == sorted([(ZERO, "192.168.1.2"), (ZERO, "192.168.1.3"),
                                              ("02:42:0a:00:01:05", "192.168.1.3")])
    assert ipr.neigh_entries == {"10.0.1.5": "02:42:0a:00:01:05"}


class FakeHost:
    def __init__(self) -> None:
        self.calls = 0

    def call(self, fn: Any) -> None:
        self.calls += 1


def test_egress_allocation_and_names() -> None:
    eg = Egress(FakeHost(), "nt7asw", "172.18.0.0/29", {}, {})  # type: ignore[arg-type]
    ips = [eg._allocate(f"c{i}") for i in range(5)]
    assert ips == ["172.18.0.2", "172.18.0.3", "172.18.0.4", "172.18.0.5", "172.18.0.6"]
    with pytest.raises(InvalidNetworkConfigError, match="full"):
        eg._allocate("c9")
    assert eg._veth(6) == "nt7aswg6"
    with pytest.raises(InvalidNetworkConfigError, match="too large"):
        Egress(FakeHost(), "abcdefghsw", "10.0.0.0/8", {}, {})  # type: ignore[arg-type]


def test_egress_host_port_clash() -> None:
    eg = Egress(FakeHost(), "nt7asw", "172.18.0.0/24", {"a": "172.18.0.2", "b": "172.18.0.3"}, {})  # type: ignore[arg-type]
    eg.set_host_ports("a", (PortMap("tcp", 80, 8080),))
    with pytest.raises(InvalidNetworkConfigError, match="already used"):
        eg.set_host_ports("b", (PortMap("tcp", 81, 8080),))
    eg.set_host_ports("b", (PortMap("udp", 81, 8080),))  # other protocol: fine
    with pytest.raises(InvalidNetworkConfigError, match="no egress"):
        eg.set_host_ports("zzz", (PortMap("tcp", 1, 1),))
