"""Driver process for one simulated node: runs a NodeNetwork in the netns it was started in.

Started as ``nsenter --net=/run/netns/<node> python tests/integration/test_network_driver.py``;
reads one JSON request per line on stdin (``{"op": ..., "args": {...}}``) and answers one JSON
line (``{"ok": result}`` or ``{"err": "Type: message"}``). Used by test_network.py and
bench/mesh_bench.py. Not a test module (no tests inside).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from node.network import NetworkConfig, NodeNetwork, PortMap, ServiceEntry  # noqa: E402
from node.network import dns as dnscodec  # noqa: E402
from node.network.model import DnsOptions  # noqa: E402


def entry(d: dict[str, Any]) -> ServiceEntry:
    return ServiceEntry(service_id=d["service_id"], name=d["name"], aliases=tuple(d.get("aliases", ())),
                        vip=d.get("vip"), backends=tuple(d.get("backends", ())),
                        ports=tuple(PortMap(*p) for p in d.get("ports", ())), dnsrr=d.get("dnsrr", False))


def fake_upstream(ip: str, answer: str) -> None:
    """A DNS server in the node namespace answering every A query with ``answer``."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 53))

    def loop() -> None:
        while True:
            data, peer = s.recvfrom(4096)
            q = dnscodec.parse_question(data)
            s.sendto(dnscodec.build_response(data, q, [answer]), peer)

    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((ip, 53))
    t.listen(8)

    def tcp_loop() -> None:
        while True:
            conn, _ = t.accept()
            with conn:
                n = struct.unpack("!H", conn.recv(2))[0]
                data = conn.recv(n)
                out = dnscodec.build_response(data, dnscodec.parse_question(data), [answer])
                conn.sendall(struct.pack("!H", len(out)) + out)

    threading.Thread(target=loop, daemon=True).start()
    threading.Thread(target=tcp_loop, daemon=True).start()


def time_lifecycle(nn: NodeNetwork, n: int, networks: list[str], bases: list[str]) -> dict[str, Any]:
    """In-process timings (ms): n x (create_sandbox, attach per network, destroy), then
    set_services on the first network with n sandboxes attached."""
    import statistics
    import time

    def ms(t: float) -> float:
        return (time.perf_counter() - t) * 1000

    create, attach, destroy = [], [], []
    for i in range(n):
        cid = f"timing{i}"
        t = time.perf_counter()
        nn.create_sandbox(cid)
        create.append(ms(t))
        t = time.perf_counter()
        for j, nid in enumerate(networks):
            nn.attach(cid, nid, f"{bases[j]}.{100 + i}/24")
        attach.append(ms(t))
    svc = [ServiceEntry("timing", "timing", vip=f"{bases[0]}.99",
                        backends=tuple(f"{bases[0]}.{100 + i}" for i in range(k)))
           for k in (n, n - 1)]
    t = time.perf_counter()
    nn.set_services(networks[0], [svc[0]])     # creates the VIP table in every sandbox
    first = ms(t)
    t = time.perf_counter()
    nn.set_services(networks[0], [svc[1]])     # updates it (one backend less)
    update = ms(t)
    nn.set_services(networks[0], [])
    for i in range(n):
        t = time.perf_counter()
        nn.destroy_sandbox(f"timing{i}")
        destroy.append(ms(t))

    def q(xs: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(xs), 2), "max": round(max(xs), 2)}

    return {"n": n, "create_sandbox_ms": q(create), f"attach_{len(networks)}_networks_ms": q(attach),
            "destroy_sandbox_ms": q(destroy),
            f"set_services_with_{n}_sandboxes_ms": {"first": round(first, 1), "update": round(update, 1)}}


def stress(nn: NodeNetwork, threads: int, rounds: int, network_id: str, base: str) -> int:
    """Worker threads (as the daemon uses them) creating/attaching/destroying sandboxes at once,
    while another thread keeps replacing the services. Returns the number of cycles done."""
    from concurrent.futures import ThreadPoolExecutor

    def worker(w: int) -> int:
        for r in range(rounds):
            cid = f"stress-{w}-{r}"
            nn.create_sandbox(cid)
            nn.attach(cid, network_id, f"{base}.{150 + w}/24")
            nn.destroy_sandbox(cid)
        return rounds

    def churn() -> int:
        for r in range(rounds * 2):
            backends = tuple(f"{base}.{150 + w}" for w in range(threads) if (w + r) % 2)
            nn.set_services(network_id, [ServiceEntry("st", "stress", vip=f"{base}.149", backends=backends)])
        nn.set_services(network_id, [])
        return 0

    with ThreadPoolExecutor(threads + 1) as pool:
        futs = [pool.submit(worker, w) for w in range(threads)] + [pool.submit(churn)]
        return sum(f.result() for f in futs)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    nn: NodeNetwork | None = None
    for line in sys.stdin:
        req = json.loads(line)
        op, a = req["op"], req.get("args", {})
        try:
            if op == "init":
                nn = NodeNetwork(Path(a["state_dir"]), a["addr"], name_prefix=a["prefix"],
                                 resolv_conf=Path(a["resolv_conf"]), egress_subnet=a.get("egress"))
                res: Any = None
            elif op == "fake_upstream":
                fake_upstream(a["ip"], a["answer"])
                res = None
            else:
                assert nn is not None
                if op == "ensure_network":
                    res = nn.ensure_network(NetworkConfig(**a["cfg"]))
                elif op == "known_networks":
                    res = [dataclasses.asdict(c) for c in nn.known_networks()]
                elif op == "set_peers":
                    res = nn.set_peers(a["network_id"], a["peers"], [tuple(x) for x in a["endpoints"]])
                elif op == "set_services":
                    res = nn.set_services(a["network_id"], [entry(e) for e in a["services"]])
                elif op == "set_ingress":
                    res = nn.set_ingress(a["ip_cidr"], [entry(e) for e in a["entries"]])
                elif op == "set_host_ports":
                    res = nn.set_host_ports(a["container_id"], [PortMap(*p) for p in a["ports"]])
                elif op == "stress":
                    res = stress(nn, **a)
                elif op == "time_lifecycle":
                    res = time_lifecycle(nn, **a)
                elif op == "create_sandbox":
                    dns = a.get("dns")
                    res = nn.create_sandbox(a["container_id"],
                                            DnsOptions(*(tuple(x) for x in dns)) if dns else None)
                elif op == "resolv_conf":
                    res = nn.resolv_conf_path(a["container_id"]).read_text()
                elif op == "sandbox_endpoints":
                    res = [dataclasses.asdict(e) for e in nn.sandbox_endpoints(a["container_id"])]
                elif op == "resolv_conf_file":
                    res = str(nn.resolv_conf_path(a["container_id"]))
                elif op == "close":
                    res = nn.close(a.get("cleanup", False))
                    nn = None
                else:
                    res = getattr(nn, op)(**a)
            out = {"ok": res}
        except Exception as e:  # reported to the test, which fails on it
            logging.exception("op %s failed", op)
            out = {"err": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        if op == "close":
            break


def dns_query(name: str, server: str = "127.0.0.11", tcp: bool = False, qtype: int = 1) -> list[str]:
    """Helper for tests: A records for name (raises on timeout); rcode != 0 -> ['rcode=N']."""
    q = dnscodec.build_query(name, qtype)
    if tcp:
        with socket.create_connection((server, 53), 3) as s:
            s.sendall(struct.pack("!H", len(q)) + q)
            n = struct.unpack("!H", s.recv(2))[0]
            data = b""
            while len(data) < n:
                data += s.recv(n - len(data))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(q, (server, 53))
        data = s.recv(4096)
        s.close()
    rcode, ips = dnscodec.parse_answer_ips(data)
    return ips if rcode == 0 else [f"rcode={rcode}"]


# -- the simulated cluster (used by test_network.py and bench/mesh_bench.py) -------------------

REPO = Path(__file__).resolve().parents[2]
UNDERLAY = "172.31.247.0/24"
EGRESS = "172.31.248.0/24"
GUARD_ROUTES = (UNDERLAY, EGRESS, "10.247.0.0/24", "10.247.1.0/24", "169.254.77.0/30")


def sh(cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd!r} failed ({r.returncode}): {r.stderr.strip()}")
    return r


class Node:
    """One simulated host: netns nt7n<x>, eth0 on the root bridge, a driver process."""

    def __init__(self, letter: str, index: int, workdir: Path, egress: str | None = None) -> None:
        self.letter = letter
        self.ns = f"nt7n{letter}"
        self.nspath = f"/run/netns/{self.ns}"
        self.addr = f"172.31.247.{index}"
        self.prefix = f"nt7{letter}"
        self.workdir = workdir / self.ns
        self.workdir.mkdir(parents=True, exist_ok=True)
        sh(f"ip netns add {self.ns}")
        sh(f"ip link add nt7h{letter} type veth peer name eth0 netns {self.ns}")
        sh(f"ip link set nt7h{letter} master nt7br up")
        sh(f"ip -n {self.ns} addr add {self.addr}/24 dev eth0 && ip -n {self.ns} link set eth0 up "
           f"&& ip -n {self.ns} link set lo up")
        # the first upstream is dead (nothing listens): the resolver must fail over to the second
        (self.workdir / "resolv.conf").write_text(
            "search example.test\nnameserver 127.0.0.2\nnameserver 127.0.0.1\n")
        self.log = open(self.workdir / "driver.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["nsenter", f"--net={self.nspath}", sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=REPO)
        self.egress = egress
        self.call("init", state_dir=str(self.workdir / "state"), addr=self.addr, prefix=self.prefix,
                  resolv_conf=str(self.workdir / "resolv.conf"), egress=egress)

    def call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"driver of {self.ns} died; see {self.workdir / 'driver.log'}")
        out = json.loads(line)
        if "err" in out:
            raise RuntimeError(f"{self.ns} {op}: {out['err']}")
        return out["ok"]

    def run(self, cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """A command in this node's namespace (the node itself, not a container)."""
        return sh(f"nsenter --net={self.nspath} {cmd}", check, timeout)

    def stop(self, cleanup: bool = True) -> None:
        if self.proc.poll() is None:
            try:
                self.call("close", cleanup=cleanup)
            except RuntimeError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def destroy(self) -> None:
        sh(f"ip netns del {self.ns}", check=False)


def setup_underlay() -> None:
    for r in GUARD_ROUTES:
        sh(f"ip route replace unreachable {r}")
    sh("ip link add nt7br type bridge && ip link set nt7br up")


def teardown_underlay() -> None:
    sh("ip link del nt7br", check=False)
    for r in GUARD_ROUTES:
        sh(f"ip route del unreachable {r}", check=False)
    for name in sh("ip netns list", check=False).stdout.split():
        if name.startswith("nt7"):
            sh(f"ip netns del {name}", check=False)


def start_server(path: str, tag: str, workdir: Path) -> list[subprocess.Popen[bytes]]:
    """busybox httpd :80 answering ``tag`` and a UDP echo-tag on :5353 inside a sandbox."""
    www = workdir / f"www-{tag}"
    www.mkdir(parents=True, exist_ok=True)
    (www / "index.html").write_text(tag + "\n")
    httpd = subprocess.Popen(["nsenter", f"--net={path}", "busybox", "httpd", "-f", "-p", "80",
                              "-h", str(www)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    udp = subprocess.Popen(["nsenter", f"--net={path}", sys.executable, "-c", UDP_ECHO, tag],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [httpd, udp]


UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 5353))
while True:
    d, p = s.recvfrom(2048); s.sendto(sys.argv[1].encode() + b":" + d, p)
"""


if __name__ == "__main__":
    main()
