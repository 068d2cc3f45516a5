#!/usr/bin/env python3
"""Container start latency: our runtime vs ``runc run`` vs ``crun run`` (same rootfs).

    sudo .venv/bin/python bench/runtime_start.py [N]        (N >= 40 by default)

Each sample is "request -> /bin/true has exited", interleaved after one warm-up per variant;
the order is shuffled every round (seeded), because a cgroup migration is much cheaper right
after another one (REPORT §2) and a fixed order would hand that to whoever follows runc:

* ``ours``: ``Runtime.create`` + ``start`` + ``wait`` (zygote-forked shim, new pid/mount/uts/
  ipc/net/cgroup namespaces, overlayfs, /dev, masked paths, Docker caps, NNP, seccomp,
  cgroups memory 64 MiB + pids 100 + cpu 0.5). ``remove`` is timed separately.
* ``runc``/``crun``: ``<tool> run -b BUNDLE`` on ``runc spec``'s default with the same
  limits and Docker's 14 caps; the rootfs is a plain directory (no overlay mount), cleanup is
  part of ``run``.

Besides each variant's own distribution it reports ``ours / reference`` per round (the two ran
back to back in that round, so a noisy phase of the shared host hits both) -- the robust
comparison on this machine, where whole runs drift by 30 % from one minute to the next.

Also measures the USS (private memory) of one shim supervising a running container. Writes
``bench/results/runtime.json``, appends a summary line to ``runtime_runs.jsonl`` (with the
load average: the lab host is shared and noisy) and prints a table. Not a test: timings
are never asserted. crun 1.8 needs hugetlb off cgroup2 on hybrid hosts; this script binds
it to v1 for the run if needed and undoes it afterwards (only if no foreign cgroups appeared
in it).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.images.model import ImageConfig  # noqa: E402
from node.runtime import ContainerConfig, Limits, Runtime  # noqa: E402
from node.runtime import cgroups as cg  # noqa: E402
from node.runtime.linux import DOCKER_DEFAULT_CAPS  # noqa: E402
from tests.support.images import build_bundle_rootfs  # noqa: E402

PARENT = f"pyswarm-bench-{os.getpid()}"
MEM, PIDS, NANO = 64 << 20, 100, 500_000_000


def smaps(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0])
    return out


def uss_kib(pid: int) -> int:
    s = smaps(pid)
    return s.get("Private_Clean", 0) + s.get("Private_Dirty", 0)


@contextlib.contextmanager
def crun_fix() -> Iterator[str | None]:
    ctl, hug = Path("/sys/fs/cgroup/unified/cgroup.controllers"), Path("/sys/fs/cgroup/hugetlb")
    if not (ctl.exists() and ctl.read_text().split()) or os.path.ismount(hug):
        yield None
        return
    if ctl.read_text().split() != ["hugetlb"]:
        yield f"cgroup2 owns {ctl.read_text().split()}"
        return
    hug.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", str(hug)]).returncode:
        yield "cannot bind hugetlb to v1"
        return
    try:
        yield None
    finally:
        from tests.integration.test_runtime_conformance import _unmount_hugetlb

        _unmount_hugetlb(hug, ctl)


def oci_bundle(tmp: Path, rootfs: Path) -> Path:
    b = tmp / "bundle"
    b.mkdir()
    subprocess.run(["runc", "spec"], cwd=b, check=True)
    c = json.loads((b / "config.json").read_text())
    caps = [f"CAP_{n}" for n in DOCKER_DEFAULT_CAPS]
    c["process"].update(args=["/bin/true"], terminal=False,
                        capabilities={"bounding": caps, "effective": caps, "permitted": caps})
    c["root"] = {"path": str(rootfs), "readonly": True}
    c["linux"]["resources"].update(memory={"limit": MEM}, pids={"limit": PIDS},
                                   cpu={"quota": NANO // 10_000, "period": 100_000})
    (b / "config.json").write_text(json.dumps(c))
    return b


def oci_runner(tool: str, bundle: Path, state: Path) -> Callable[[str], tuple[float, float]]:
    def run(i: str) -> tuple[float, float]:
        cid = f"rt4b-{tool}-{i}"
        c = json.loads((bundle / "config.json").read_text())
        c["linux"]["cgroupsPath"] = f"/{PARENT}/{cid}"
        (bundle / "config.json").write_text(json.dumps(c))
        t0 = time.perf_counter()
        rc = subprocess.call([tool, "--root", str(state), "run", "-b", str(bundle), cid],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dt = (time.perf_counter() - t0) * 1000
        if rc != 0:
            raise RuntimeError(f"{tool} run failed rc={rc}")
        return dt, 0.0
    return run


def ours_runner(rt: Runtime, rootfs: Path) -> Callable[[str], tuple[float, float]]:
    image = ([rootfs], ImageConfig())

    def run(i: str) -> tuple[float, float]:
        cid = f"rt4b-ours-{i}"
        t0 = time.perf_counter()
        rt.create(ContainerConfig(id=cid, image=image, command=["/bin/true"],
                                  limits=Limits(memory_bytes=MEM, pids=PIDS, nano_cpus=NANO)))
        rt.start(cid)
        rc = rt.wait(cid, timeout=30)
        t1 = time.perf_counter()
        rt.remove(cid)
        t2 = time.perf_counter()
        if rc != 0:
            raise RuntimeError(f"ours: exit {rc}")
        return (t1 - t0) * 1000, (t2 - t1) * 1000
    return run


def summary(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    return {"median": round(statistics.median(s), 2), "p90": round(s[round(0.9 * (len(s) - 1))], 2),
            "min": round(s[0], 2), "max": round(s[-1], 2), "n": len(s)}


def shim_memory(rt: Runtime, rootfs: Path) -> dict[str, int]:
    cid = "rt4b-uss"
    rt.create(ContainerConfig(id=cid, image=([rootfs], ImageConfig()), command=["/bin/sleep", "30"]))
    rt.start(cid)
    time.sleep(0.3)
    try:
        st = rt.state(cid)
        assert st.shim_pid
        s = smaps(st.shim_pid)
        zyg = rt._zygote.proc.pid if rt._zygote.proc else None
        return {"shim_uss_kib": uss_kib(st.shim_pid), "shim_pss_kib": s.get("Pss", 0),
                "shim_rss_kib": s.get("Rss", 0), "zygote_rss_kib": smaps(zyg)["Rss"] if zyg else -1}
    finally:
        rt.remove(cid, force=True)


def cleanup(rt: Runtime, tmp: Path) -> None:
    for c in rt.list():
        with contextlib.suppress(Exception):
            rt.remove(c.id, force=True)
    rt.close()
    for d in (tmp / "runc-state", tmp / "crun-state"):
        shutil.rmtree(d, ignore_errors=True)
    cg.remove_parent(PARENT)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if " - cgroup" in line:
            with contextlib.suppress(OSError):
                (Path(line.split()[4]) / PARENT).rmdir()


def measure(rt: Runtime, rootfs: Path, tmp: Path, n: int, crun_problem: str | None) -> tuple[
        dict[str, list[float]], list[float], dict[str, int]]:
    bundle = oci_bundle(tmp, rootfs)
    variants = {"ours (create+start+wait)": ours_runner(rt, rootfs)}
    if shutil.which("runc"):
        variants["runc run"] = oci_runner("runc", bundle, tmp / "runc-state")
    if shutil.which("crun") and not crun_problem:
        variants["crun run"] = oci_runner("crun", bundle, tmp / "crun-state")
    res: dict[str, list[float]] = {}
    removes: list[float] = []
    for name, fn in variants.items():
        fn("warm")
        res[name] = []
    rng = random.Random(4)
    order = list(variants.items())
    for i in range(n):
        rng.shuffle(order)        # no variant always runs right after another (cgroup lock warmth)
        for name, fn in order:
            dt, rm = fn(str(i))
            res[name].append(dt)
            if rm:
                removes.append(rm)
    return res, removes, shim_memory(rt, rootfs)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    tmp = Path(tempfile.mkdtemp(prefix="rt4-bench-"))
    try:
        rootfs = build_bundle_rootfs(tmp)
        with crun_fix() as crun_problem:
            rt = Runtime(tmp / "ours", cgroup_parent=PARENT)
            try:
                res, removes, mem = measure(rt, rootfs, tmp, n, crun_problem)
            finally:
                cleanup(rt, tmp)        # before crun_fix() looks for foreign cgroups in hugetlb
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours_key = "ours (create+start+wait)"
    paired = {k: summary([a / b for a, b in zip(res[ours_key], v, strict=True)])
              for k, v in res.items() if k != ours_key}
    out = {"n": n, "host": {"kernel": platform.release(), "cpus": os.cpu_count(),
                            "cgroups": cg.mode(), "python": platform.python_version()},
           "start_ms": {k: summary(v) for k, v in res.items()},
           "ours_over_reference_per_round": paired,
           "ours_remove_ms": summary(removes) if removes else None, "memory": mem,
           "raw_ms": {k: [round(x, 3) for x in v] for k, v in res.items()}}
    if crun_problem:
        out["crun_skipped"] = crun_problem
    out["loadavg_after"] = os.getloadavg()
    dest = Path(__file__).resolve().parent / "results" / "runtime.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=1) + "\n")
    with open(dest.with_name("runtime_runs.jsonl"), "a") as f:   # history: this host is shared
        f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "n": n,
                            "loadavg_after": out["loadavg_after"],
                            "median_ms": {k: v["median"] for k, v in out["start_ms"].items()},
                            "p90_ms": {k: v["p90"] for k, v in out["start_ms"].items()},
                            "ours_over_per_round_median": {k: v["median"] for k, v in paired.items()},
                            "shim_uss_kib": mem["shim_uss_kib"]}) + "\n")
    print(f"start latency, request -> /bin/true exited, N={n} interleaved (ms)")
    print(f"{'variant':28s} {'median':>8s} {'p90':>8s} {'min':>8s} {'max':>8s}")
    for k, s in out["start_ms"].items():
        print(f"{k:28s} {s['median']:8.1f} {s['p90']:8.1f} {s['min']:8.1f} {s['max']:8.1f}")
    for k, r in paired.items():
        name = f"ours / {k.split()[0]} per round"
        print(f"{name:28s} {r['median']:8.2f} {r['p90']:8.2f} {r['min']:8.2f} {r['max']:8.2f}")
    if removes:
        r = out["ours_remove_ms"]
        name = "ours remove (separate)"
        print(f"{name:28s} {r['median']:8.1f} {r['p90']:8.1f} {r['min']:8.1f} {r['max']:8.1f}")
    print(f"shim USS {mem['shim_uss_kib']} KiB (PSS {mem['shim_pss_kib']}, RSS {mem['shim_rss_kib']}); "
          f"zygote RSS {mem['zygote_rss_kib']} KiB")
    print(f"written to {dest}")


if __name__ == "__main__":
    main()
