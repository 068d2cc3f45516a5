"""nftables rendering (pure); syntax-checked with ``nft -c`` in a throwaway netns when possible."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from node.network import PortMap, ServiceEntry, nft

WEB = ServiceEntry("s1", "web", vip="10.0.1.2", backends=("10.0.1.10", "10.0.1.3"),
                   ports=(PortMap("tcp", 80, 8080), PortMap("udp", 53, 5353)))
ONE = ServiceEntry("s2", "one", vip="10.0.1.7", backends=("10.0.1.8",), ports=(PortMap("tcp", 22, 2222),))
DEAD = ServiceEntry("s3", "dead", vip="10.0.1.9", ports=(PortMap("tcp", 80, 9090),))
RR = ServiceEntry("s4", "rr", backends=("10.0.1.20",), dnsrr=True)


def test_vip_table_balances_and_rejects_empty() -> None:
    out = nft.render_vip_table("p_vip", [WEB, ONE, DEAD, RR])
    # declare chains, flush rules, refill: one transaction, hooks never re-registered
    assert out.startswith("table ip p_vip {\n  chain output { type nat hook output priority -100;")
    assert "\nflush table ip p_vip\n" in out and "delete" not in out
    assert nft.recreate("p_vip", out).startswith("table ip p_vip\ndelete table ip p_vip\n")
    # backends sorted numerically, round robin map
    assert ("ip daddr 10.0.1.2 meta l4proto { tcp, udp } dnat to numgen inc mod 2 "
            "map { 0 : 10.0.1.3, 1 : 10.0.1.10 }") in out
    assert "ip daddr 10.0.1.7 meta l4proto { tcp, udp } dnat to 10.0.1.8\n" in out
    assert "ip daddr { 10.0.1.9 } meta l4proto tcp reject with tcp reset" in out
    assert "10.0.1.20" not in out  # dnsrr: no VIP
    assert nft.render_vip_table("p_vip", [WEB, ONE]) == nft.render_vip_table("p_vip", [ONE, WEB])


def test_ingress_tables() -> None:
    host = nft.render_ingress_host_table("p_ing", "169.254.77.2", [WEB, ONE, DEAD])
    assert "fib daddr type local tcp dport { 2222, 8080, 9090 } dnat to 169.254.77.2" in host
    assert "fib daddr type local udp dport { 5353 } dnat to 169.254.77.2" in host
    assert "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport" in host
    sbox = nft.render_ingress_sbox_table("p_ing", "eth1", "eth0", [WEB, ONE, DEAD])
    assert ('iifname "eth1" tcp dport 8080 dnat to numgen inc mod 2 '
            "map { 0 : 10.0.1.3 . 80, 1 : 10.0.1.10 . 80 }") in sbox
    assert 'iifname "eth1" tcp dport 2222 dnat to 10.0.1.8:22' in sbox
    assert "9090" not in sbox  # no backend: nothing listens, the kernel refuses
    assert 'oifname "eth0" ct status dnat masquerade' in sbox
    assert "ct status dnat accept\n    drop\n" in sbox   # the sbox is not a router


def test_published_port_clash_first_service_wins() -> None:
    other = ServiceEntry("s0", "other", vip="10.0.1.30", backends=("10.0.1.31",),
                         ports=(PortMap("tcp", 81, 8080),))
    assert nft.published_ports([WEB, other])[("tcp", 8080)] == (81, ("10.0.1.31",))


def test_empty_tables() -> None:
    assert "chain output" in nft.render_vip_table("t", [])
    assert "dport" not in nft.render_ingress_host_table("t", "169.254.77.2", [])
    assert nft.delete_table("t") == "table ip t\ndelete table ip t\n"


def test_notrack_table() -> None:
    out = nft.render_notrack_table("p_vx", "192.168.1.10", 4789)
    assert "type filter hook prerouting priority -300;" in out
    assert "ip daddr 192.168.1.10 udp dport 4789 notrack" in out
    assert "ip saddr 192.168.1.10 udp dport 4789 notrack" in out


def test_egress_table() -> None:
    out = nft.render_egress_table("p_eg", "172.18.0.0/16", "pswgw", [("tcp", 8081, "172.18.0.2", 80)])
    assert 'ip saddr 172.18.0.0/16 oifname != "pswgw" masquerade' in out
    assert 'ip saddr 172.18.0.0/16 oifname "pswgw" ct status dnat masquerade' in out
    assert "fib daddr type local tcp dport 8081 dnat to 172.18.0.2:80" in out
    assert "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8081 dnat to 172.18.0.2:80" in out


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                    reason="nft -c needs root and nft")
def test_rendered_rulesets_pass_nft_check() -> None:
    script = (nft.render_vip_table("nt7u_vip", [WEB, ONE, DEAD, RR])
              + nft.render_ingress_host_table("nt7u_h", "169.254.77.2", [WEB, ONE])
              + nft.render_ingress_sbox_table("nt7u_s", "eth1", "eth0", [WEB, ONE])
              + nft.render_notrack_table("nt7u_x", "192.168.1.10", 4789)
              + nft.render_egress_table("nt7u_e", "172.18.0.0/16", "nt7ugw",
                                        [("tcp", 8081, "172.18.0.2", 80), ("udp", 53, "172.18.0.3", 53)]))
    r = subprocess.run(["unshare", "-n", "nft", "-c", "-f", "-"], input=script, text=True,
                       capture_output=True, check=False)
    assert r.returncode == 0, r.stderr


def test_removed_backends() -> None:
    from node.network.conntrack import removed_backends
    assert removed_backends([("a", "b"), ("c",)], [("b",), ("c", "d")]) == {"a"}
    assert removed_backends([], [("a",)]) == set()
