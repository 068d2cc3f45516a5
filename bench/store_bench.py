#!/usr/bin/env python3
"""swarm/store on 3 members (separate processes, 127.0.0.1) side by side with etcd 3.4.

    python bench/store_bench.py [--quick] [--only seq,tput,batch,failover,attack,frames] [--no-etcd]
                                [--link plain|tls|plain,tls] [--out FILE]

Measures, for both systems:
  seq       sequential 1 KiB writes on the leader: commit latency p50/p99
  tput      1 KiB single-object writes with N in flight (N = 100, 1000): writes/s
  batch     atomic batches of 100 x 1 KiB objects, a few batches in flight: objects/s
            (etcd: a Txn of 100 puts, its max-txn-ops default is 128)
  failover  kill -9 the leader; a prober on a surviving member writes every 5 ms (250 ms timeout);
            time from the kill to the first accepted write that was started after the killed
            process was reaped. Killed member restarted between trials.
  attack    (store only) a prober on the leader writes every 10 ms (10 s timeout) for 10 s while
            attackers announce 2 GiB frames at the leader's Raft port and stream zeros: write
            latency p50/p99/max and failures in that window, the leader's RSS growth, bytes the
            attackers got accepted. plain: one stream (never cut off, capped at 128 MiB here);
            tls: over and over, unauthenticated and as an accepted peer after the key exchange.
  cpu       CPU time (user+sys from /proc) per 1 KiB write, 100 in flight, and per object in
            batches of 100, on the leader and the followers, plus sequential write p50/p99 and the
            rates, plain and tls alternating for ``--trials`` rounds (medians reported): robust
            where wall-clock rates drift with the host's load.
  frames    (no cluster) receive-buffer cost of one 32 MiB frame in 64 KiB chunks: stock
            pysyncobj's ``bytes +=`` against raftlink.FrameReader's bytearray.

``--link`` picks the Raft transport of the store: ``plain`` (pysyncobj's own, password only - the
default and what the earlier results are), ``tls`` (swarm/store/raftlink.py: mutual TLS 1.3 +
frame caps, on top of the same password), or both, reported side by side (``store``,
``store_tls``). Every member seals its Raft entries and snapshots (swarm/store/atrest.py), as
the managers do; for ``cpu`` a link name ending in ``-unsealed`` (``tls-unsealed``) runs the
same rounds with the Raft files in clear, to price that.

Store load loops run *inside* the leader member (``tests.support.store_member_proc``), the way a manager's
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

from tests.support.store_harness import Cluster, free_port  # noqa: E402
from tests.support.store_member_proc import pct  # noqa: E402

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
T0 = time.time()


def log(*a: Any) -> None:
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


# ----------------------------------------------------------------------------- store
LINK = {"tls": False}


def store_cluster(root: Path) -> Cluster:
    c = Cluster(root / f"store-{free_port()}", tls=LINK["tls"])
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


def store_attack(R: dict, window: float = 10.0) -> None:
    from tests.support.store_harness import client_context, link_socket, raft_frame, stream_oversize
    with tempfile.TemporaryDirectory(prefix="storebench-") as td:
        c = store_cluster(Path(td))
        try:
            L = c.leader()
            leader = c.members[L]
            leader.call("seq", n=200, size=1024, prefix="warm")
            leader.call("probe_start", period=0.01, timeout=10.0)
            time.sleep(2.0)
            base = leader.call("probe_stop")
            leader.call("probe_start", period=0.01, timeout=10.0)
            time.sleep(0.5)
            rss0 = rss_peak = leader.rss_kib()
            t0 = time.time()
            attacks = []
            if LINK["tls"]:
                ctx = client_context(c.issue("bench-attacker"), verify_server=False)
                kinds = [("unauthenticated", None, b""),
                         ("accepted-peer", ctx, raft_frame(os.urandom(32), "test-secret"))]
                while time.time() - t0 < window:
                    for kind, actx, pre in kinds:
                        with link_socket(leader.addr, actx) as sk:
                            if pre:
                                sk.sendall(pre)
                            r = stream_oversize(sk, limit=128 << 20, max_s=window)
                            attacks.append({"kind": kind, **r})
            else:
                with link_socket(leader.addr, None) as sk:
                    attacks.append({"kind": "unauthenticated",
                                    **stream_oversize(sk, limit=128 << 20, max_s=window)})
                    rss_peak = leader.rss_kib()
                    time.sleep(max(0.0, window - (time.time() - t0)))
            t1 = time.time()
            rss1 = leader.rss_kib()
            probe = leader.call("probe_stop", timeout=120)
        finally:
            c.stop()

    def lat(plog: list, a: float, b: float) -> dict:
        inside = [(s, e, ok) for (s, e, ok, *_) in plog if a <= s <= b]
        if inside:
            a, b = max(a, inside[0][0]), min(b, max(e for (_, e, _) in inside))
        ok = sorted(e - s for (s, e, good) in inside if good)
        return {"writes": len(inside), "failed": sum(not g for (_, _, g) in inside),
                "p50_ms": (pct(ok, 50) or 0) * 1e3, "p99_ms": (pct(ok, 99) or 0) * 1e3,
                "max_ms": (ok[-1] if ok else 0) * 1e3,
                "writes_s": len(ok) / (b - a) if b > a else 0}
    R["attack"] = {
        "window_s": t1 - t0, "baseline": lat(base, 0, float("inf")), "during": lat(probe, t0, t1),
        "rss_growth_mib": (rss1 - rss0) / 1024,
        "rss_peak_growth_mib": (max(rss_peak, rss1) - rss0) / 1024,
        "connections": len(attacks), "closed_by_member": sum(a["closed"] for a in attacks),
        "max_accepted_mib": max(a["sent"] for a in attacks) / 2**20,
        "total_accepted_mib": sum(a["sent"] for a in attacks) / 2**20, "first": attacks[:2]}
    log("attack", json.dumps({k: v for k, v in R["attack"].items() if k != "first"}))


def _cpu_s(m: Any) -> float:
    fields = Path(f"/proc/{m.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def store_cpu(R: dict, rounds: int, links: list[str]) -> None:
    runs: dict[str, list[dict]] = {link: [] for link in links}
    for rnd in range(rounds):
        for link in links:
            with tempfile.TemporaryDirectory(prefix="storebench-") as td:
                # "-unsealed": Raft files in clear (no data key), to price swarm.store.atrest
                c = Cluster(Path(td) / "cpu", tls=link.startswith("tls"),
                            data_key=None if link.endswith("-unsealed") else b"")
                c.start()
                try:
                    L = c.leader()
                    for m in c.members:
                        m.call("wait_ready")
                    c.members[L].call("tput", n=1000, size=1024, inflight=100, prefix="warm")
                    seq = c.members[L].call("seq", n=1000, size=1024, prefix="s", timeout=300)
                    t0 = [_cpu_s(m) for m in c.members]
                    single = c.members[L].call("tput", n=6000, size=1024, inflight=100, timeout=300)
                    t1 = [_cpu_s(m) for m in c.members]
                    batched = c.members[L].call("tput", n=200, size=1024, inflight=4, batch=100,
                                                prefix="b", timeout=300)
                    t2 = [_cpu_s(m) for m in c.members]
                finally:
                    c.stop()
            fol = [i for i in range(3) if i != L]
            row = {"seq_p50_ms": seq["p50_ms"], "seq_p99_ms": seq["p99_ms"],
                   "writes_s": single["objects_s"], "batch_objects_s": batched["objects_s"],
                   "leader_us_per_write": (t1[L] - t0[L]) / 6000 * 1e6,
                   "follower_us_per_write": sum(t1[i] - t0[i] for i in fol) / 2 / 6000 * 1e6,
                   "leader_us_per_batched_object": (t2[L] - t1[L]) / 20000 * 1e6,
                   "follower_us_per_batched_object": sum(t2[i] - t1[i] for i in fol) / 2 / 20000 * 1e6}
            runs[link].append(row)
            log(f"cpu[{link}] round {rnd}", json.dumps({k: round(v, 1) for k, v in row.items()}))
    R["cpu"] = {"rounds": runs, "median": {link: {k: pct([r[k] for r in rows], 50) for k in rows[0]}
                                           for link, rows in runs.items() if rows}}


def frames_bench(R: dict, size: int = 32 << 20) -> None:
    """Receive-buffer cost of one big frame: stock ``bytes +=`` vs FrameReader (no sockets), in
    64 KiB chunks (a TLS read returns at most one 16 KiB record; plain loopback reads are often
    this size) and 1 MiB chunks (our recvBufferSize: the most one stock read can return)."""
    R["frames"] = [_frames_bench(size, chunk) for chunk in (64 * 1024, 1 << 20)]


def _frames_bench(size: int, chunk: int) -> dict:
    import struct

    from swarm.store.raftlink import FrameReader
    data = struct.pack("<I", size) + os.urandom(size)
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    out: dict[str, Any] = {"frame_mib": size / 2**20, "chunk_kib": chunk / 1024}
    t = time.perf_counter()
    buf = b""
    for p in pieces:                       # stock TcpConnection.__processRead / __processParseMessage
        buf += p
        if len(buf) >= 4 and len(buf) - 4 >= struct.unpack("i", buf[:4])[0]:
            break
    out["stock_bytes_concat_s"] = time.perf_counter() - t
    t = time.perf_counter()
    r = FrameReader(max_frame=size + 1)
    got = []
    for p in pieces:
        got += r.feed(p)
    out["framereader_s"] = time.perf_counter() - t
    assert len(got) == 1 and len(got[0]) == size
    out["speedup"] = out["stock_bytes_concat_s"] / out["framereader_s"]
    log("frames", json.dumps(out))
    return out


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
    cols = [(name, label, R[name]) for name, label in (("store", "swarm/store"), ("store_tls", "store+TLS"),
                                                       ("etcd", "etcd 3.4")) if R.get(name)]

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
            ("failover trials without a write within 6 s", ("failover", "summary_s"), "failed"),
            ("attack: write p50 ms, baseline", ("attack", "baseline"), "p50_ms"),
            ("attack: write p50 ms during", ("attack", "during"), "p50_ms"),
            ("attack: write p99 ms during", ("attack", "during"), "p99_ms"),
            ("attack: write max ms during", ("attack", "during"), "max_ms"),
            ("attack: writes failed during", ("attack", "during"), "failed"),
            ("attack: leader RSS growth MiB", ("attack",), "rss_peak_growth_mib"),
            ("attack: most MiB accepted on one connection", ("attack",), "max_accepted_mib")]
    out = ["| " + f"{'metric (3 members, loopback)':50s} | " + " | ".join(f"{lab:>12s}" for _, lab, _ in cols)
           + " |", f"|{'-' * 52}|" + "|".join("-" * 14 for _ in cols) + "|"]
    for label, path, key in rows:
        vals = [g(d, *path, key=key) for _, _, d in cols]
        if all(v == "-" for v in vals):
            continue
        out.append(f"| {label:50s} | " + " | ".join(f"{v:>12s}" for v in vals) + " |")
    med = (R.get("cpu") or {}).get("median", {})
    if med:
        n = len(R["cpu"]["rounds"][next(iter(med))])
        out.append(f"\nmedians of {n} alternating rounds (CPU in µs, latency in ms) | " + " | ".join(med))
        for k in next(iter(med.values())):
            out.append(f"  {k:34s} | " + " | ".join(f"{med[lk][k]:,.1f}" for lk in med))
    for f in R.get("frames") or []:
        out.append(f"one {f['frame_mib']:.0f} MiB frame in {f['chunk_kib']:.0f} KiB chunks: stock bytes += "
                   f"{f['stock_bytes_concat_s']:.2f} s, FrameReader {f['framereader_s']:.3f} s "
                   f"({f['speedup']:.0f}x)")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="seq,tput,batch,failover")
    ap.add_argument("--no-etcd", action="store_true")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "store.json"))
    ap.add_argument("--link", default="plain",
                    help="plain, tls or plain,tls (with --only cpu also plain-unsealed, tls-unsealed)")
    a = ap.parse_args()
    only = set(a.only.split(","))
    links = a.link.split(",")
    unsealed = {"plain-unsealed", "tls-unsealed"}
    if not set(links) <= {"plain", "tls"} | (unsealed if only == {"cpu"} else set()):
        ap.error("--link takes plain, tls or plain,tls (and the -unsealed ones with --only cpu)")
    trials = 3 if a.quick else a.trials
    ver = subprocess.run([ETCD, "--version"], capture_output=True, text=True).stdout.splitlines()
    R: dict[str, Any] = {"meta": {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                                  "quick": a.quick, "etcd": ver[0] if ver else None,
                                  "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                                  "loadavg_start": os.getloadavg(), "links": links},
                         "store": {}, "store_tls": {}, "etcd": {}}
    for link in (x for x in links if x not in unsealed):
        LINK["tls"] = link == "tls"
        S = R["store_tls" if LINK["tls"] else "store"]
        if "seq" in only:
            log(f"store[{link}] seq")
            store_seq(S, 500 if a.quick else 2000)
        if "tput" in only:
            log(f"store[{link}] tput")
            store_tput(S, a.quick)
        if "batch" in only:
            log(f"store[{link}] batch")
            store_batch(S, a.quick)
        if "failover" in only:
            log(f"store[{link}] failover")
            store_failover(S, trials)
        if "attack" in only:
            log(f"store[{link}] attack")
            store_attack(S)
    if "cpu" in only:
        log("cpu")
        store_cpu(R, trials, links)
    if "frames" in only:
        frames_bench(R)
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
