"""The pysyncobj side: one ``SyncObj`` subclass per manager, its configuration, and result mapping.

Shape. ``RaftNode(SyncObj)`` carries the whole replicated store through one consumer, ``_Fsm``,
whose only replicated method is ``apply_batch(proposal_id, actions)``. Why a consumer rather than
attributes on the SyncObj subclass itself:

* pysyncobj snapshots "every attribute set after ``SyncObj.__init__``", but its tick thread is
  already running (and may load a dump into ``__dict__``) before a subclass ``__init__`` can set
  them - a race. A consumer is built completely before the ``SyncObj`` exists.
* ``__loadDumpFile`` writes a SyncObj's ``__dict__`` directly, but calls ``consumer._deserialize``:
  that is our hook to know the state was replaced (restart, InstallSnapshot) and to emit a Reset
  to subscribers (raft-notes §10.2).
* ``_serialize`` returns primitives only (see ``StoreState.snapshot_data``), so the dump file does
  not depend on our class names.

Configuration (raft-notes §10.6, bugs F1-F8 measured on this machine):

* ``appendEntriesUseBatch=False``: sub-ms commits instead of ~100 ms per write.
* ``journalFile`` AND ``fullDumpFile`` under ``data_dir`` - the journal alone loses everything after
  a compaction and a full restart (F1).
* ``leaderFallbackTimeout`` 3 s (default 30 s: a partitioned leader keeps believing it leads),
  ``connectionRetryTime`` 1 s (default 5 s rejoin delay), ``commandsWaitLeader=False`` (fail fast
  with MISSING_LEADER instead of queueing a write that may apply after its caller gave up).
* default election timeouts 0.4-1.4 s: shorter ones made failover slower here (F8).
* ``dynamicMembershipChange=True``; ``password`` always (without it the port is a pickle RCE).
* ``logCompactionMinEntries`` 50 000; snapshots are written by a worker thread from a
  copy-on-write view through pysyncobj's custom-serializer hooks (``snapshot.py``), not by
  pysyncobj's fork()ed child and not synchronously on the tick thread (0.7 s for 20 MiB, F7).
  ``snapshot_mode="fork"`` / ``"sync"`` keep pysyncobj's own paths for comparison.
* ``appendEntriesBatchSizeBytes`` 4 MiB while proposals are capped at 2 MiB: an entry at least as
  large as the batch size goes through pysyncobj's chunked "transmission" path, whose 'finish'
  test compares a pickled length with a raw length (reads as an off-by-a-few-bytes bug); capping
  proposals below the batch size keeps us on the plain path.

Fork safety. pysyncobj's default snapshot forks the manager, which is multi-threaded (tick thread,
asyncio, gRPC). We measured it next to a busy grpc.aio server (``bench/store_fork_check.py``,
``bench/results/store_fork.json``): the forked child sometimes died inside gRPC's at-fork handling
(no dump written), and with ``GRPC_ENABLE_FORK_SUPPORT=1`` it deadlocked and never exited, which
blocks all later compactions. Hence the thread-based writer by default; see ``snapshot.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated

from .errors import NoLeaderError, QueueFullError, StoreError, UnknownOutcomeError
from .snapshot import SnapshotWriter
from .state import StoreState

log = logging.getLogger(__name__)

JOURNAL_FILE = "raft.journal"
DUMP_FILE = "raft.dump"
MAX_PROPOSAL_BYTES = 2 * 2**20
BATCH_SIZE_BYTES = 4 * 2**20

RAFT_STATES = ("follower", "candidate", "leader")
SNAPSHOT_MODES = ("thread", "fork", "sync")


class _Fsm(SyncObjConsumer):
    """The replicated state machine: one entry point, snapshot hooks. Runs on the tick thread."""

    def __init__(self, state: StoreState) -> None:
        self._state = state          # set before SyncObjConsumer.__init__: not auto-serialized
        super().__init__()

    @replicated
    def apply_batch(self, proposal_id: object, actions: object) -> tuple:
        return self._state.apply_batch(proposal_id, actions)

    def _serialize(self) -> dict:
        return self._state.snapshot_data()

    def _deserialize(self, data: Any) -> None:
        log.info("restoring store from a raft snapshot")
        self._state.restore(data)


class RaftNode(SyncObj):
    """One Raft member holding the store (through ``fsm``)."""

    def __init__(self, self_addr: str, others: list[str], conf: SyncObjConf, state: StoreState) -> None:
        self.fsm = _Fsm(state)
        super().__init__(self_addr, others, conf, consumers=[self.fsm])


def make_conf(*, data_dir: Path, password: str, bind_addr: str | None, leader_fallback_timeout: float,
              connection_retry_time: float, compaction_min_entries: int, compaction_min_time: float,
              snapshot_mode: str, on_state_changed: Callable[[int, int], None],
              on_ready: Callable[[], None], writer: SnapshotWriter | None) -> SyncObjConf:
    if snapshot_mode not in SNAPSHOT_MODES:
        raise ValueError(f"snapshot_mode must be one of {SNAPSHOT_MODES}")
    hooks: dict[str, Any] = {}
    if snapshot_mode == "thread":
        assert writer is not None
        hooks = dict(serializer=writer.serialize, deserializer=writer.deserialize,
                     serializeChecker=writer.check)
    return SyncObjConf(
        **hooks,
        password=password,
        appendEntriesUseBatch=False,
        appendEntriesBatchSizeBytes=BATCH_SIZE_BYTES,
        sendBufferSize=2**20,
        recvBufferSize=2**20,
        journalFile=str(data_dir / JOURNAL_FILE),
        fullDumpFile=str(data_dir / DUMP_FILE),
        leaderFallbackTimeout=leader_fallback_timeout,
        connectionRetryTime=connection_retry_time,
        commandsWaitLeader=False,
        dynamicMembershipChange=True,
        logCompactionMinEntries=compaction_min_entries,
        logCompactionMinTime=compaction_min_time,
        useFork=snapshot_mode == "fork",
        bindAddress=bind_addr,
        onStateChanged=on_state_changed,
        onReady=on_ready,
    )


# How each pysyncobj failure reason maps onto our error tree, and whether Store.apply may retry it
# with the same proposal id (the state machine de-duplicates, so a retry cannot apply twice).
_RETRYABLE = {FAIL_REASON.LEADER_CHANGED, FAIL_REASON.DISCARDED, FAIL_REASON.UNKNOWN_OUTCOME,
              FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER}


def failure(err: int) -> StoreError:
    if err == FAIL_REASON.QUEUE_FULL:
        return QueueFullError("raft command queue is full", retry_after=0.1)
    if err in (FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER):
        return NoLeaderError()
    names = {v: k for k, v in vars(FAIL_REASON).items() if k.isupper()}
    return UnknownOutcomeError(f"write outcome unknown ({names.get(err, err)}); it may or may not "
                               "have been applied", retry_after=0.1)


def retryable(err: int) -> bool:
    return err in _RETRYABLE
