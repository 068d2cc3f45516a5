"""Control-plane failover: kill -9 the leader's swarmd (3 managers on loopback) and time until a
surviving manager accepts a control write (`node update --label-add`), polled every 50 ms over
its unix socket. Docker Swarm 20.10 on the lab's testbed took 12.5 s (median) to serve again.

    sudo .venv/bin/python bench/failover_bench.py [--trials 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from swarm.api import control_pb2, control_pb2_grpc  # noqa: E402
from tests.support.daemons import LoopbackCluster  # noqa: E402

DOCKER_MEDIAN_S = 12.54


def write_ok(host: str, node_id: str, n: int) -> bool:
    try:
        with grpc.insecure_channel(host) as ch:
            stub = control_pb2_grpc.ControlStub(ch)
            node = stub.GetNode(control_pb2.GetNodeRequest(node_id=node_id), timeout=2).node
            node.spec.annotations.labels["probe"] = str(n)
            stub.UpdateNode(control_pb2.UpdateNodeRequest(node_id=node.id, node_version=node.meta.version,
                                                          spec=node.spec), timeout=2)
        return True
    except grpc.RpcError:
        return False


def trial(work: Path) -> float:
    c = LoopbackCluster(work, 3).start()
    try:
        c.form(managers=3, workers=0)
        want = ["Leader", "Reachable", "Reachable"]
        c.wait(lambda: sorted(n["ManagerStatus"] for n in c.node_ls(0)) == want, 60, "three managers")
        time.sleep(2)
        nodes = c.node_ls(0)
        leader = next(n for n in nodes if n["ManagerStatus"] == "Leader")
        leader_i = next(i for i, d in enumerate(c.daemons) if d.ok("info", "--format", "json")
                        and json.loads(d.ok("info", "--format", "json"))["Swarm"]["NodeID"] == leader["ID"])
        survivor = c.daemons[(leader_i + 1) % 3]
        target = next(n["ID"] for n in nodes if n["ID"] != leader["ID"])
        t0 = time.monotonic()
        c.daemons[leader_i].kill()
        n = 0
        while time.monotonic() - t0 < 60:
            n += 1
            if write_ok(survivor.host, target, n):
                return time.monotonic() - t0
            time.sleep(0.05)
        raise TimeoutError("no write accepted within 60 s")
    finally:
        c.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "bench/results/failover.json"))
    a = ap.parse_args()
    results = []
    for i in range(a.trials):
        with tempfile.TemporaryDirectory(prefix="failover-") as d:
            s = trial(Path(d))
        results.append(s)
        print(f"trial {i + 1}: {s:.2f}s", flush=True)
    summary = {"trials_s": results, "median_s": statistics.median(results), "max_s": max(results),
               "docker_20_10_median_s": DOCKER_MEDIAN_S}
    Path(a.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
