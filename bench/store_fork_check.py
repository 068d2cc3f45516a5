#!/usr/bin/env python3
"""Is pysyncobj's fork()-for-snapshot safe inside a manager that also runs grpc.aio? Measure it.

One process = a single-member Store (its tick thread) + a grpc.aio server on the same asyncio loop
+ a grpc client thread hammering it. We load ~20 MiB of state, then force N log compactions and
record, per configuration:

* whether every snapshot child exited 0 and the dump file loads with the right store index,
* the longest gap between two Raft ticks during compactions (the tick thread stall; with
  ``use_fork=False`` the snapshot is pickled+gzipped on the tick thread),
* gRPC calls that failed or took > 1 s while the children were forked,
* wall time per compaction.

Configurations: the store's thread writer (default), pysyncobj's fork (with and without
GRPC_ENABLE_FORK_SUPPORT=1), and pysyncobj's synchronous snapshot. Each runs in a
fresh subprocess (``--child``). Bounded: N compactions, each waited for at most 60 s.

    python bench/store_fork_check.py [--compactions 10] [--mib 20]
Writes bench/results/store_fork.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import itertools
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def child(args: argparse.Namespace) -> dict:
    import grpc

    from swarm.store import Action, Store
    from swarm.store.snapshot import read_snapshot
    from tests.support.store_harness import free_port

    d = Path(tempfile.mkdtemp(prefix="storefork-"))
    addr = f"127.0.0.1:{free_port()}"
    st = Store(addr, [addr], d, "pw", snapshot_mode=args.mode)
    st.start()
    await st.wait_ready(15)
    node = st._require_node()
    ticks: list[float] = []
    node.addOnTickCallback(lambda: ticks.append(time.monotonic()))

    # grpc.aio echo server on this loop, and a sync client thread hammering it
    def echo(req: bytes, ctx: object) -> bytes:
        return req
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    gport = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stop = threading.Event()
    calls = {"ok": 0, "failed": 0, "slow": 0, "max_ms": 0.0}
    in_compaction = threading.Event()
    during = {"calls": 0, "failed": 0, "max_ms": 0.0}

    def client() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{gport}") as ch:
            call = ch.unary_unary("/bench.Echo/Echo")
            while not stop.is_set():
                s = time.perf_counter()
                try:
                    call(b"x" * 100, timeout=5)
                    calls["ok"] += 1
                except Exception:
                    calls["failed"] += 1
                dt = time.perf_counter() - s
                calls["max_ms"] = max(calls["max_ms"], dt * 1e3)
                calls["slow"] += dt > 1.0
                if in_compaction.is_set():
                    during["calls"] += 1
                    during["max_ms"] = max(during["max_ms"], dt * 1e3)
    ct = threading.Thread(target=client, daemon=True)
    ct.start()

    # load state: batches of 1000 x 1 KiB
    blob = os.urandom(1024)
    n = args.mib * 1024
    for b in range(0, n, 1000):
        await st.apply([Action.create("tasks", f"t{i}", blob, indexes={"service_id": f"s{i % 50}"})
                        for i in range(b, min(b + 1000, n))], timeout=30)
    ser = node._SyncObj__serializer  # type: ignore[attr-defined]
    await asyncio.sleep(1.0)   # idle baseline for the tick gap
    idle = list(ticks[-15:])
    dump = d / "raft.dump"
    results = []
    phase_start = len(ticks)
    for _ in range(args.compactions):
        await st.apply([Action.update("tasks", "t0", blob, expected_version=None)])  # new entry
        mtime = dump.stat().st_mtime_ns if dump.exists() else 0
        t0 = time.monotonic()
        i0 = len(ticks)
        in_compaction.set()
        node.forceLogCompaction()
        # wait until a new dump is in place and the serializer reaped its child
        while time.monotonic() - t0 < 60:
            if dump.exists() and dump.stat().st_mtime_ns != mtime and ser._Serializer__pid == 0:
                break
            await asyncio.sleep(0.005)
        took = time.monotonic() - t0
        in_compaction.clear()
        window = ticks[max(i0 - 1, 0):]
        gap = max((b - a for a, b in itertools.pairwise(window)), default=0.0)
        written = dump.exists() and dump.stat().st_mtime_ns != mtime
        results.append({"took_s": took, "max_tick_gap_s": gap, "dump_written": written})
        pid = ser._Serializer__pid
        if not written and isinstance(pid, int) and pid > 0:
            break   # a snapshot child that never exits blocks every later compaction: stop here
    # a snapshot child that never exited (seen with GRPC_ENABLE_FORK_SUPPORT=1) blocks every later
    # compaction: record it and kill it (our own child, by pid)
    hung_pid = ser._Serializer__pid
    if isinstance(hung_pid, int) and hung_pid > 0:
        os.kill(hung_pid, 9)
        os.waitpid(hung_pid, 0)
    snap = {"index": -1}
    if dump.exists() and args.mode == "thread":
        snap = read_snapshot(dump)[1]
    elif dump.exists():   # the last dump must load and carry the store index
        with gzip.open(dump, "rb") as f:
            snap = pickle.load(f)[0][1]   # (selfData, consumer data...)
    stop.set()
    ct.join(10)
    await server.stop(1)
    index = st.index
    phase = ticks[max(phase_start - 1, 0):]
    st.close()
    base_ticks = [b - a for a, b in itertools.pairwise(idle)]
    return {"config": args.label, "state_mib": args.mib, "compactions": results,
            "all_dumps_written": all(r["dump_written"] for r in results),
            "snapshot_child_hung": isinstance(hung_pid, int) and hung_pid > 0,
            "dump_index_ok": snap["index"] <= index and snap["index"] >= index - 1,
            "max_tick_gap_s": max(r["max_tick_gap_s"] for r in results),
            # whole phase, including the writes between compactions (copy-on-write clones)
            "max_tick_gap_phase_s": max((b - a for a, b in itertools.pairwise(phase)), default=0.0),
            "mean_took_s": sum(r["took_s"] for r in results) / len(results),
            "baseline_tick_gap_s": max(base_ticks) if base_ticks else None,
            "grpc": calls, "grpc_during_compactions": during}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--mode", default="thread")
    ap.add_argument("--label", default="")
    ap.add_argument("--compactions", type=int, default=10)
    ap.add_argument("--mib", type=int, default=20)
    ap.add_argument("--only", default="", help="comma list of: thread, fork, fork-grpc, sync")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "store_fork.json"))
    a = ap.parse_args()
    if a.child:
        Path(a.out).write_text(json.dumps(asyncio.run(child(a))))
        return
    runs = []
    configs = {"thread": ("thread (store default: COW view, worker thread)", {}, ["--mode", "thread"]),
               "fork": ("fork (pysyncobj default)", {}, ["--mode", "fork"]),
               "fork-grpc": ("fork+GRPC_ENABLE_FORK_SUPPORT=1", {"GRPC_ENABLE_FORK_SUPPORT": "1"},
                             ["--mode", "fork"]),
               "sync": ("sync (pysyncobj useFork=False, on the tick thread)", {}, ["--mode", "sync"])}
    chosen = [configs[k] for k in (a.only.split(",") if a.only else configs)]
    for label, env, extra in chosen * a.repeat:
        with tempfile.TemporaryDirectory() as td:
            out_f, err_f = Path(td) / "out.json", Path(td) / "err.txt"
            cmd = [sys.executable, __file__, "--child", "--label", label, "--compactions",
                   str(a.compactions), "--mib", str(a.mib), "--out", str(out_f), *extra]
            with open(err_f, "wb") as ef:
                p = subprocess.Popen(cmd, env=dict(os.environ, **env), stdout=subprocess.DEVNULL,
                                     stderr=ef, start_new_session=True)
                try:
                    rc = p.wait(900)
                except subprocess.TimeoutExpired:
                    rc = None
                with contextlib.suppress(ProcessLookupError):   # our child's group, by its id
                    os.killpg(p.pid, 9)
                p.wait()
            try:
                r = json.loads(out_f.read_text())
            except (OSError, ValueError):
                r = {"config": label, "failed": True, "rc": rc}
            r["stderr_tail"] = err_f.read_text(errors="replace")[-500:]
        runs.append(r)
        print(f"{label:45s} dumps ok={r.get('all_dumps_written')} index ok={r.get('dump_index_ok')} "
              f"max tick gap={r.get('max_tick_gap_s', 0):.3f}s "
              f"(baseline {r.get('baseline_tick_gap_s') or 0:.3f}s)"
              f" mean compaction={r.get('mean_took_s', 0):.3f}s hung={r.get('snapshot_child_hung')} "
              f"grpc during={r.get('grpc_during_compactions')}")
    out = {"meta": {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                    "when": time.strftime("%Y-%m-%d %H:%M:%S")}, "runs": runs}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
