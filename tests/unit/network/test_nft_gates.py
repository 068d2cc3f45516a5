"""The node-namespace gates (VXLAN from peers only, Raft from managers only): rendering (pure),
syntax-checked with ``nft -c`` in a throwaway netns when possible."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from node.network import InvalidNetworkConfigError, gates, nft


def test_vxlan_gate_accepts_only_the_set() -> None:
    out = nft.render_vxlan_gate_table("p_vxgate", 4789, ["10.0.0.10", "10.0.0.2", "10.0.0.2"])
    assert out.startswith("table ip p_vxgate {\n  set allowed { type ipv4_addr; }\n"
                          "  chain input { type filter hook input priority 0; policy accept; }\n}\n")
    # one transaction: rules and elements flushed and refilled, no delete (hook kept, no gap)
    assert "flush chain ip p_vxgate input\nflush set ip p_vxgate allowed\n" in out
    assert "delete" not in out
    assert ("    udp dport 4789 ip saddr @allowed accept\n"
            "    udp dport 4789 drop\n") in out
    assert out.endswith("add element ip p_vxgate allowed { 10.0.0.2, 10.0.0.10 }\n")  # sorted, deduped
    assert 'iif "lo"' not in out
    assert out.index("flush set") < out.index("add element")


def test_vxlan_gate_custom_port_and_no_peers() -> None:
    out = nft.render_vxlan_gate_table("t", 7789, [])
    assert "udp dport 7789 drop" in out and "4789" not in out
    assert "add element" not in out     # empty set: every VXLAN packet dropped


def test_raft_gate() -> None:
    out = nft.render_raft_gate_table("p_raftgate", 4242, ["192.168.1.3", "192.168.1.1"])
    assert ('    iif "lo" tcp dport 4242 accept\n'
            "    tcp dport 4242 ip saddr @allowed accept\n"
            "    tcp dport 4242 drop\n") in out
    assert out.endswith("add element ip p_raftgate allowed { 192.168.1.1, 192.168.1.3 }\n")
    assert nft.render_raft_gate_table("t", 1, ["1.2.3.4", "1.2.3.5"]) == \
        nft.render_raft_gate_table("t", 1, ["1.2.3.5", "1.2.3.4"])


def test_gate_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        nft.render_gate_table("t", "sctp", 1, [])
    with pytest.raises(InvalidNetworkConfigError):
        gates.apply_raft_gate("t", 4242, ["not-an-ip"])
    with pytest.raises(InvalidNetworkConfigError):
        gates.apply_vxlan_gate("t", 4789, ["fe80::1"])


def test_table_names() -> None:
    assert gates.vxlan_table("ab") == "absw_vxgate"
    assert gates.raft_table("") == "sw_raftgate"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                    reason="nft needs root")
def test_gate_scripts_apply_and_update_in_a_throwaway_netns() -> None:
    a = nft.render_vxlan_gate_table("nt7g_v", 4789, ["10.0.0.2"])
    b = nft.render_vxlan_gate_table("nt7g_v", 4789, ["10.0.0.3", "10.0.0.4"])
    r = nft.render_raft_gate_table("nt7g_r", 4242, ["10.0.0.5"])
    script = a + b + r + nft.render_raft_gate_table("nt7g_r", 4242, [])
    shell = f"nft -f - <<'EOF'\n{script}EOF\nnft list set ip nt7g_v allowed && nft list table ip nt7g_r"
    out = subprocess.run(["unshare", "-n", "sh", "-c", shell], text=True, capture_output=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "elements = { 10.0.0.3, 10.0.0.4 }" in out.stdout   # replaced, not merged
    assert "10.0.0.2" not in out.stdout and "10.0.0.5" not in out.stdout
