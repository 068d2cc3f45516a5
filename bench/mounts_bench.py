#!/usr/bin/env python3
"""The cost of a secret, a config and a volume at container start (issue 13).

    sudo .venv/bin/python bench/mounts_bench.py [N]        (N = 40 by default)

Each sample is ``Runtime.create`` + ``start`` + ``wait`` of ``/bin/true`` on the same busybox
rootfs, with ``remove`` timed separately, in interleaved rounds (order shuffled each round,
seeded, one warm-up each) of three variants:

* ``plain``: no mounts;
* ``secret+config+volume``: one secret file (``/run/secrets/s``), one config file
  (``/app.conf``), both on the container's tmpfs and bound read-only, and a named volume at
  ``/data`` that already exists (the steady state of a service's tasks);
* ``secret+config+new volume``: the same, the volume created on first use by this container
  (a service's first task on a node) and removed with it afterwards.

The reference is the plain start on the same runtime in the same round (``with / plain`` per
round is the robust figure on this shared, noisy host). Writes ``bench/results/mounts.json``.
Not a test: timings are never asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.images.model import ImageConfig  # noqa: E402
from node.runtime import ContainerConfig, Runtime  # noqa: E402
from node.runtime import cgroups as cg  # noqa: E402
from node.runtime.mounts import File, Mount, VolumeOptions  # noqa: E402
from node.volumes import VolumeStore  # noqa: E402
from tests.support.images import build_bundle_rootfs  # noqa: E402

PARENT = f"pyswarm-mbench-{os.getpid()}"
SECRET = os.urandom(32).hex().encode()
CONFIG = b"listen 8080\nworkers 4\n" * 20


def runner(rt: Runtime, vols: VolumeStore, rootfs: Path, kind: str) -> Callable[[str], tuple[float, float]]:
    image = ([rootfs], ImageConfig())

    def run(i: str) -> tuple[float, float]:
        cid = f"mb-{kind.replace('+', '-').replace(' ', '-')}-{i}"
        mounts: list[Mount] = []
        files: list[File] = []
        if kind != "plain":
            vol = "bench-data" if kind == "secret+config+volume" else f"bench-new-{i}"
            files = [File(target="/run/secrets/s", data=SECRET, mode=0o400),
                     File(target="/app.conf", data=CONFIG)]
            mounts = [Mount(target="/data", source=vol, type="volume", volume=VolumeOptions())]
        t0 = time.perf_counter()
        rt.create(ContainerConfig(id=cid, image=image, command=["/bin/true"], mounts=mounts, files=files))
        rt.start(cid)
        rc = rt.wait(cid, timeout=30)
        t1 = time.perf_counter()
        rt.remove(cid)
        if kind == "secret+config+new volume":
            vols.remove(f"bench-new-{i}")
        t2 = time.perf_counter()
        if rc != 0:
            raise RuntimeError(f"{kind}: exit {rc}")
        return (t1 - t0) * 1000, (t2 - t1) * 1000
    return run


def summary(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    return {"median": round(statistics.median(s), 2), "p90": round(s[round(0.9 * (len(s) - 1))], 2),
            "min": round(s[0], 2), "max": round(s[-1], 2), "n": len(s)}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    tmp = Path(tempfile.mkdtemp(prefix="mounts-bench-"))
    kinds = ["plain", "secret+config+volume", "secret+config+new volume"]
    start: dict[str, list[float]] = {k: [] for k in kinds}
    remove: dict[str, list[float]] = {k: [] for k in kinds}
    try:
        rootfs = build_bundle_rootfs(tmp)
        vols = VolumeStore(tmp / "volumes")
        vols.create("bench-data")
        rt = Runtime(tmp / "rt", cgroup_parent=PARENT, volumes=vols)
        try:
            fns = {k: runner(rt, vols, rootfs, k) for k in kinds}
            for fn in fns.values():
                fn("warm")
            rng = random.Random(13)
            order = list(fns.items())
            for i in range(n):
                rng.shuffle(order)
                for k, fn in order:
                    s, r = fn(str(i))
                    start[k].append(s)
                    remove[k].append(r)
        finally:
            for c in rt.list():
                with contextlib.suppress(Exception):
                    rt.remove(c.id, force=True)
            rt.close()
            cg.remove_parent(PARENT)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = {k: summary([a / b for a, b in zip(start[k], start["plain"], strict=True)])
             for k in kinds if k != "plain"}
    out = {"n": n, "host": {"kernel": platform.release(), "cpus": os.cpu_count(), "cgroups": cg.mode(),
                            "python": platform.python_version()},
           "start_ms": {k: summary(v) for k, v in start.items()},
           "remove_ms": {k: summary(v) for k, v in remove.items()},
           "with_over_plain_per_round": ratio, "loadavg_after": os.getloadavg(),
           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    dest = Path(__file__).resolve().parent / "results" / "mounts.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"container start (create+start+wait of /bin/true), N={n} interleaved (ms)")
    print(f"{'variant':28s} {'median':>8s} {'p90':>8s} {'min':>8s}   remove median")
    for k in kinds:
        s, r = out["start_ms"][k], out["remove_ms"][k]
        print(f"{k:28s} {s['median']:8.1f} {s['p90']:8.1f} {s['min']:8.1f}   {r['median']:8.1f}")
    for k, r in ratio.items():
        print(f"{k + ' / plain':40s} per-round median {r['median']:.2f} (p90 {r['p90']:.2f})")
    print(f"written to {dest}")


if __name__ == "__main__":
    main()
