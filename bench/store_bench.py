#!/usr/bin/env python3
"""swarm/store on 3 members (separate processes, 127.0.0.1) side by side with etcd 3.4.

    python bench/store_bench.py [--quick] [--only seq,tput,batch,failover] [--no-etcd]

Measures, for both systems:
  seq       sequential 1 KiB writes on the leader: commit latency p50/p99
  tput      1 KiB single-object writes with N in flight (N = 100, 1000): writes/s
  batch     atomic batches of 100 x 1 KiB objects, a few batches in flight: objects/s
            (etcd: a Txn of 100 puts, its max-txn-ops default is 128)
  failover  kill -9 the leader; a prober on a surviving member writes every 5 ms (250 ms timeout);
            time from the kill to the first accepted write that was started after the killed
            process was reaped. Killed member restarted between trials.

Store load loops run *inside* the leader member (``swarm.store.member_proc``), the way a manager's
handlers call their own store; the etcd driver is this Python process speaking raw gRPC (no stubs),
as in /work/shared/labs/raft/bench_etcd.py. etcd fsyncs its WAL, pysyncobj never fsyncs - compare
with that in mind. Single runs on a shared 2-core VM: read ratios, not digits.

Every loop is bounded in count and time; only processes started here are killed (by PID); temp
dirs are removed. Results: bench/results/store.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarm.store.harness import Cluster, free_port  # noqa: E402

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
T0 = time.time()


def log(*a: Any) -> None:
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def pct(vals: list[float], p: float) -> float | None:
    if not vals:
        return None
    vals = sorted(vals)
    k = (len(vals) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(vals) - 1)
    return vals[f] + (vals[c] - vals[f]) * (k - f)


# ----------------------------------------------------------------------------- store
def store_cluster(root: Path) -> Cluster:
    c = Cluster(root / f"store-{free_port()}")
    c.start()
    return c


def store_seq(R: dict, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="storebench-") as td:
        c = store_cluster(Path(td))
        try:
            L = c.leader()
            c.members[L].call("seq", n=50, size=1024, prefix="warm")
            R["seq"] = c.members[L].call("seq", n=n, size=1024, timeout=300)
            F = (L + 1) % 3
            R["seq_follower"] = c.members[F].call("seq", n=n // 2, size=1024, prefix="f", timeout=300)
        finally:
            c.stop()


def store_tput(R: dict, quick: bool) -> None:
    R["tput"] = {}
    for inflight, n in ((100, 6000), (1000, 15000)):
        n = n // 3 if quick else n
        with tempfile.TemporaryDirectory(prefix="storebench-") as td:
            c = store_cluster(Path(td))
            try:
                L = c.leader()
                c.members[L].call("tput", n=1000, size=1024, inflight=200, prefix="warm")
                r = c.members[L].call("tput", n=n, size=1024, inflight=inflight, timeout=300)
                R["tput"][f"1KiB/if{inflight}"] = r
            finally:
                c.stop()


def store_batch(R: dict, quick: bool) -> None:
    R["batch"] = {}
    with tempfile.TemporaryDirectory(prefix="storebench-") as td:
        c = store_cluster(Path(td))
        try:
            L = c.leader()
            c.members[L].call("tput", n=20, size=1024, inflight=4, batch=100, prefix="warm")
            for inflight in (1, 4, 16):
                n = 100 if quick else 300
                r = c.members[L].call("tput", n=n, size=1024, inflight=inflight, batch=100,
                                      prefix=f"b{inflight}-", timeout=300)
                R["batch"][f"100x1KiB/if{inflight}"] = r
        finally:
            c.stop()


def store_failover(R: dict, trials: int) -> None:
    res = []
    with tempfile.TemporaryDirectory(prefix="storebench-") as td:
        c = store_cluster(Path(td))
        try:
            for t in range(trials):
                L = c.leader(timeout=30)
                time.sleep(1.0)
                P = (L + 1) % 3
                c.members[P].call("probe_start", period=0.005, timeout=0.25)
                time.sleep(0.5)
                t_kill = time.time()
                c.members[L].kill(signal.SIGKILL)
                t_dead = time.time()     # count only writes started after the leader is gone
                time.sleep(6.0)
                plog = c.members[P].call("probe_stop")
                after = [e for (s, e, ok, *_) in plog if ok and s >= t_dead]
                dt = after[0] - t_kill if after else None
                res.append({"trial": t, "write_ok_after_s": dt})
                log("store failover", t, "first write ok after", dt)
                c.members[L].start()
                time.sleep(3.0)
        finally:
            c.stop()
    R["failover"] = {"trials": res, "summary_s": summary([r["write_ok_after_s"] for r in res])}


def summary(vals: list[float | None]) -> dict:
    ok = sorted(v for v in vals if v is not None)
    if not ok:
        return {"n": 0, "failed": len(vals)}
    return {"n": len(ok), "failed": len(vals) - len(ok), "min": ok[0], "p50": pct(ok, 50),
            "mean": sum(ok) / len(ok), "max": ok[-1]}


# ----------------------------------------------------------------------------- etcd
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def put_req(key: str, val: bytes) -> bytes:          # etcdserverpb.PutRequest{key=1, value=2}
    return _field(1, key.encode()) + _field(2, val)


def txn_req(keys: list[str], val: bytes) -> bytes:   # TxnRequest{success=2: RequestOp{request_put=2}}
    return b"".join(_field(2, _field(2, put_req(k, val))) for k in keys)


class Etcd:
    def __init__(self, root: Path, n: int = 3) -> None:
        self.root = root
        self.names = [f"e{i}" for i in range(n)]
        self.cport = [free_port() for _ in range(n)]
        self.pport = [free_port() for _ in range(n)]
        self.procs: list[subprocess.Popen | None] = [None] * n
        self.initial = ",".join(f"{nm}=http://127.0.0.1:{p}" for nm, p in zip(self.names, self.pport,
                                                                              strict=True))

    def start_node(self, i: int, state: str = "new") -> None:
        cmd = [ETCD, "--name", self.names[i], "--data-dir", str(self.root / self.names[i]),
               "--listen-client-urls", f"http://127.0.0.1:{self.cport[i]}",
               "--advertise-client-urls", f"http://127.0.0.1:{self.cport[i]}",
               "--listen-peer-urls", f"http://127.0.0.1:{self.pport[i]}",
               "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.pport[i]}",
               "--initial-cluster", self.initial, "--initial-cluster-state", state,
               "--initial-cluster-token", f"tok{self.pport[0]}", "--logger", "zap", "--log-level", "error"]
        with open(self.root / f"{self.names[i]}.log", "ab") as lf:
            self.procs[i] = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT)

    def start(self) -> Etcd:
        for i in range(len(self.names)):
            self.start_node(i)
        return self

    def alive(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if p is not None and p.poll() is None]

    def leader(self, timeout: float = 60) -> int:
        import urllib.request
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in self.alive():
                try:
                    req = urllib.request.Request(f"http://127.0.0.1:{self.cport[i]}/v3/maintenance/status",
                                                 data=b"{}", method="POST")
                    st = json.loads(urllib.request.urlopen(req, timeout=0.5).read())
                    if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                        return i
                except Exception:
                    pass
            time.sleep(0.05)
        raise RuntimeError("no etcd leader")

    def kill(self, i: int) -> None:
        p = self.procs[i]
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)

    def stop(self) -> None:
        for i in range(len(self.names)):
            self.kill(i)


def grpc_method(port: int, method: str) -> tuple[Any, Any]:
    import grpc
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    return ch, ch.unary_unary(f"/etcdserverpb.KV/{method}")


def etcd_seq(port: int, n: int) -> dict:
    ch, put = grpc_method(port, "Put")
    val, lat, t0 = os.urandom(1024), [], time.perf_counter()
    for i in range(n):
        s = time.perf_counter()
        put(put_req(f"seq/{i}", val), timeout=5)
        lat.append(time.perf_counter() - s)
    total = time.perf_counter() - t0
    ch.close()
    return {"n": n, "size": 1024, "ops_s": n / total, "p50_ms": pct(lat, 50) * 1e3,  # type: ignore[operator]
            "p99_ms": pct(lat, 99) * 1e3}  # type: ignore[operator]


def etcd_window(port: int, n: int, inflight: int, make_req: Any, method: str, per_req: int = 1,
                max_s: float = 120.0) -> dict:
    ch, call = grpc_method(port, method)
    sem = threading.Semaphore(inflight)
    lock = threading.Lock()
    st = {"ok": 0, "err": 0}
    lat: list[float] = []
    t0 = time.perf_counter()
    futs = []
    for i in range(n):
        if not sem.acquire(timeout=60) or time.perf_counter() - t0 > max_s:
            break
        s = time.perf_counter()
        f = call.future(make_req(i), timeout=30)

        def done(f: Any, s: float = s) -> None:
            e = time.perf_counter()
            with lock:
                if f.exception() is None:
                    st["ok"] += 1
                    lat.append(e - s)
                else:
                    st["err"] += 1
            sem.release()
        f.add_done_callback(done)
        futs.append(f)
    for f in futs:
        with contextlib.suppress(Exception):
            f.result(60)
    total = time.perf_counter() - t0
    ch.close()
    return {"n": len(futs), "inflight": inflight, "ok": st["ok"], "err": st["err"], "total_s": total,
            "ops_s": st["ok"] / total, "objects_s": st["ok"] * per_req / total,
            "p50_ms": (pct(lat, 50) or 0) * 1e3, "p99_ms": (pct(lat, 99) or 0) * 1e3}


def run_etcd(R: dict, only: set[str], quick: bool, trials: int) -> None:
    val = os.urandom(1024)
    with tempfile.TemporaryDirectory(prefix="etcdbench-") as td:
        e = Etcd(Path(td)).start()
        try:
            L = e.leader()
            port = e.cport[L]
            etcd_seq(port, 50)
            if "seq" in only:
                R["seq"] = etcd_seq(port, 500 if quick else 2000)
            if "tput" in only:
                R["tput"] = {}
                for inflight, n in ((100, 6000), (1000, 15000)):
                    n = n // 3 if quick else n
                    R["tput"][f"1KiB/if{inflight}"] = etcd_window(
                        port, n, inflight, lambda i, inf=inflight: put_req(f"tp{inf}/{i}", val), "Put")
            if "batch" in only:
                R["batch"] = {}
                for inflight in (1, 4, 16):
                    n = 100 if quick else 300
                    R["batch"][f"100x1KiB/if{inflight}"] = etcd_window(
                        port, n, inflight,
                        lambda i, inf=inflight: txn_req([f"b{inf}/{i}/{j}" for j in range(100)], val),
                        "Txn", per_req=100)
            if "failover" in only:
                R["failover"] = etcd_failover(e, trials)
        finally:
            e.stop()


def etcd_failover(e: Etcd, trials: int) -> dict:
    res = []
    for t in range(trials):
        L = e.leader()
        time.sleep(1.0)
        P = (L + 1) % 3
        ch, put = grpc_method(e.cport[P], "Put")
        plog: list[tuple[float, float, bool]] = []
        stop = threading.Event()

        def probe(put: Any = put, plog: list = plog, stop: threading.Event = stop) -> None:
            i = 0
            while not stop.is_set() and i < 100_000:
                s, ok = time.time(), True
                try:
                    put(put_req(f"probe/{i}", b"x"), timeout=0.25)
                except Exception:
                    ok = False
                plog.append((s, time.time(), ok))
                i += 1
                time.sleep(0.005)
        th = threading.Thread(target=probe)
        th.start()
        time.sleep(0.5)
        t_kill = time.time()
        e.kill(L)
        t_dead = time.time()
        time.sleep(6.0)
        stop.set()
        th.join(10)
        ch.close()
        after = [end for (s, end, ok) in plog if ok and s >= t_dead]
        dt = after[0] - t_kill if after else None
        res.append({"trial": t, "write_ok_after_s": dt})
        log("etcd failover", t, "first write ok after", dt)
        e.start_node(L, state="existing")
        time.sleep(3.0)
    return {"trials": res, "summary_s": summary([r["write_ok_after_s"] for r in res])}


# ----------------------------------------------------------------------------- report
def table(R: dict) -> str:
    s, e = R.get("store", {}), R.get("etcd", {})

    def g(d: dict, *path: str, key: str) -> str:
        for p in path:
            d = d.get(p, {})
        v = d.get(key)
        if isinstance(v, float) and v < 100:
            return f"{v:,.2f}"
        return f"{v:,.0f}" if v is not None else "-"

    rows = [("seq 1 KiB write p50 ms (leader)", ("seq",), "p50_ms"),
            ("seq 1 KiB write p99 ms (leader)", ("seq",), "p99_ms"),
            ("1 KiB writes/s, 100 in flight", ("tput", "1KiB/if100"), "objects_s"),
            ("1 KiB writes/s, 1000 in flight", ("tput", "1KiB/if1000"), "objects_s"),
            ("objects/s, batches of 100 x 1 KiB, 1 in flight", ("batch", "100x1KiB/if1"), "objects_s"),
            ("objects/s, batches of 100 x 1 KiB, 4 in flight", ("batch", "100x1KiB/if4"), "objects_s"),
            ("objects/s, batches of 100 x 1 KiB, 16 in flight", ("batch", "100x1KiB/if16"), "objects_s"),
            ("failover kill -9 -> first write, mean s", ("failover", "summary_s"), "mean"),
            ("failover kill -9 -> first write, max s", ("failover", "summary_s"), "max"),
            ("failover trials without a write within 6 s", ("failover", "summary_s"), "failed")]
    out = [f"| {'metric (3 members, loopback)':50s} | {'swarm/store':>12s} | {'etcd 3.4':>10s} |",
           f"|{'-' * 52}|{'-' * 14}|{'-' * 12}|"]
    for label, path, key in rows:
        out.append(f"| {label:50s} | {g(s, *path, key=key):>12s} | {g(e, *path, key=key):>10s} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="seq,tput,batch,failover")
    ap.add_argument("--no-etcd", action="store_true")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "store.json"))
    a = ap.parse_args()
    only = set(a.only.split(","))
    trials = 3 if a.quick else a.trials
    ver = subprocess.run([ETCD, "--version"], capture_output=True, text=True).stdout.splitlines()
    R: dict[str, Any] = {"meta": {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                                  "quick": a.quick, "etcd": ver[0] if ver else None,
                                  "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                                  "loadavg_start": os.getloadavg()},
                         "store": {}, "etcd": {}}
    if "seq" in only:
        log("store seq")
        store_seq(R["store"], 500 if a.quick else 2000)
    if "tput" in only:
        log("store tput")
        store_tput(R["store"], a.quick)
    if "batch" in only:
        log("store batch")
        store_batch(R["store"], a.quick)
    if "failover" in only:
        log("store failover")
        store_failover(R["store"], trials)
    if not a.no_etcd:
        log("etcd")
        run_etcd(R["etcd"], only, a.quick, trials)
    R["meta"]["loadavg_end"] = os.getloadavg()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(R, indent=1, default=str))
    print(table(R))
    print("load average at start / end:", R["meta"]["loadavg_start"], R["meta"]["loadavg_end"])
    log("wrote", a.out)


if __name__ == "__main__":
    main()
