"""The node-namespace gates with real nftables and real traffic (root only).

Topology (all names start with nt8g; nothing of ours in the root namespace)::

    nt8gn  eth0 172.31.246.1/24   "the node": a NodeNetwork (prefix nt8g) in its own process
      |  veth
    nt8gs  eth0 172.31.246.2/24 and .3/24   the sender: a peer / manager (.2) and a stranger (.3)

VXLAN: crafted VXLAN datagrams (VNI of the test network, a broadcast inner frame) sent from .2
or .3 to the node; received = the rx counter of vxlan0 in the network's namespace grows. Also a
plain UDP listener behind a gate installed directly. Raft: TCP connects to a listener in nt8gn.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from node.network import gates, netns
from node.network.model import network_ns_name

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("nft", "ip", "nsenter")),
                       reason="nft/ip/nsenter missing"),
]

REPO = Path(__file__).resolve().parents[2]
NODE, SENDER = "nt8gn", "nt8gs"
NODE_IP, PEER_IP, STRANGER_IP = "172.31.246.1", "172.31.246.2", "172.31.246.3"
PREFIX = "nt8g"
NET: dict[str, Any] = {"id": "gatenet001", "name": "gatenet", "vni": 4200, "subnet": "10.246.1.0/24",
       "gateway": "10.246.1.1"}
ING: dict[str, Any] = {"id": "gateing001", "name": "ingress", "vni": 4201, "subnet": "10.246.0.0/24",
       "gateway": "10.246.0.1", "ingress": True}
RAFT_PORT = 47242


def sh(cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd!r} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def cleanup_netns() -> None:
    for name in sh("ip netns list", check=False).stdout.split():
        if name.startswith("nt8g"):
            sh(f"ip netns del {name}", check=False)


class Driver:
    """tests/integration/test_network_driver.py running a NodeNetwork inside nt8gn."""

    def __init__(self, workdir: Path) -> None:
        (workdir / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        self.log = open(workdir / "driver.log", "w")  # noqa: SIM115
        self.workdir = workdir
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{NODE}", sys.executable,
             str(REPO / "tests/integration/test_network_driver.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=REPO)
        self.call("init", state_dir=str(workdir / "state"), addr=NODE_IP, prefix=PREFIX,
                  resolv_conf=str(workdir / "resolv.conf"))

    def call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"driver died; see {self.workdir / 'driver.log'}")
        out = json.loads(line)
        if "err" in out:
            raise RuntimeError(f"{op}: {out['err']}")
        return out["ok"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("close", cleanup=True)
            except RuntimeError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def topo() -> Iterator[None]:
    cleanup_netns()
    try:
        sh(f"ip netns add {NODE} && ip netns add {SENDER}")
        sh(f"ip -n {NODE} link add eth0 type veth peer name eth0 netns {SENDER}")
        sh(f"ip -n {NODE} addr add {NODE_IP}/24 dev eth0 && ip -n {NODE} link set eth0 up "
           f"&& ip -n {NODE} link set lo up")
        sh(f"ip -n {SENDER} addr add {PEER_IP}/24 dev eth0 && "
           f"ip -n {SENDER} addr add {STRANGER_IP}/24 dev eth0 && ip -n {SENDER} link set eth0 up")
        yield
    finally:
        cleanup_netns()


@pytest.fixture
def node(topo: None, tmp_path: Path) -> Iterator[Driver]:
    d = Driver(tmp_path)
    try:
        yield d
    finally:
        d.stop()


def in_ns(name: str, fn: Callable[[], Any]) -> Any:
    return netns.run_in_ns(f"/run/netns/{name}", lambda _ipr: fn(), netlink=False)


def node_nft(args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(f"nsenter --net=/run/netns/{NODE} nft {args}", check)


def send_udp(src: str, port: int, payload: bytes, count: int = 3) -> None:
    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((src, 0))
            for _ in range(count):
                s.sendto(payload, (NODE_IP, port))
                time.sleep(0.02)
    in_ns(SENDER, send)


def vxlan_frame(vni: int) -> bytes:
    inner = b"\xff" * 6 + bytes.fromhex("02aabbccddee") + b"\x88\xb5" + b"gate-test".ljust(46, b".")
    return b"\x08\x00\x00\x00" + vni.to_bytes(3, "big") + b"\x00" + inner


def vxlan_rx(network_id: str) -> int:
    out = sh(f"ip -n {network_ns_name(PREFIX, network_id)} -j -s link show vxlan0").stdout
    return int(json.loads(out)[0]["stats64"]["rx"]["packets"])


def vxlan_received(src: str, network_id: str = NET["id"], vni: int = NET["vni"]) -> bool:
    before = vxlan_rx(network_id)
    send_udp(src, 4789, vxlan_frame(vni))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if vxlan_rx(network_id) >= before + 3:
            return True
        time.sleep(0.05)
    return vxlan_rx(network_id) > before


def gate_set(table: str) -> str:
    return node_nft(f"list set ip {table} allowed").stdout


def test_vxlan_only_from_current_peers(node: Driver) -> None:
    table = gates.vxlan_table(PREFIX)
    node.call("ensure_network", cfg=ING)
    node.call("ensure_network", cfg=NET)
    node.call("set_peers", network_id=NET["id"], peers=[NODE_IP, PEER_IP], endpoints=[])
    node.call("set_peers", network_id=ING["id"], peers=[NODE_IP], endpoints=[])
    assert PEER_IP in gate_set(table) and NODE_IP not in gate_set(table)
    assert vxlan_received(PEER_IP)
    assert not vxlan_received(STRANGER_IP)          # no peer of any network: dropped
    # the stranger becomes a peer of the ingress network only: the union counts
    node.call("set_peers", network_id=ING["id"], peers=[NODE_IP, STRANGER_IP], endpoints=[])
    assert vxlan_received(STRANGER_IP)
    assert vxlan_received(PEER_IP)
    # the peer leaves the app network: replaced, not merged
    node.call("set_peers", network_id=NET["id"], peers=[NODE_IP], endpoints=[])
    assert not vxlan_received(PEER_IP)
    # a remote endpoint's node address counts as a peer too
    node.call("set_peers", network_id=NET["id"], peers=[NODE_IP],
              endpoints=[["10.246.1.9", PEER_IP]])
    assert vxlan_received(PEER_IP)
    # removing the ingress network drops its peers from the gate
    node.call("remove_network", network_id=ING["id"])
    assert not vxlan_received(STRANGER_IP)
    node.call("close", cleanup=True)
    assert node_nft(f"list table ip {table}", check=False).returncode != 0   # table removed
    node.proc.wait(10)


def test_vxlan_gate_survives_a_restart(topo: None, tmp_path: Path) -> None:
    """A new NodeNetwork adopting the old one's networks keeps accepting the peers vxlan0
    still sends to (read from the FDB) until the daemon replays set_peers."""
    table = gates.vxlan_table(PREFIX)
    first = Driver(tmp_path)
    try:
        first.call("ensure_network", cfg=NET)
        first.call("set_peers", network_id=NET["id"], peers=[PEER_IP], endpoints=[])
        first.call("close", cleanup=False)
        first.proc.wait(10)
        node_nft(f"delete table ip {table}")          # even without the table: rebuilt
        second = Driver(tmp_path)
        try:
            assert PEER_IP in gate_set(table)
            assert vxlan_received(PEER_IP)
            assert not vxlan_received(STRANGER_IP)
        finally:
            second.stop()
        assert node_nft(f"list table ip {table}", check=False).returncode != 0
    finally:
        first.stop()


def test_plain_udp_listener_behind_the_gate(topo: None) -> None:
    """The gate as such on another port, in front of an ordinary socket."""
    table, port = "nt8gx_vxgate", 47789
    listener = in_ns(NODE, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        listener.bind((NODE_IP, port))
        listener.settimeout(1.0)

        def got(src: str) -> bool:
            send_udp(src, port, src.encode(), count=1)
            try:
                while True:
                    _data, peer = listener.recvfrom(100)
                    if peer[0] == src:
                        return True
            except TimeoutError:
                return False

        assert got(STRANGER_IP)   # no gate yet: anyone gets through
        in_ns(NODE, lambda: gates.apply_vxlan_gate(table, port, [PEER_IP]))
        assert got(PEER_IP)
        assert not got(STRANGER_IP)
        in_ns(NODE, lambda: gates.apply_vxlan_gate(table, port, [PEER_IP, STRANGER_IP]))
        assert got(STRANGER_IP) and got(PEER_IP)
        in_ns(NODE, lambda: gates.apply_vxlan_gate(table, port, None))
        assert node_nft(f"list table ip {table}", check=False).returncode != 0
    finally:
        listener.close()
        in_ns(NODE, lambda: gates.apply_vxlan_gate(table, port, None))


def tcp_connects(src: str, port: int = RAFT_PORT) -> bool:
    def connect() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((src, 0))
            s.settimeout(1.0)
            try:
                s.connect((NODE_IP, port))
                return True
            except (TimeoutError, ConnectionRefusedError):
                return False
    return bool(in_ns(SENDER, connect))


def test_raft_port_only_from_managers(node: Driver) -> None:
    table = gates.raft_table(PREFIX)
    listener = in_ns(NODE, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", RAFT_PORT))
        listener.listen(64)
        assert tcp_connects(STRANGER_IP)      # no gate yet
        node.call("set_raft_allow", port=RAFT_PORT, addrs=[PEER_IP])
        assert tcp_connects(PEER_IP)
        assert not tcp_connects(STRANGER_IP)

        def local() -> bool:                  # the node itself, over loopback
            with socket.create_connection(("127.0.0.1", RAFT_PORT), 1.0):
                return True
        assert in_ns(NODE, local)
        node.call("set_raft_allow", port=RAFT_PORT, addrs=[PEER_IP, STRANGER_IP])
        assert tcp_connects(STRANGER_IP) and tcp_connects(PEER_IP)
        node.call("set_raft_allow", port=RAFT_PORT, addrs=[STRANGER_IP])
        assert not tcp_connects(PEER_IP)
        node.call("set_raft_allow", port=RAFT_PORT, addrs=[])
        assert node_nft(f"list table ip {table}", check=False).returncode != 0
        assert tcp_connects(PEER_IP)
        # the module-level helper (what the daemon may call without a NodeNetwork) and cleanup
        in_ns(NODE, lambda: gates.set_raft_allow(RAFT_PORT, [STRANGER_IP], PREFIX))
        assert not tcp_connects(PEER_IP)
        node.call("close", cleanup=True)
        node.proc.wait(10)
        assert node_nft(f"list table ip {table}", check=False).returncode != 0
        assert tcp_connects(PEER_IP)
    finally:
        listener.close()
