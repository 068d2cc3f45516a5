"""Tasks on an overlay network: Worker + NetSync + RuntimeExecutor over a real NodeNetwork.

Root only. One simulated node: netns ``nt9n`` (dummy link with the data path address
172.31.249.1) runs a real ``NodeNetwork`` (prefix ``nt9``) in the driver process of
test_network_driver.py, reached through :class:`DriverNetwork` (NetSync's NodeNetworkLike).
The runtime, image store and agent run in this process, in the root namespace; containers
join the sandboxes the driver creates. Unreachable routes guard every subnet used here in the
root namespace, and all traffic is sent from inside namespaces.

The assignments are what the manager would send: the ingress network (always), the overlay
``app`` with service ``web`` (VIP 10.249.1.2, task t1 10.249.1.3) and ``client`` (dnsrr,
task t2 10.249.1.4), and this node's NetworkPeer. t2's command probes t1 by IP, by VIP found
through the embedded DNS (the container's /etc/resolv.conf is the sandbox's, bind-mounted),
prints what it got and then serves HTTP itself; t1 is probed from its own sandbox. t1 is also
on the ingress network (listed after app: NetSync attaches ingress first, so it is eth0) with
port 8080 published, reached through the routing mesh from the node namespace. Then the
"daemon" restarts (agent and NodeNetwork; containers and sandboxes stay and are re-adopted),
and finally the manager deletes both tasks: everything but the ingress network goes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry", "nft",
                                                          "ip", "nsenter", "busybox")),
                       reason="umoci/skopeo/docker-registry/nft/ip/nsenter/busybox missing"),
]

network_mod = pytest.importorskip("node.network")

from node.agent.worker import Worker  # noqa: E402
from node.exec.containerspec import container_id  # noqa: E402
from node.exec.runtime import RuntimeExecutor  # noqa: E402
from node.images import ImageStore  # noqa: E402
from node.network import NetworkConfig, ServiceEntry  # noqa: E402
from node.network.errors import NetworkError  # noqa: E402
from node.network.model import Endpoint, sandbox_ns_name  # noqa: E402
from node.network.netsync import NetSync  # noqa: E402
from node.runtime import Runtime  # noqa: E402
from node.runtime import cgroups as cg  # noqa: E402
from swarm.api import dispatcher_pb2 as d  # noqa: E402
from swarm.api.objects_pb2 import NetworkAttachment, Task  # noqa: E402
from swarm.api.specs_pb2 import EndpointSpec  # noqa: E402
from swarm.api.types_pb2 import PortConfig  # noqa: E402
from swarm.api.types_pb2 import TaskState as S  # noqa: E402
from tests.support.registry import registry_fixture  # noqa: E402
from tests.unit.agent.helpers import Recorder, eventually, make_task, run  # noqa: E402
from tests.unit.network.test_netview import backend, complete, net, route  # noqa: E402

registry = registry_fixture()
REPO = Path(__file__).resolve().parents[2]
DRIVER = REPO / "tests/integration/test_network_driver.py"
PREFIX = "nt9"
NODE_NS = "nt9n"
NODE_ADDR = "172.31.249.1"
GUARD_ROUTES = ("172.31.249.0/24", "10.249.0.0/24", "10.249.1.0/24")
PARENT = f"pyswarm-test-execnet-{os.getpid()}"
NODE_ID = "node1"

INGRESS = net("nt9ingress", "ingress", 4390, "10.249.0.0/24", "10.249.0.1", ingress=True)
APP = net("nt9app", "app", 4391, "10.249.1.0/24", "10.249.1.1")
T1_IP, T2_IP, WEB_VIP = "10.249.1.3", "10.249.1.4", "10.249.1.2"
T1_INGRESS_IP, WEB_INGRESS_VIP, PUBLISHED = "10.249.0.10", "10.249.0.5", 8080

PROBE = r"""
get() { printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 "$1" 80 | tail -n 1; }
addr() { nslookup "$1" 2>/dev/null | awk '/^Address: /{a=$2} END{print a}'; }
for i in $(seq 150); do r=$(get 10.249.1.3); [ -n "$r" ] && break; sleep 0.2; done
echo "BYIP $r"
echo "RESOLV $(grep nameserver /etc/resolv.conf)"
vip=$(addr web); echo "DNS web=$vip"
echo "DNS tasks.web=$(addr tasks.web)"
echo "BYNAME $(get "$vip")"
echo "END"
exec /entry.sh
"""


def sh(cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd!r} failed ({r.returncode}): {r.stderr.strip()}")
    return r


class DriverNetwork:
    """A real NodeNetwork in the driver process under ``nsenter --net=nt9n`` (NodeNetworkLike)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        (workdir / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        self.log = open(workdir / "driver.log", "a")  # noqa: SIM115 - lives as long as proc
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{NODE_NS}", sys.executable, str(DRIVER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=REPO)
        self._lock = threading.Lock()
        self.call("init", state_dir=str(workdir / "state"), addr=NODE_ADDR, prefix=PREFIX,
                  resolv_conf=str(workdir / "resolv.conf"), egress=None)

    def call(self, op: str, **args: Any) -> Any:
        with self._lock:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise NetworkError(f"network driver died; see {self.workdir / 'driver.log'}")
        out = json.loads(line)
        if "err" in out:
            raise NetworkError(f"{op}: {out['err']}")
        return out["ok"]

    @staticmethod
    def _entry(e: ServiceEntry) -> dict[str, Any]:
        return {"service_id": e.service_id, "name": e.name, "aliases": list(e.aliases), "vip": e.vip,
                "backends": list(e.backends), "dnsrr": e.dnsrr,
                "ports": [[p.protocol, p.target_port, p.published_port] for p in e.ports]}

    def ensure_network(self, cfg: NetworkConfig) -> None:
        self.call("ensure_network", cfg=dataclasses.asdict(cfg))

    def known_networks(self) -> list[NetworkConfig]:
        return [NetworkConfig(**c) for c in self.call("known_networks")]

    def set_peers(self, network_id: str, peers: Sequence[str],
                  remote_endpoints: Sequence[tuple[str, str]]) -> None:
        self.call("set_peers", network_id=network_id, peers=list(peers),
                  endpoints=[list(e) for e in remote_endpoints])

    def set_services(self, network_id: str, services: Sequence[ServiceEntry]) -> None:
        self.call("set_services", network_id=network_id, services=[self._entry(s) for s in services])

    def set_ingress(self, ingress_ip_cidr: str | None, entries: Sequence[ServiceEntry]) -> None:
        self.call("set_ingress", ip_cidr=ingress_ip_cidr, entries=[self._entry(e) for e in entries])

    def remove_network(self, network_id: str) -> None:
        self.call("remove_network", network_id=network_id)

    def create_sandbox(self, container_id: str, dns: Any = None) -> str:
        spec = [list(dns.nameservers), list(dns.search), list(dns.options)] if dns is not None else None
        return str(self.call("create_sandbox", container_id=container_id, dns=spec))

    def resolv_conf_path(self, container_id: str) -> Path:
        return Path(self.call("resolv_conf_file", container_id=container_id))

    def attach(self, container_id: str, network_id: str, ip_cidr: str) -> None:
        self.call("attach", container_id=container_id, network_id=network_id, ip_cidr=ip_cidr)

    def destroy_sandbox(self, container_id: str) -> None:
        self.call("destroy_sandbox", container_id=container_id)

    def prune_sandboxes(self, keep: Sequence[str]) -> list[str]:
        return list(self.call("prune_sandboxes", keep=list(keep)))

    def sandbox_endpoints(self, container_id: str) -> list[Endpoint]:
        return [Endpoint(**e) for e in self.call("sandbox_endpoints", container_id=container_id)]

    def close(self, cleanup: bool) -> None:
        if self.proc.poll() is None:
            try:
                self.call("close", cleanup=cleanup)
            except NetworkError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _teardown_underlay() -> None:
    for name in sh("ip netns list", check=False).stdout.split():
        if name.startswith(PREFIX):
            sh(f"ip netns del {name}", check=False)
    for r in GUARD_ROUTES:
        sh(f"ip route del unreachable {r}", check=False)


@pytest.fixture
def node_ns() -> Iterator[None]:
    _teardown_underlay()
    for r in GUARD_ROUTES:
        sh(f"ip route replace unreachable {r}")
    sh(f"ip netns add {NODE_NS}")
    sh(f"ip -n {NODE_NS} link add nt9d0 type veth peer name nt9d1 && ip -n {NODE_NS} link set nt9d1 up && "
       f"ip -n {NODE_NS} addr add {NODE_ADDR}/24 dev nt9d0 "
       f"&& ip -n {NODE_NS} link set nt9d0 up && ip -n {NODE_NS} link set lo up")
    try:
        yield
    finally:
        _teardown_underlay()


@pytest.fixture
def workdir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="nt9", dir="/tmp"))     # shim sockets need short paths
    yield root
    rt = Runtime(root / "rt", cgroup_parent=PARENT)
    for c in rt.list():
        rt.remove(c.id, force=True)
    rt.close()
    cg.remove_parent(PARENT)
    shutil.rmtree(root, ignore_errors=True)


def on_app(t: Task, ip: str, ingress_ip: str | None = None) -> Task:
    """Attach ``t`` to app (and, listed AFTER it, ingress: NetSync must put ingress first)."""
    t.networks.append(NetworkAttachment(network=APP, addresses=[f"{ip}/24"]))
    if ingress_ip:
        t.networks.append(NetworkAttachment(network=INGRESS, addresses=[f"{ingress_ip}/24"]))
    return t


def assignments(*tasks: Task) -> d.AssignmentsMessage:
    web = route("svcweb", "web", [backend("t1", NODE_ID, APP.id, f"{T1_IP}/24", NODE_ADDR),
                                  backend("t1", NODE_ID, INGRESS.id, f"{T1_INGRESS_IP}/24", NODE_ADDR)],
                vips=[(APP.id, f"{WEB_VIP}/24"), (INGRESS.id, f"{WEB_INGRESS_VIP}/24")],
                ports=[(PortConfig.TCP, 80, PUBLISHED, PortConfig.INGRESS)])
    client = route("svcclient", "client", [backend("t2", NODE_ID, APP.id, f"{T2_IP}/24", NODE_ADDR)])
    client.endpoint.spec.mode = EndpointSpec.DNSRR
    me = d.NetworkPeer(node_id=NODE_ID, addr=NODE_ADDR, ingress_addr="10.249.0.2/24")
    return complete(INGRESS, APP, web, client, me, *tasks)


class Agent:
    """One daemon's agent side: NetSync + RuntimeExecutor(network=) + Worker (which hands the
    network items to the executor)."""

    def __init__(self, root: Path, images: ImageStore, nn: DriverNetwork) -> None:
        self.rt = Runtime(root / "rt", cgroup_parent=PARENT)
        self.netsync = NetSync(nn, NODE_ID)
        self.x = RuntimeExecutor(self.rt, images, hostname="node-a", poll=0.05, network=self.netsync)
        self.rec = Recorder()
        self.w = Worker(root / "agent", self.x, self.rec)

    async def start(self) -> None:
        await self.w.start()
        await self.x.prune_sandboxes()

    async def stop(self) -> None:
        await self.w.stop()
        await self.netsync.close()
        await self.x.close()
        self.rt.close()


def in_sandbox(cid: str, cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(f"nsenter --net=/run/netns/{sandbox_ns_name(PREFIX, cid)} {cmd}", check)


def http_get(from_cid: str, ip: str) -> str:
    """Last line of an HTTP GET to ``ip``:80 sent from inside ``from_cid``'s sandbox ('' on failure)."""
    cmd = f"busybox sh -c \"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {ip} 80\""
    lines = in_sandbox(from_cid, cmd, check=False).stdout.strip().splitlines()
    return lines[-1] if lines else ""


def node_get(ip: str, port: int) -> str:
    """HTTP GET from the node namespace itself (the routing mesh entry)."""
    cmd = f"busybox sh -c \"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {ip} {port}\""
    lines = sh(f"nsenter --net=/run/netns/{NODE_NS} {cmd}", check=False).stdout.strip().splitlines()
    return lines[-1] if lines else ""


def nt9_netns() -> list[str]:
    return sorted(n for n in sh("ip netns list", check=False).stdout.split() if n.startswith(PREFIX))


async def check_docker_networks(a: Agent, cid: str) -> None:
    """`docker inspect`/`docker ps` of t1 (swarm.daemon.containers over the real executor): each
    network by name with the address and MAC the sandbox's interface really has; no container
    ports (8080 is ingress-published: the routing mesh's)."""
    from swarm.api import daemon_pb2 as dpb
    from swarm.daemon import containers

    daemon = SimpleNamespace(agent=SimpleNamespace(executor=a.x))
    doc = json.loads((await containers.inspect(daemon, dpb.ContainerInspectRequest(id=cid))).container_json)
    ns = doc["NetworkSettings"]
    assert sorted(ns["Networks"]) == ["app", "ingress"], ns
    assert ns["SandboxKey"] == f"/run/netns/{sandbox_ns_name(PREFIX, cid)}"
    for ifname, name, ip in (("eth0", "ingress", T1_INGRESS_IP), ("eth1", "app", T1_IP)):
        ep = ns["Networks"][name]
        real = in_sandbox(cid, f"ip -o addr show {ifname}").stdout
        assert f"{ep['IPAddress']}/{ep['IPPrefixLen']}" in real and ep["IPAddress"] == ip, (ep, real)
        assert ep["MacAddress"] in in_sandbox(cid, f"ip -o link show {ifname}").stdout, ep
        assert ep["NetworkID"] == {"app": APP.id, "ingress": INGRESS.id}[name]
    assert ns["Ports"] == {}
    listed = await containers.list_containers(daemon, dpb.ContainerListRequest(filters=[f"id={cid}"]))
    summary, = (json.loads(x) for x in listed.containers_json)
    assert summary["NetworkSettings"]["Networks"]["app"]["IPAddress"] == T1_IP
    assert summary["Ports"] == []


def test_tasks_on_an_overlay_reach_each_other_by_ip_and_service_name(
        node_ns: None, workdir: Path, registry: Any) -> None:
    images = ImageStore(workdir / "images")
    image = registry.refs["demo/web:1"]
    c1, c2 = container_id("t1"), container_id("t2")

    async def main() -> None:
        nn = DriverNetwork(workdir)
        a = Agent(workdir, images, nn)
        try:
            await a.start()
            t1 = on_app(make_task("t1", image=image, service="web"), T1_IP, T1_INGRESS_IP)
            t2 = on_app(make_task("t2", image=image, service="client",
                                  command=["/bin/sh", "-c", PROBE]), T2_IP)
            await a.w.assign(assignments(t1, t2))
            await eventually(lambda: all(tid in a.w.managers and a.w.managers[tid].status.state == S.RUNNING
                                         for tid in ("t1", "t2")), timeout=60, what="tasks running")

            async def probe_log() -> str:
                return "".join([r.data.decode() async for r in a.x.logs("t2")])

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 45
            out = ""
            while "END" not in out and loop.time() < deadline:
                await asyncio.sleep(0.3)
                out = await probe_log()
            page1 = f"demo/web version 1 on {c1[:12]}"
            assert f"BYIP {page1}" in out, out
            assert "RESOLV nameserver 127.0.0.11" in out, out          # the sandbox's resolv.conf
            assert f"DNS web={WEB_VIP}" in out, out
            assert f"DNS tasks.web={T1_IP}" in out, out
            assert f"BYNAME {page1}" in out, out                       # VIP balanced to t1

            # the other way: from t1's sandbox to t2 by IP and by name (embedded DNS)
            page2 = f"demo/web version 1 on {c2[:12]}"
            await eventually(lambda: http_get(c1, T2_IP) == page2, timeout=10, what="t1 -> t2")
            dns = in_sandbox(c1, "busybox nslookup client 127.0.0.11").stdout
            assert T2_IP in dns, dns
            pid = a.rt.state(c1).pid
            assert "nameserver 127.0.0.11" in Path(f"/proc/{pid}/root/etc/resolv.conf").read_text()
            assert f"{T1_INGRESS_IP}/24" in in_sandbox(c1, "ip -o addr show eth0").stdout  # ingress first
            assert f"{T1_IP}/24" in in_sandbox(c1, "ip -o addr show eth1").stdout
            await check_docker_networks(a, c1)
            # the routing mesh: the published port on the node's address reaches t1
            await eventually(lambda: node_get(NODE_ADDR, PUBLISHED) == page1, timeout=10, what="ingress")

            # daemon restart: agent and NodeNetwork go away, containers and sandboxes stay
            await a.stop()
            nn.close(cleanup=False)
            nn = DriverNetwork(workdir)
            a = Agent(workdir, images, nn)
            await a.start()
            await a.w.assign(assignments(t1, t2))
            await asyncio.sleep(0.5)
            await a.netsync.flush()
            assert a.w.managers["t1"].status.state == S.RUNNING
            assert a.netsync.in_use() == {APP.id, INGRESS.id}
            await eventually(lambda: http_get(c2, WEB_VIP) == page1, timeout=10, what="VIP after restart")
            await eventually(lambda: node_get(NODE_ADDR, PUBLISHED) == page1, timeout=10,
                             what="ingress after restart")
            assert T2_IP in in_sandbox(c1, "busybox nslookup client 127.0.0.11").stdout
            await check_docker_networks(a, c1)                         # NodeNetwork's state reloaded

            # the manager deletes both tasks: containers, sandboxes and the app network go
            await a.w.assign(assignments())
            await a.w.idle()
            await a.netsync.flush()
            assert a.rt.list() == []
            names = nt9_netns()
            assert not any(n.startswith(f"{PREFIX}swc-") for n in names), names
            assert a.netsync.in_use() == set()
            assert len([n for n in names if n.startswith(f"{PREFIX}swn-")]) == 1, names  # ingress only
        finally:
            await a.stop()
            nn.close(cleanup=True)
        assert nt9_netns() == [NODE_NS]
        assert not re.search(r"\bnt9", sh("ip -o link show").stdout)

    run(main(), timeout=240)
