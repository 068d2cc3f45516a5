"""The Engine API edge's cost (issue 17, Measure): what the HTTP layer adds to a call, and how many
`GET /services` it answers with 100 in flight.

One real swarmd (fake executor: no containers, so only the API path is timed) on loopback:

- ``create``: `POST /services/create` over the Engine API socket vs `CreateService` over the
  daemon's own gRPC socket (the `swarm` CLI's call), alternating, N each; and the two CLIs end to
  end (`docker service create -d` vs `swarm service create -d`, process start included).
- ``list``: 100 concurrent `GET /services` (10 services) for a few seconds: requests per second.

    sudo .venv/bin/python bench/engineapi_bench.py [--n 40] [--out bench/results/engineapi.json]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402

from swarm.api import control_pb2, control_pb2_grpc, specs_pb2  # noqa: E402
from tests.support.daemons import SWARM, Swarmd, free_port  # noqa: E402


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.unix_path)
        self.sock = s


def ms(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "p50_ms": round(statistics.median(xs) * 1000, 2),
        "p90_ms": round(xs[int(len(xs) * 0.9)] * 1000, 2),
        "n": len(xs),
    }


def create_round_trips(api: str, ctl: str, n: int) -> dict[str, Any]:
    conn = UnixHTTP(api)
    stub = control_pb2_grpc.ControlStub(grpc.insecure_channel(f"unix://{ctl}"))
    http_t, grpc_t = [], []
    for i in range(n):
        body = json.dumps(
            {
                "Name": f"h{i}",
                "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
                "Mode": {"Replicated": {"Replicas": 1}},
            }
        ).encode()
        t0 = time.perf_counter()
        conn.request(
            "POST", "/v1.51/services/create", body=body, headers={"Content-Type": "application/json"}
        )
        r = conn.getresponse()
        r.read()
        http_t.append(time.perf_counter() - t0)
        assert r.status == 201, r.status
        spec = specs_pb2.ServiceSpec()
        spec.annotations.name = f"g{i}"
        spec.task.container.image = "busybox"
        spec.replicated.replicas = 1
        t0 = time.perf_counter()
        stub.CreateService(control_pb2.CreateServiceRequest(spec=spec), timeout=30)
        grpc_t.append(time.perf_counter() - t0)
    conn.close()
    return {
        "engine_api_http": ms(http_t),
        "control_grpc": ms(grpc_t),
        "added_p50_ms": round((statistics.median(http_t) - statistics.median(grpc_t)) * 1000, 2),
    }


def cli_round_trips(api: str, ctl: str, n: int) -> dict[str, Any]:
    env_d = dict(os.environ, DOCKER_HOST=f"unix://{api}")
    env_s = dict(os.environ, SWARM_HOST=f"unix://{ctl}")
    d_t, s_t = [], []
    for i in range(n):
        t0 = time.perf_counter()
        subprocess.run(
            ["docker", "service", "create", "-d", "--no-resolve-image", "--name", f"dc{i}", "busybox"],
            env=env_d,
            check=True,
            capture_output=True,
        )
        d_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run(
            [SWARM, "service", "create", "-d", "--name", f"sc{i}", "busybox"],
            env=env_s,
            check=True,
            capture_output=True,
        )
        s_t.append(time.perf_counter() - t0)
    return {"docker_cli": ms(d_t), "swarm_cli": ms(s_t)}


async def list_rate(api: str, concurrency: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    done = 0
    stop = time.perf_counter() + seconds
    conn = aiohttp.UnixConnector(path=api, limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                async with session.get("http://localhost/v1.51/services") as r:
                    await r.read()
                    assert r.status == 200
                done += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {
        "concurrency": concurrency,
        "requests": done,
        "seconds": round(elapsed, 2),
        "per_second": round(done / elapsed, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--cli-n", type=int, default=10)
    ap.add_argument("--out", default=str(REPO / "bench/results/engineapi.json"))
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="eabench-"))
    d = Swarmd(root, extra_args=["--executor", "fake", "--log-level", "warning"]).start()
    try:
        api = str(d.socket.parent / "docker.sock")
        deadline = time.monotonic() + 15
        while not Path(api).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        d.ok("init", "--advertise-addr", f"127.0.0.1:{free_port()}")
        result: dict[str, Any] = {"create": create_round_trips(api, str(d.socket), args.n)}
        if shutil.which("docker"):
            result["create_cli"] = cli_round_trips(api, str(d.socket), args.cli_n)
        # 10 services to list
        extra = d.ok("service", "ls", "-q").split()[10:]
        if extra:
            d.ok("service", "rm", *extra)
        result["list"] = asyncio.run(list_rate(api, 100, 5.0))
        result["host"] = {"cpus": os.cpu_count(), "load1": round(os.getloadavg()[0], 2)}
        print(json.dumps(result, indent=2))
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
