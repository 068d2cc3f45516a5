"""State file round trip (what a restarted daemon adopts)."""

from __future__ import annotations

from pathlib import Path

from node.network import NetworkConfig, PortMap, ServiceEntry
from node.network import state as st


def test_roundtrip(tmp_path: Path) -> None:
    s = st.Saved()
    s.networks["n1"] = NetworkConfig("n1", "app", 4097, "10.0.1.0/24", "10.0.1.1", ingress=False)
    s.sandboxes["c1"] = st.Sandbox("c1", "pswc-x", "/run/netns/pswc-x",
                                   [st.Attachment("n1", "eth0", "10.0.1.5/24")])
    e = ServiceEntry("s1", "web", ("www",), "10.0.1.2", ("10.0.1.3",), (PortMap("tcp", 80, 8080),))
    s.services["n1"] = (e,)
    s.ingress_ip, s.ingress_entries = "10.0.0.2/24", (e,)
    s.egress_ips["c1"] = "172.18.0.2"
    s.host_ports["c1"] = (PortMap("udp", 53, 5353),)
    st.save(tmp_path / "network.json", s)
    back = st.load(tmp_path / "network.json")
    assert back == s
    assert st.load(tmp_path / "missing.json") == st.Saved()
