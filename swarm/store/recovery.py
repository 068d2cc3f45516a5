"""Check the Raft files before pysyncobj opens them, and repair what a crash can leave behind.

pysyncobj trusts its files. Found by the fault campaign (``tests/chaos``):

* a journal whose last record is torn (a crash in the middle of a write) makes ``FileJournal``
  read past the end of the file at start: ``struct.error`` and a daemon that crash-loops;
* a snapshot (``raft.dump``) with one bad byte is logged as "failed to load full dump" and then
  *ignored*: the node starts with an empty state and a journal that begins after the compaction
  point, so it can never apply an entry again (F1's silent loss, on one node) while it answers
  reads from the empty state.

What ``prepare(data_dir, voters)`` does, before the ``SyncObj`` exists:

* journal: walks the records (length, index/term, the length again, consecutive indexes) up to
  the recorded end; the first bad record and everything after it are dropped by moving the
  recorded end back (a torn tail, as etcd repairs its WAL). Those entries come back from the
  leader like any entries a follower is missing.
* snapshot: reads it whole (gzip's CRC and our framing). A bad one, with the journal that depends
  on it, is moved aside (``*.corrupt-<time>``, kept for a post-mortem) and the commit index in
  ``raft.journal.meta`` is reset, keeping the term and vote (Raft's durable state): the node then
  starts with an empty log and the leader sends it a snapshot (InstallSnapshot). A journal that
  is not a journal at all is handled the same way.
* alone (a single voter) there is nobody to recover from: start fails with an error naming the
  file (``CorruptRaftFilesError``) instead of serving an empty store.

Discarding a log is safe for the cluster as long as the others hold what it held: entries this
node acknowledged may only have been on it and the old leader. That is the same caveat as
pysyncobj's lack of fsync (raft-notes #84); a torn tail is the only part a plain process crash
can produce here, and the only part dropped without moving files aside.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import time
from pathlib import Path

from .atrest import DataKey
from .errors import StoreError
from .snapshot import read_snapshot

log = logging.getLogger(__name__)

# pysyncobj 0.3.17 journal.py: APP_NAME (24 B) + APP_VERSION (8 B) + FORMAT_VERSION (4 B) +
# LAST_RECORD_OFFSET (4 B), then records: size (4 B) + idx, term (2 x 8 B) + command + size (4 B)
_APP_NAME = b"PYSYNCOBJ"
LAST_RECORD_OFFSET_OFFSET = 24 + 8 + 4
FIRST_RECORD_OFFSET = LAST_RECORD_OFFSET_OFFSET + 4


class CorruptRaftFilesError(StoreError):
    """A Raft file is corrupt and there is no other member to recover from."""


def _set_last_offset(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(LAST_RECORD_OFFSET_OFFSET)
        f.write(struct.pack("<I", offset))
        f.flush()
        os.fsync(f.fileno())


def check_journal(path: Path) -> tuple[int, int, str | None]:
    """(end of the last good record, recorded end, what is wrong or None); ValueError if it is not
    a journal at all."""
    data = path.read_bytes()
    if len(data) < FIRST_RECORD_OFFSET or not data.startswith(_APP_NAME):
        raise ValueError(f"not a pysyncobj journal ({len(data)} bytes, header {data[:9]!r})")
    recorded = struct.unpack_from("<I", data, LAST_RECORD_OFFSET_OFFSET)[0]
    off, prev = FIRST_RECORD_OFFSET, None
    while off < recorded:
        if off + 4 > len(data):
            return off, recorded, f"record at {off} is cut off (file ends at {len(data)})"
        size = struct.unpack_from("<I", data, off)[0]
        end = off + 4 + size + 4
        if size < 16 or end > recorded or end > len(data):
            return off, recorded, f"record at {off} of {size} bytes runs past the end"
        if struct.unpack_from("<I", data, end - 4)[0] != size:
            return off, recorded, f"record at {off}: its two lengths differ"
        idx = struct.unpack_from("<Q", data, off + 4)[0]
        if prev is not None and idx != prev + 1:
            return off, recorded, f"record at {off} has index {idx} after {prev}"
        prev, off = idx, end
    if off != recorded:
        return off, recorded, f"last record ends at {off}, not at the recorded {recorded}"
    return off, recorded, None


def _aside(path: Path, stamp: str) -> Path | None:
    if not path.exists():
        return None
    dest = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, dest)
    return dest


def _reset_commit_index(meta: Path) -> None:
    """Keep term and vote (Raft's durable state), forget the commit index of the discarded log."""
    try:
        data = pickle.loads(meta.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data.pop("raftCommitIndex", None)
    tmp = meta.with_name(meta.name + ".tmp")
    tmp.write_bytes(pickle.dumps(data, protocol=2))
    os.replace(tmp, meta)


def prepare(data_dir: Path, voters: int, journal_name: str, dump_name: str,
            key: DataKey | None = None) -> list[str]:
    """Repair or set aside damaged Raft files in data_dir; what was done, one line each."""
    journal, dump = data_dir / journal_name, data_dir / dump_name
    meta = journal.with_name(journal.name + ".meta")
    done: list[str] = []
    bad: str | None = None
    if dump.exists():
        try:
            read_snapshot(dump, key)
        except Exception as e:  # gzip, pickle, framing: any of them means the file is unusable
            bad = f"snapshot {dump} is corrupt ({type(e).__name__}: {e})"
    if bad is None and journal.exists():
        try:
            good, recorded, problem = check_journal(journal)
        except (OSError, ValueError) as e:
            bad = f"journal {journal} is unusable ({e})"
        else:
            if problem is not None:
                _set_last_offset(journal, good)
                done.append(f"journal {journal}: {problem}; dropped the {recorded - good} bytes from "
                            f"offset {good} on (the leader sends those entries again)")
    if bad is not None:
        if voters <= 1:
            raise CorruptRaftFilesError(
                f"{bad}, and this manager is the only one: there is no member to recover from. "
                f"Restore {data_dir} from a backup, or start a new swarm (swarm init --force-new-cluster "
                f"is not supported)")
        stamp = time.strftime("%Y%m%dT%H%M%S")
        moved = [p for p in (_aside(dump, stamp), _aside(journal, stamp)) if p is not None]
        if meta.exists():
            _reset_commit_index(meta)
        done.append(f"{bad}: moved aside ({', '.join(p.name for p in moved)}); starting with an empty "
                    "log, the leader sends a snapshot")
    for line in done:
        log.warning("raft files: %s", line)
    return done
