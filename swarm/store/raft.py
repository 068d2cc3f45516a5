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
* ``dynamicMembershipChange=True``; ``password`` always; with ``tls`` (the daemon always passes
  one) the stock transport is replaced by ``raftlink.RaftLinkTransport``. What protects the Raft
  port then: mutual TLS 1.3 with the swarm certificates and the daemon's ``accept_peer`` check
  (a current, unrevoked manager) before any byte is parsed, a 5 s deadline and a 4 KiB cap for
  the handshake + first frame, a ``FRAME_LIMITS.max_frame`` cap on every frame checked before it
  is buffered, and only then pysyncobj's Fernet layer (``password``, rotated at run time with
  ``RaftNode.set_encryptor``) in front of ``pickle.loads``. Without ``tls`` (store tests, the
  harness) only the password guards it: whoever has, or once had, the password can run code on
  every member, and anyone can make a member buffer 2 GiB (raftlink.py's docstring).
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
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated
from pysyncobj.encryptor import getEncryptor

from .atrest import DataKey, SealedDataError
from .errors import NoLeaderError, QueueFullError, StoreError, UnknownOutcomeError
from .raftlink import FrameLimits, RaftLinkTransport, RaftTLS, frame_limits, link_transport
from .snapshot import SnapshotWriter
from .state import StoreState
from .types import ApplyResult

log = logging.getLogger(__name__)

JOURNAL_FILE = "raft.journal"
DUMP_FILE = "raft.dump"
MAX_PROPOSAL_BYTES = 2 * 2**20
BATCH_SIZE_BYTES = 4 * 2**20
#: Frame caps of the TLS link, derived from the two above (``raftlink.frame_limits``: 33 MiB).
FRAME_LIMITS: FrameLimits = frame_limits(MAX_PROPOSAL_BYTES, BATCH_SIZE_BYTES)

RAFT_STATES = ("follower", "candidate", "leader")
SNAPSHOT_MODES = ("thread", "fork", "sync")


class _Fsm(SyncObjConsumer):  # type: ignore[misc]  # pysyncobj is untyped
    """The replicated state machine: one entry point, snapshot hooks. Runs on the tick thread."""

    def __init__(self, state: StoreState, key: DataKey | None = None) -> None:
        self._state = state          # set before SyncObjConsumer.__init__: not auto-serialized
        self._key = key
        super().__init__()

    @replicated  # type: ignore[untyped-decorator]
    def apply_batch(self, proposal_id: object, actions: object) -> ApplyResult:
        if isinstance(actions, bytes):         # sealed (atrest.py); a list: plain, from before
            if self._key is None:
                log.critical("a sealed raft entry reached a store without a data key: not applied")
                return ("error", "sealed", "this manager has no key to open a sealed raft entry",
                        None, None, None)
            try:
                actions = self._key.open_entry(actions)
            except SealedDataError as e:
                log.critical("raft entry not applied: %s", e)
                return ("error", "sealed", str(e), None, None, None)
        return self._state.apply_batch(proposal_id, actions)

    def _serialize(self) -> dict[str, Any]:
        return self._state.snapshot_data()

    def _deserialize(self, data: Any) -> None:
        log.info("restoring store from a raft snapshot")
        self._state.restore(data)


class RaftNode(SyncObj):  # type: ignore[misc]  # pysyncobj is untyped
    """One Raft member holding the store (through ``fsm``); with ``tls``, over the TLS link.

    Everything is set before ``SyncObj.__init__``: pysyncobj snapshots every attribute set after
    it, and its tick thread is already running by then."""

    def __init__(self, self_addr: str, others: list[str], conf: SyncObjConf, state: StoreState,
                 tls: RaftTLS | None = None, key: DataKey | None = None) -> None:
        self.fsm = _Fsm(state, key)
        self._swaps = _EncryptorSwaps()
        self._links: list[RaftLinkTransport] = []
        extra: dict[str, Any] = {}
        if tls is not None:
            extra["transportClass"] = link_transport(tls, FRAME_LIMITS, self._links.append)
        super().__init__(self_addr, others, conf, consumers=[self.fsm], **extra)
        self.addOnTickCallback(self._swap_on_tick)

    def recheck_peers(self) -> None:
        """TLS link only: re-run ``accept_peer`` on every open connection at the next tick."""
        for t in self._links:
            t.request_recheck()

    def link_stats(self) -> dict[str, int] | None:
        """Refusal counters of the TLS link (``raftlink.REASONS``), None without TLS."""
        return self._links[0].stats if self._links else None

    def set_encryptor(self, encryptor: Any, timeout: float = 10.0) -> None:
        """Make ``encryptor`` (``encrypt_at_time``/``extract_timestamp``/``decrypt``, e.g. a
        ``MultiFernet``) pysyncobj's, for new and live connections. The swap runs on the tick
        thread (an on-tick callback, between two polls: no frame is half-processed); this waits
        for it. Never call it from the tick thread."""
        if threading.current_thread() is self._SyncObj__thread:
            raise StoreError("set_encryptor called on the raft tick thread (would deadlock)")
        done = self._swaps.request(encryptor)
        if not done.wait(timeout):
            raise StoreError(f"the raft tick thread did not take the new secret within {timeout} s")

    def _swap_on_tick(self) -> None:
        enc = self._swaps.take()
        if enc is None:
            return
        encryptor, events = enc
        self._SyncObj__encryptor = encryptor          # read by the transport for new connections
        transport = self._SyncObj__transport
        for conn in [*transport._connections.values(), *transport._unknownConnections]:
            conn.encryptor = encryptor
        for ev in events:
            ev.set()


class _EncryptorSwaps:
    """Encryptors waiting for the tick thread (the last one wins; every waiter is released)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: Any = None
        self._events: list[threading.Event] = []

    def request(self, encryptor: Any) -> threading.Event:
        ev = threading.Event()
        with self._lock:
            self._next = encryptor
            self._events.append(ev)
        return ev

    def take(self) -> tuple[Any, list[threading.Event]] | None:
        if not self._events:                          # unlocked peek: the common, idle case
            return None
        with self._lock:
            enc, events = self._next, self._events
            self._next, self._events = None, []
        return (enc, events) if events else None


def derive_encryptor(secret: str) -> Fernet:
    """pysyncobj's own key derivation (PBKDF2-HMAC-SHA256, 100 000 rounds, its fixed salt): ~0.1 s
    of CPU - call it off the tick thread."""
    enc: Fernet = getEncryptor(secret)
    return enc


def key_ring(send: Fernet, accept: Sequence[Fernet]) -> MultiFernet:
    """Encrypt with ``send``; decrypt (and read timestamps) with any of ``accept``, ``send`` first."""
    return MultiFernet([send, *(f for f in accept if f is not send)])


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
