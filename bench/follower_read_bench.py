"""What the follower's read barrier costs: `ListClusters` and `ListServices` (20 services) over the
daemon's unix socket, N calls one after another, on the leader (its replica as it is) and on a
follower (an empty Raft entry first, `Store.barrier`), 3 managers on loopback; then 16 callers at
once on the follower (concurrent callers share one barrier entry).

    sudo .venv/bin/python bench/follower_read_bench.py [--n 200] [--out bench/results/follower_reads.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from swarm.api import control_pb2, control_pb2_grpc, specs_pb2  # noqa: E402
from tests.support.daemons import LoopbackCluster  # noqa: E402


def stub(c: LoopbackCluster, i: int) -> control_pb2_grpc.ControlStub:
    return control_pb2_grpc.ControlStub(grpc.insecure_channel(f"unix://{c[i].socket}"))


def timed(fn, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    return {"median_ms": round(statistics.median(ms), 3), "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--out", default=str(REPO / "bench/results/follower_reads.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        c = LoopbackCluster(Path(tmp), 3).start()
        try:
            c.form(managers=3, workers=0)
            want = ["Leader", "Reachable", "Reachable"]
            c.wait(lambda: sorted(str(n["ManagerStatus"]) for n in c.node_ls(0)) == want, 60, "3 managers")
            leader = next(i for i in range(3) if any(n["Self"] and n["ManagerStatus"] == "Leader"
                                                     for n in c.node_ls(i)))
            follower = (leader + 1) % 3
            w = stub(c, leader)
            for k in range(20):
                spec = specs_pb2.ServiceSpec()
                spec.annotations.name = f"s{k}"
                spec.task.container.image = "busybox"
                spec.replicated.replicas = 0
                w.CreateService(control_pb2.CreateServiceRequest(spec=spec))
            out: dict[str, object] = {"n": args.n}
            for role, i in (("leader", leader), ("follower", follower)):
                s = stub(c, i)
                out[f"{role}_list_clusters"] = timed(
                    lambda s=s: s.ListClusters(control_pb2.ListClustersRequest()), args.n)
                out[f"{role}_list_services"] = timed(
                    lambda s=s: s.ListServices(control_pb2.ListServicesRequest()), args.n)
            s = stub(c, follower)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda _: s.ListServices(control_pb2.ListServicesRequest()), range(args.n)))
            out["follower_list_services_16_concurrent_per_s"] = round(args.n / (time.perf_counter() - t0), 1)
        finally:
            c.stop()
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
