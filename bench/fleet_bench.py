"""A simulated fleet: 1 or 3 real manager daemons and 100 agents with the fake executor, over
real gRPC and mutual TLS, the agents packed into a few processes.

    sudo .venv/bin/python bench/fleet_bench.py [--managers 1|3] [--agents 100] [--procs 2]
                                               [--replicas 1000] [--scale 5000]

Each simulated node joins with the worker token (CA pinning, CSR, certificate), then runs the
real agent (node.agent.Agent: session, heartbeats, assignments, status batching) and the real
worker (node.agent.Worker: task managers driving the §3.2 state machine) over the fake
executor. The clock runs from `service create --replicas N --detach` until the manager's API shows
N tasks desired and observed RUNNING, then from `service scale` to M. Reference: Docker users
report 1,000 containers on 100 workers (3 managers) in under 2.5 s (moby/swarmkit#2763).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def agents_main(first: int, count: int, manager: str, token: str, workdir: str, ready: mp.Queue) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_agents(first, count, manager, token, Path(workdir), ready))


async def _agents(first: int, count: int, manager: str, token: str, workdir: Path, ready: mp.Queue) -> None:
    from node.agent.agent import Agent
    from node.agent.worker import Worker
    from node.exec.fake import FakeExecutor
    from swarm.api.objects_pb2 import NodeDescription
    from swarm.api.types_pb2 import Platform, Resources
    from swarm.rpc.join import request_node_certificate
    from swarm.rpc.tls import manager_channel

    running = []
    for i in range(first, first + count):
        name = f"sim{i:03d}"
        tls, _resp = await request_node_certificate(manager, token, hostname=name,
                                                    advertise_addr=f"127.0.0.1:{20000 + i}")
        ex = FakeExecutor(hostname=name)
        desc = NodeDescription(hostname=name, platform=Platform(os="linux", architecture="amd64"),
                               resources=Resources(nano_cpus=4_000_000_000, memory_bytes=8 << 30),
                               engine_version="pyswarm-sim")
        holder: dict[str, Agent] = {}
        worker = Worker(workdir / name, ex, lambda tid, st, h=holder: h["a"].report(tid, st))
        agent = Agent(channel_for=lambda addr, t=tls: manager_channel(addr, t, call_timeout=10.0),
                      managers=[manager], describe=lambda d=desc: d,
                      advertise_addr=f"127.0.0.1:{20000 + i}", worker=worker)
        holder["a"] = agent
        await worker.start()
        agent.start()
        running.append(agent)
    for a in running:
        await a.connected.wait()
    ready.put(count)
    await asyncio.Event().wait()


def main() -> None:
    from tests.support.daemons import LoopbackCluster

    ap = argparse.ArgumentParser()
    ap.add_argument("--managers", type=int, default=1)
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--scale", type=int, default=5000)
    ap.add_argument("--out", default=str(REPO / "bench/results/fleet.json"))
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-"))
    c = LoopbackCluster(work, a.managers)
    for d in c.daemons:
        d.extra_args = ["--executor", "fake", "--log-level", "warning"]
    c.start()
    procs: list[mp.Process] = []
    result: dict[str, object] = {"managers": a.managers, "agents": a.agents}
    try:
        c.form(managers=a.managers, workers=0)
        m = c[0]
        # managers take no tasks: only the simulated agents do (as in the reported setup)
        for n in c.node_ls(0):
            m.ok("node", "update", "--availability", "drain", str(n["ID"]))
        token = c.token("worker")
        ctx = mp.get_context("spawn")
        ready: mp.Queue = ctx.Queue()
        per = -(-a.agents // a.procs)
        t0 = time.monotonic()
        for p in range(a.procs):
            n = min(per, a.agents - p * per)
            if n <= 0:
                break
            proc = ctx.Process(target=agents_main, daemon=True,
                               args=(p * per, n, c.addr(0), token, str(work / f"p{p}"), ready))
            proc.start()
            procs.append(proc)
        joined = sum(ready.get(timeout=600) for _ in procs)
        result["join_all_s"] = time.monotonic() - t0
        print(f"{joined} agents joined and connected in {result['join_all_s']:.1f}s", flush=True)
        c.wait(lambda: sum(1 for n in c.node_ls(0) if n["Status"] == "Ready") == a.agents + a.managers,
               120, "all agents Ready")

        import grpc

        from swarm.api import control_pb2, control_pb2_grpc
        from swarm.api.types_pb2 import RUNNING

        stub = control_pb2_grpc.ControlStub(grpc.insecure_channel(m.host))

        def running(sid: str) -> int:
            f = control_pb2.ListTasksRequest.Filters(service_ids=[sid])
            ts = stub.ListTasks(control_pb2.ListTasksRequest(filters=f), timeout=60).tasks
            return sum(1 for t in ts if t.desired_state == RUNNING and t.status.state == RUNNING)

        def until(n: int, sid: str, timeout: float = 600) -> float:
            t0 = time.monotonic()
            while time.monotonic() - t0 < timeout:
                if running(sid) >= n:
                    return time.monotonic() - t0
                time.sleep(0.05)
            raise TimeoutError(f"{n} running not reached")

        t0 = time.monotonic()
        sid = m.ok("service", "create", "--detach", "--name", "fleet", "--replicas", str(a.replicas),
                   "busybox").strip()
        until(a.replicas, sid)
        result[f"create_{a.replicas}_s"] = time.monotonic() - t0
        print(f"create {a.replicas}: {result[f'create_{a.replicas}_s']:.2f}s", flush=True)
        t0 = time.monotonic()
        m.ok("service", "scale", "--detach", f"fleet={a.scale}")
        until(a.scale, sid)
        result[f"scale_to_{a.scale}_s"] = time.monotonic() - t0
        print(f"scale to {a.scale}: {result[f'scale_to_{a.scale}_s']:.2f}s", flush=True)
    finally:
        for p in procs:
            p.kill()
        c.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    out = Path(a.out)
    prev = json.loads(out.read_text()) if out.exists() else {}
    prev[f"{a.managers}_managers"] = result
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(prev, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
