"""Service convergence on the testbed with real containers, side by side with Docker Swarm 20.10.

Same method as ../shared/labs/docker-swarm/measure.py: 3 hosts (1 manager + 2 workers), the command
is run with `--detach`, and the clock stops when the manager's API (polled every 50 ms, here over
its unix socket with gRPC) shows the condition. "Running" = desired RUNNING and observed RUNNING.

    sudo .venv/bin/python bench/services_bench.py [--reps N] [--out bench/results/services.json]

The images are pulled on every node first (Docker's lab had them loaded locally). Phases:
create 6, scale 6 -> 30, rolling update of 30 (parallelism 2, delay 1 s) until all new
tasks run and until `completed`, rollback with default settings until all old run and until
`rollback_completed`, rm until no task is left, then a worker's daemon SIGKILLed: node Down and its
tasks Running elsewhere. Docker's figures are the medians the lab measured on this kind of machine
(they are read from the lab's results.json when it is there).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from swarm.api import control_pb2, control_pb2_grpc  # noqa: E402
from swarm.api.objects_pb2 import NodeStatus  # noqa: E402
from swarm.api.types_pb2 import RUNNING, UpdateStatus  # noqa: E402
from tests.support.images import TEST_IMAGES, build_test_images  # noqa: E402
from tests.support.testbed import Testbed  # noqa: E402

DOCKER = REPO.parent / "shared/labs/docker-swarm/out/results.json"
DOCKER_FALLBACK = {"create6": 1.396, "scale30": 4.158, "update_new_running": 45.977,
                   "update_complete": 51.919, "rollback_old_running": 60.518,
                   "rollback_complete": 65.509, "rm30_gone": 3.482,
                   "node_down_in_node_ls": 12.363, "tasks_rescheduled_running": 17.863}
POLL = 0.05
REGISTRY = "10.231.0.1:5000"


def docker_reference() -> dict[str, float]:
    try:
        d = json.loads(DOCKER.read_text())
        ref = dict(d["timing"]["median"])
        ref.update(d["node_failure"]["median"])
        return {k: float(v) for k, v in ref.items()}
    except (OSError, KeyError, ValueError):
        return DOCKER_FALLBACK


class Api:
    def __init__(self, sock: str) -> None:
        self.ch = grpc.insecure_channel(f"unix://{sock}")
        self.c = control_pb2_grpc.ControlStub(self.ch)

    def service(self, name: str):  # type: ignore[no-untyped-def]
        return self.c.GetService(control_pb2.GetServiceRequest(service_id=name), timeout=10).service

    def tasks(self, sid: str):  # type: ignore[no-untyped-def]
        f = control_pb2.ListTasksRequest.Filters(service_ids=[sid])
        return self.c.ListTasks(control_pb2.ListTasksRequest(filters=f), timeout=10).tasks

    def running(self, sid: str, image: str | None = None) -> int:
        return sum(1 for t in self.tasks(sid) if t.desired_state == RUNNING and t.status.state == RUNNING
                   and (image is None or t.spec.container.image == image))

    def nodes(self):  # type: ignore[no-untyped-def]
        return self.c.ListNodes(control_pb2.ListNodesRequest(), timeout=10).nodes


def until(cond, timeout: float = 300.0) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if cond():
                return time.monotonic() - t0
        except grpc.RpcError:
            pass
        time.sleep(POLL)
    raise TimeoutError("condition not reached")


def setup(tb: Testbed, layout: Path, workdir: Path) -> None:
    tb.up(1, 2, form_swarm=True, insecure_registries=[REGISTRY])
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config.yml"
    cfg.write_text("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                   f"    rootdirectory: {workdir / 'data'}\nhttp:\n  addr: {REGISTRY}\n")
    tb.infra("docker-registry", "serve", str(cfg))
    Testbed.wait_for(lambda: tb.exec("infra", "curl", "-sf", f"http://{REGISTRY}/v2/").returncode == 0, 20)
    for name, ref in TEST_IMAGES.items():
        tb.exec("infra", "skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:{ref}",
                f"docker://{REGISTRY}/{name}", check=True, timeout=120)
    # Docker's lab ran with the images already on every node (no registry): pull them first so
    # the clock measures scheduling and starting, not a first download
    for host in ("mgr1", "wkr1", "wkr2"):
        for tag in ("1", "2"):
            tb.cli(host, "image", "pull", "-q", f"{REGISTRY}/demo/web:{tag}", check=True, timeout=120)


def one_run(tb: Testbed) -> dict[str, float]:
    api = Api(str(tb.host("mgr1").socket))
    img1, img2 = f"{REGISTRY}/demo/web:1", f"{REGISTRY}/demo/web:2"
    r: dict[str, float] = {}

    def cli(*args: str) -> float:
        t0 = time.monotonic()
        tb.cli("mgr1", *args, check=True, timeout=120)
        return time.monotonic() - t0

    t0 = time.monotonic()
    tb.cli("mgr1", "service", "create", "--detach", "--name", "bench", "--replicas", "6", img1, check=True)
    r["create6_cli_return"] = time.monotonic() - t0
    sid = api.service("bench").id
    until(lambda: api.running(sid) == 6)
    r["create6"] = time.monotonic() - t0

    t0 = time.monotonic()
    tb.cli("mgr1", "service", "scale", "--detach", "bench=30", check=True)
    until(lambda: api.running(sid) == 30)
    r["scale30"] = time.monotonic() - t0

    t0 = time.monotonic()
    tb.cli("mgr1", "service", "update", "--detach", "--image", img2, "--update-parallelism", "2",
           "--update-delay", "1s", "bench", check=True)
    until(lambda: api.running(sid, img2) == 30)
    r["update_new_running"] = time.monotonic() - t0
    until(lambda: api.service(sid).update_status.state == UpdateStatus.COMPLETED)
    r["update_complete"] = time.monotonic() - t0

    t0 = time.monotonic()
    tb.cli("mgr1", "service", "rollback", "--detach", "bench", check=True)
    until(lambda: api.running(sid, img1) == 30)
    r["rollback_old_running"] = time.monotonic() - t0
    until(lambda: api.service(sid).update_status.state == UpdateStatus.ROLLBACK_COMPLETED)
    r["rollback_complete"] = time.monotonic() - t0

    t0 = time.monotonic()
    tb.cli("mgr1", "service", "rm", "bench", check=True)
    until(lambda: not api.tasks(sid))
    r["rm30_gone"] = time.monotonic() - t0

    # node failure: 6 tasks, kill -9 one worker's daemon (its containers live on)
    tb.cli("mgr1", "service", "create", "--detach", "--name", "nf", "--replicas", "6", img1, check=True)
    nsid = api.service("nf").id
    until(lambda: api.running(nsid) == 6)
    victim = next(n for n in api.nodes() if n.description.hostname == "wkr2")
    t0 = time.monotonic()
    tb.kill("wkr2", signal="KILL")
    until(lambda: next(n for n in api.nodes() if n.id == victim.id).status.state == NodeStatus.DOWN)
    r["node_down_in_node_ls"] = time.monotonic() - t0
    until(lambda: sum(1 for t in api.tasks(nsid) if t.desired_state == RUNNING and t.status.state == RUNNING
                      and t.node_id != victim.id) == 6)
    r["tasks_rescheduled_running"] = time.monotonic() - t0
    t0 = time.monotonic()
    tb.start("wkr2")
    until(lambda: next(n for n in api.nodes() if n.id == victim.id).status.state == NodeStatus.READY)
    r["engine_restart_ready"] = time.monotonic() - t0
    tb.cli("mgr1", "service", "rm", "nf", check=True)
    until(lambda: not api.tasks(nsid))
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "bench/results/services.json"))
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="svcbench-"))
    layout = build_test_images(work / "images")
    runs: list[dict[str, float]] = []
    for i in range(a.reps):
        tb = Testbed()
        try:
            setup(tb, layout, work / f"registry{i}")
            runs.append(one_run(tb))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in runs[-1].items()), flush=True)
        finally:
            tb.down(purge=True, check=False)
    ref = docker_reference()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"\n{'phase':28} {'pyswarm':>9} {'docker':>9} {'ratio':>7}")
    for k, v in med.items():
        d = ref.get(k)
        print(f"{k:28} {v:9.2f} {d if d is not None else float('nan'):9.2f} "
              f"{(v / d if d else float('nan')):7.2f}")
    out = {"runs": runs, "median": med, "docker_20_10_median": ref,
           "host": {"testbed": "1 manager + 2 workers, netns", "cpus": 2}}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
