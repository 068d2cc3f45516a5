"""Issue 7, control plane, on loopback daemons (fake executor): networks, subnets, VNIs, VIPs,
task addresses, ingress endpoints, published-port conflicts; no address handed out twice."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.support.daemons import LoopbackCluster

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def swarm3(tmp_path):
    c = LoopbackCluster(tmp_path, 3).start()
    c.form(managers=1, workers=2)
    c.wait(lambda: len([n for n in c.node_ls(0) if n["Status"] == "Ready"]) == 3, 60, "3 ready nodes")
    yield c
    c.stop()


def inspect(d, kind: str, ref: str) -> dict:
    return json.loads(d.ok(kind, "inspect", ref))[0]


def test_networks_and_allocation(swarm3):
    c = swarm3
    m = c[0]
    out = m.ok("network", "ls", "--format", "json")
    nets = {json.loads(x)["Name"]: json.loads(x) for x in out.splitlines()}
    assert set(nets) == {"ingress"}
    ing = inspect(m, "network", "ingress")
    assert ing["IPAM"]["Config"] == [{"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}]
    assert ing["Options"]["com.docker.network.driver.overlay.vxlanid_list"] == "4096"
    nid = m.ok("network", "create", "-d", "overlay", "appnet").strip()
    app = inspect(m, "network", nid)
    assert app["IPAM"]["Config"][0]["Subnet"] == "10.0.1.0/24"
    assert app["Options"]["com.docker.network.driver.overlay.vxlanid_list"] == "4097"
    m.ok("network", "create", "--subnet", "10.9.8.0/24", "fixed")
    r = m.cli("network", "create", "--subnet", "10.9.8.128/25", "clash")
    assert r.returncode == 1 and "overlaps" in r.stderr
    r = m.cli("network", "create", "appnet")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = m.cli("network", "create", "-d", "bridge", "br")
    assert r.returncode == 1 and "not supported" in r.stderr

    # every node has an ingress endpoint, all distinct, inside the ingress subnet
    def ingress_ips():
        out = []
        for n in c.node_ls(0):
            att = inspect(m, "node", n["ID"]).get("Attachments", [])
            out += [a["Addresses"][0] for a in att]
        return out if len(out) == 3 else None

    ips = c.wait(ingress_ips, 30, "ingress endpoints on every node")
    assert len(set(ips)) == 3
    assert all(ipaddress.ip_interface(x) in ipaddress.ip_network("10.0.0.0/24") for x in ips)

    m.ok("service", "create", "-d", "--name", "web", "--replicas", "4", "--network", "appnet",
         "-p", "8080:80", "img:1")

    addrs = c.wait(lambda: (a := _addresses(m, "web")) and len(a) == 8 and a, 30, "4 tasks on 2 networks")
    svc = inspect(m, "service", "web")
    vips = {v["NetworkID"]: v["Addr"] for v in svc["Endpoint"]["VirtualIPs"]}
    assert set(vips) == {ing["ID"], nid}
    assert svc["Endpoint"]["Ports"][0]["PublishedPort"] == 8080
    assert "*:8080->80/tcp" in m.ok("service", "ls")
    # task addresses: one per network, distinct from each other, the VIPs and node endpoints
    hosts = [x.split("/")[0] for x in addrs + list(vips.values()) + ips]
    assert len(hosts) == len(set(hosts)) == 8 + 2 + 3, hosts
    r = m.cli("service", "create", "-d", "--name", "other", "-p", "8080:80", "img:1")
    assert r.returncode == 1 and "port '8080' is already in use by service 'web'" in r.stderr
    r = m.cli("service", "create", "-d", "--name", "nonet", "--network", "nope", "img:1")
    assert r.returncode == 1 and "network nope not found" in r.stderr
    r = m.cli("network", "rm", "appnet")
    assert r.returncode == 1 and "is in use by service web" in r.stderr
    m.ok("service", "rm", "web")
    assert m.ok("network", "rm", "appnet").strip() == "appnet"


def test_addresses_are_unique_across_a_leader_change(tmp_path):
    c = LoopbackCluster(tmp_path, 3).start()
    try:
        c.form(managers=3, workers=0)
        want = ["Leader", "Reachable", "Reachable"]
        c.wait(lambda: sorted(n["ManagerStatus"] for n in c.node_ls(0)) == want, 60, "three managers")
        m = c[0]
        m.ok("network", "create", "net1")
        m.ok("service", "create", "-d", "--name", "a", "--replicas", "5", "--network", "net1", "img:1")
        c.wait(lambda: _addresses(c[0], "a") and len(_addresses(c[0], "a")) == 5, 30, "5 addressed")
        m.kill()
        f = c[1]
        # a follower answers reads from its replica until it notices the cut: wait for the store
        # to say a new leader took over (the old one Unreachable), not merely for a read to work
        def new_leader() -> bool:
            try:
                st = [n["ManagerStatus"] for n in c.node_ls(1)]
            except Exception:
                return False
            return "Leader" in st and "Unreachable" in st

        c.wait(new_leader, 60, "new leader")
        f.ok("service", "create", "-d", "--name", "b", "--replicas", "5", "--network", "net1", "img:1")
        c.wait(lambda: len(_addresses(f, "b")) == 5, 60, "5 more addressed")
        all_ips = _addresses(f, "a") + _addresses(f, "b")
        vips = [v["Addr"] for s in ("a", "b") for v in inspect(f, "service", s)["Endpoint"]["VirtualIPs"]]
        everything = [x.split("/")[0] for x in all_ips + vips]
        assert len(everything) == len(set(everything)) == 12, everything
    finally:
        c.stop()


def _addresses(d, svc: str) -> list[str]:
    """Task addresses on non-ingress networks, via the task inspect JSON of each task."""
    out = d.ok("service", "ps", svc, "--no-trunc", "-q").split()
    addrs = []
    for tid in out:
        import grpc

        from swarm.api import control_pb2, control_pb2_grpc  # read the task through the API

        with grpc.insecure_channel(d.host) as ch:
            t = control_pb2_grpc.ControlStub(ch).GetTask(control_pb2.GetTaskRequest(task_id=tid)).task
        addrs += [a for n in t.networks for a in n.addresses]
    return addrs


def test_data_path_port_reaches_every_node(tmp_path):
    c = LoopbackCluster(tmp_path, 2).start()
    try:
        c.init("--data-path-port", "4790")
        c.join(1, "worker")
        for d in c.daemons:
            st = json.loads((d.data_root / "state.json").read_text())
            assert st["data_path_port"] == 4790
        r = c[1].cli("leave")
        assert r.returncode == 0
        r = c[1].cli("init", "--advertise-addr", c.addr(1), "--data-path-port", "80")
        assert r.returncode == 1 and "out of range (1024-49151)" in r.stderr
    finally:
        c.stop()
