"""Raft snapshots written by a worker thread from a copy-on-write view - no fork, no tick stall.

Why not pysyncobj's default (fork a child that pickles the whole object): measured on this machine
with a grpc.aio server in the same process (``bench/store_fork_check.py``,
``bench/results/store_fork*.json``) the forked child is not reliable next to gRPC: 2 of 40 forced
compactions wrote no dump because the child died (3 of 27 more in exploratory runs, one of them
with gRPC's ``ev_epoll1_linux.cc Check failed: next_worker->state == KICKED`` abort in the log),
and with ``GRPC_ENABLE_FORK_SUPPORT=1`` the child deadlocked on a futex and never exited, which
blocks every later compaction, so the Raft log grows without bound. Python 3.12 also deprecates
fork() in threaded processes. The synchronous alternative (``useFork=False``) pickles and gzips
on the tick thread: 0.2 s for 5 MiB, 0.7 s for 20 MiB (F7; our run: a 1.1 s tick gap) - longer
than the 0.4 s minimum election timeout. Our writer: 0.1 s per 20 MiB snapshot, tick gap 0.05 s
(= the idle tick period).

So we use pysyncobj's custom-serializer hooks asynchronously:

* ``serialize(tmp_name, raft_data)`` runs on the tick thread at compaction time. It takes an O(1)
  frozen view of the state (``StoreState.freeze``: the table objects are marked shared and the next
  write clones them) and starts a thread that writes ``<dump>.swarm.tmp`` in chunks (the GIL is
  released between chunks and inside zlib), fsyncs it and renames it over the dump. It does not
  create ``tmp_name``: pysyncobj's following ``rename(tmp_name, dump)`` fails and is swallowed, which
  leaves its serializer "busy" until ``check()`` reports SUCCESS/FAILED (that is how 0.3.17 supports
  asynchronous serializers). Only then does pysyncobj drop the compacted log prefix.
* ``deserialize(dump)`` (startup, and after an InstallSnapshot from the leader) restores the state -
  subscribers get a Reset - and returns pysyncobj's own tuple (last applied entries, cluster). It
  first invalidates a snapshot still being written, so that one is discarded instead of renamed.
  Remaining window: our writer may rename an older snapshot between pysyncobj's rename of a
  received one and this call; the node then loads the older file - state and raft position both
  come from that one file, so they agree, and the leader simply streams the newer snapshot again.

File format: a gzip stream of pickles - a header dict, then ``("rows", table, [(id, row), ...])``
chunks, then ``("end",)``. Rows are primitives only (see ``state.py``). With a data key (every
manager's store) the gzip stream is sealed in records (``atrest.py``); a plain file from before
is still read.
"""

from __future__ import annotations

import gzip
import logging
import os
import pickle
import threading
from pathlib import Path
from typing import Any

from pysyncobj.config import SERIALIZER_STATE

from .atrest import DataKey, open_snapshot
from .state import SNAPSHOT_FORMAT, StoreState

log = logging.getLogger(__name__)

MAGIC = "swarm-store-snapshot"
CHUNK_ROWS = 2000


class SnapshotWriter:
    def __init__(self, state: StoreState, dump_path: Path, key: DataKey | None = None) -> None:
        self._state = state
        self._key = key
        self._dump = Path(dump_path)
        self._lock = threading.Lock()
        self._status = SERIALIZER_STATE.NOT_SERIALIZING
        self._generation = 0
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.written = 0
        self.before_rename: threading.Event | None = None   # test hook: hold the writer here

    # -- pysyncobj hooks (tick thread)
    def serialize(self, _tmp_name: str, raft_data: tuple[Any, ...]) -> None:
        with self._lock:
            if self._status == SERIALIZER_STATE.SERIALIZING:
                return
            self._status = SERIALIZER_STATE.SERIALIZING
            gen = self._generation
        index, tables, recent = self._state.freeze()
        self._thread = threading.Thread(target=self._write, name="store-snapshot", daemon=True,
                                         args=(gen, raft_data, index, tables, recent))
        self._thread.start()

    def check(self) -> int:
        with self._lock:
            status = self._status
            if status in (SERIALIZER_STATE.SUCCESS, SERIALIZER_STATE.FAILED):
                self._status = SERIALIZER_STATE.NOT_SERIALIZING
            return int(status)

    def deserialize(self, dump_name: str) -> tuple[Any, ...]:
        with self._lock:
            self._generation += 1          # a snapshot being written now is older: discard it
        raft_data, data = read_snapshot(Path(dump_name), self._key)
        self._state.restore(data)
        return raft_data

    # -- worker thread
    def _write(self, gen: int, raft_data: tuple[Any, ...], index: int, tables: dict[str, Any],
               recent: list[Any]) -> None:
        tmp = self._dump.with_name(self._dump.name + ".swarm.tmp")
        ok = False
        try:
            # 0600: the snapshot holds the cluster's CA key and Raft secret (sealed with a key)
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as raw:
                sink = raw if self._key is None else self._key.writer(raw)
                with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=1) as g:
                    header = {"magic": MAGIC, "format": SNAPSHOT_FORMAT, "index": index,
                              "recent": recent, "raft": raft_data}
                    pickle.dump(header, g, protocol=pickle.HIGHEST_PROTOCOL)
                    for name, table in tables.items():
                        rows = list(table.objects.items())
                        for i in range(0, len(rows), CHUNK_ROWS):
                            pickle.dump(("rows", name, rows[i:i + CHUNK_ROWS]), g,
                                        protocol=pickle.HIGHEST_PROTOCOL)
                    pickle.dump(("end",), g)
                if sink is not raw:
                    sink.close()             # the last sealed record
                raw.flush()
                os.fsync(raw.fileno())
            if self.before_rename is not None:
                self.before_rename.wait(30)
            with self._lock:
                if gen == self._generation:
                    os.replace(tmp, self._dump)
                    ok = True
                else:
                    log.info("discarding snapshot at index %d: state was replaced meanwhile", index)
            if ok:
                _fsync_dir(self._dump.parent)
                self.written += 1
        except Exception as e:
            self.last_error = repr(e)
            log.exception("writing the store snapshot failed")
        finally:
            if not ok:
                try:
                    tmp.unlink()
                except OSError:
                    pass
            with self._lock:
                self._status = SERIALIZER_STATE.SUCCESS if ok else SERIALIZER_STATE.FAILED

    def join(self, timeout: float) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)


def read_snapshot(path: Path, key: DataKey | None = None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Return (pysyncobj's raft tuple, data for ``StoreState.restore``)."""
    with open(path, "rb") as f, gzip.GzipFile(fileobj=open_snapshot(f, key), mode="rb") as g:
        header = pickle.load(g)
        if not isinstance(header, dict) or header.get("magic") != MAGIC:
            raise ValueError(f"{path} is not a store snapshot")
        tables: dict[str, dict[str, Any]] = {}
        while True:
            item = pickle.load(g)
            if item[0] == "end":
                break
            _, name, rows = item
            tables.setdefault(name, {}).update(rows)
        # read to the end of the gzip stream: only there are its CRC and length checked, and a
        # flipped byte can still inflate and unpickle into wrong rows (tests/chaos torn-snapshot)
        if g.read(1):
            raise ValueError(f"{path} has data after its end marker")
    data = {"format": header["format"], "index": header["index"], "tables": tables,
            "recent": header["recent"]}
    return tuple(header["raft"]), data


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
