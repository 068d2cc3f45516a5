#!/usr/bin/env python3
"""What sealing the Raft data at rest (swarm/store/atrest.py) costs, in one process.

    python bench/atrest_bench.py [--objects 20000] [--out FILE]

  entry     one proposal of one 1 KiB object: pickling it as pysyncobj would (the reference)
            against seal_entry + open_entry on top (what a manager adds per write, leader and
            followers together), microseconds per entry, median of 5 runs of 5,000
  snapshot  a store of N x 1 KiB objects: SnapshotWriter's write and read_snapshot, plain
            against sealed, seconds, median of 3

The end-to-end price (CPU per write on a 3-member store, TLS link) is bench/store_bench.py
--only cpu --link tls,tls-unsealed. Results: bench/results/atrest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pysyncobj.config import SERIALIZER_STATE  # noqa: E402

from swarm.store.atrest import DataKey  # noqa: E402
from swarm.store.snapshot import SnapshotWriter, read_snapshot  # noqa: E402
from swarm.store.state import StoreState  # noqa: E402
from swarm.store.types import Action  # noqa: E402


def entry_bench(n: int = 5000) -> dict[str, float]:
    key = DataKey(os.urandom(32))
    wire = [Action.create("tasks", "t" * 25, os.urandom(1024), indexes={"service_id": "s" * 25}).to_wire()]
    plain, sealed = [], []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            pickle.loads(pickle.dumps(("apply_batch", "p" * 32, wire), protocol=pickle.HIGHEST_PROTOCOL))
        plain.append((time.perf_counter() - t) / n * 1e6)
        t = time.perf_counter()
        for _ in range(n):
            blob = key.seal_entry(wire)
            pickle.loads(pickle.dumps(("apply_batch", "p" * 32, blob), protocol=pickle.HIGHEST_PROTOCOL))
            key.open_entry(blob)
        sealed.append((time.perf_counter() - t) / n * 1e6)
    return {"plain_us": statistics.median(plain), "sealed_us": statistics.median(sealed),
            "added_us": statistics.median(sealed) - statistics.median(plain)}


def _write(st: StoreState, path: Path, key: DataKey | None) -> float:
    w = SnapshotWriter(st, path, key)
    t = time.perf_counter()
    w.serialize("unused", ((), (), set()))
    while w.check() == SERIALIZER_STATE.SERIALIZING:
        time.sleep(0.001)
    return time.perf_counter() - t


def snapshot_bench(objects: int) -> dict[str, float]:
    st = StoreState()
    for i in range(0, objects, 500):
        st.apply_batch(f"b{i}", [Action.create("tasks", f"t{j}", os.urandom(1024),
                                               indexes={"service_id": "s"}).to_wire()
                                 for j in range(i, min(i + 500, objects))])
    key = DataKey(os.urandom(32))
    out: dict[str, float] = {"objects": objects}
    with tempfile.TemporaryDirectory(prefix="atrest-") as td:
        for name, k in (("plain", None), ("sealed", key)):
            path = Path(td) / f"{name}.dump"
            writes, reads = [], []
            for _ in range(3):
                writes.append(_write(st, path, k))
                t = time.perf_counter()
                read_snapshot(path, k)
                reads.append(time.perf_counter() - t)
            out[f"{name}_write_s"] = statistics.median(writes)
            out[f"{name}_read_s"] = statistics.median(reads)
            out[f"{name}_mib"] = path.stat().st_size / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=20000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "atrest.json"))
    a = ap.parse_args()
    R = {"meta": {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "python": sys.version.split()[0],
                  "loadavg_start": os.getloadavg()},
         "entry": entry_bench(), "snapshot": snapshot_bench(a.objects)}
    R["meta"]["loadavg_end"] = os.getloadavg()
    Path(a.out).write_text(json.dumps(R, indent=1))
    print(json.dumps(R, indent=1))


if __name__ == "__main__":
    main()
