"""``Store``: the public, asyncio-friendly face of the replicated store.

Threads. pysyncobj's tick thread applies entries and fires callbacks; callers live on an asyncio
loop (gRPC handlers, the leader's reconcilers) or, for tests and tools, on plain threads
(``apply_sync``). Results cross over through ``bridge.LoopBridge`` (asyncio) or a
``threading.Event`` (sync); reads take the state lock briefly and never wait for Raft.

Writes. ``apply`` validates and sizes the batch, gives it a fresh proposal id and proposes it. A
failure that pysyncobj reports as "leader changed / discarded / unknown outcome / no leader" is
re-proposed with the *same* proposal id until the deadline - the state machine remembers recent
proposal ids, so a retry of a batch that did commit returns the original index instead of applying
twice. Without quorum (this member sees no connected majority and no connected leader) ``apply``
fails fast with ``NoLeaderError`` instead of waiting for the deadline. Reads are local (possibly
stale on a follower or a partitioned leader for up to ``leader_fallback_timeout``); ``barrier()``
gives linearizable reads by pushing an empty batch through the log, one per group of concurrent
callers.

Costs to know. ``get``/``find``/``find_unique`` are dict lookups under the state lock; ``list``
copies a table's rows under it. ``view()`` is O(1) but the next write to each table then copies
that table once on the tick thread (copy-on-write): take one view per reconcile pass, not one per
event. On a 1-member cluster a commit waits for pysyncobj's next tick (~50 ms); with 3 members it
is sub-millisecond to a few ms. Single-object writes are bounded by pysyncobj's per-entry cost
(~2 000/s here); batch many objects per ``apply`` for throughput.

Membership (``add_member``, ``remove_member``, ``transfer_leadership``) lives in ``membership.py``.
The member list is persisted twice: in the replicated ``_raft/members`` row (written by the leader on
election and after every change) and in ``<data_dir>/members.json`` (this node's live config,
written from the tick thread when it changes) - read it with ``Store.saved_members(data_dir)`` to
restart a manager with the right list (raft-notes F6, pysyncobj #133).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON

from . import raft, recovery
from .atrest import DataKey
from .bridge import Bridges, resolve, wait_for
from .errors import (
    InvalidArgumentError,
    NoLeaderError,
    StoreError,
    TemporaryStoreError,
    UnknownOutcomeError,
    error_from_result,
)
from .events import DEFAULT_CAPACITY, EventLog, Subscription
from .membership import MembershipMixin
from .protocol import ObjectSource, ReplicatedStore
from .raftlink import RaftTLS
from .snapshot import SnapshotWriter
from .state import StoreState, StoreView
from .types import META_TABLE, Action, StoredObject, WireAction

log = logging.getLogger(__name__)


class Store(MembershipMixin):
    def __init__(self, self_addr: str, members: builtins.list[str], data_dir: Path | str, password: str, *,
                 bind_addr: str | None = None, leader_fallback_timeout: float = 3.0,
                 connection_retry_time: float = 1.0, compaction_min_entries: int = 50_000,
                 compaction_min_time: float = 300.0, snapshot_mode: str = "thread",
                 event_ring_size: int = DEFAULT_CAPACITY,
                 max_proposal_bytes: int = raft.MAX_PROPOSAL_BYTES, tls: RaftTLS | None = None,
                 data_key: bytes | None = None) -> None:
        if not password:
            raise ValueError("refusing to start the raft store without a password: the raft port "
                             "would accept unauthenticated pickle (remote code execution)")
        if self_addr not in members:
            raise ValueError(f"members must list every voter including self ({self_addr!r})")
        self.self_addr = self_addr
        self._initial_members = sorted(set(members))
        self.data_dir = Path(data_dir)
        self._password = password
        self._accept: builtins.list[str] = [password]
        self._fernets: dict[str, Any] = {}
        self._secrets_lock = threading.Lock()
        self._tls = tls
        #: seals every entry and snapshot this store writes (atrest.py); None: plain (unit tests)
        self._data_key = None if data_key is None else DataKey(data_key)
        self._bind_addr = bind_addr or self_addr
        self._opts = dict(leader_fallback_timeout=leader_fallback_timeout,
                          connection_retry_time=connection_retry_time,
                          compaction_min_entries=compaction_min_entries,
                          compaction_min_time=compaction_min_time, snapshot_mode=snapshot_mode)
        if snapshot_mode not in raft.SNAPSHOT_MODES:
            raise ValueError(f"snapshot_mode must be one of {raft.SNAPSHOT_MODES}")
        self._max_bytes = min(max_proposal_bytes, raft.MAX_PROPOSAL_BYTES)
        self._state = StoreState()
        self._events = EventLog(self._state, event_ring_size)
        self._bridges = Bridges()
        self._node: raft.RaftNode | None = None
        self._snapshots: SnapshotWriter | None = None
        self._closed = False
        self._leader_cbs: builtins.list[tuple[asyncio.AbstractEventLoop, Callable[[bool], Any]]] = []
        self._was_leader = False
        self._written_members: builtins.list[str] | None = None
        self._barriers: dict[asyncio.AbstractEventLoop, _BarrierGroup] = {}
        self.recovered: builtins.list[str] = []     # what start() repaired in the raft files
        self._tick_error: str | None = None
        MembershipMixin.__init__(self)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Bind the raft port and start the tick thread. Call once, from a long-lived thread."""
        if self._node is not None or self._closed:
            raise StoreError("store already started or closed")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # a torn journal tail or a corrupt snapshot: repaired, or set aside to recover from peers
        self.recovered = recovery.prepare(self.data_dir, len(self._initial_members), raft.JOURNAL_FILE,
                                          raft.DUMP_FILE, self._data_key)
        self._snapshots = SnapshotWriter(self._state, self.data_dir / raft.DUMP_FILE, self._data_key)
        conf = raft.make_conf(data_dir=self.data_dir, password=self._password, bind_addr=self._bind_addr,
                              on_state_changed=self._on_state_changed, on_ready=lambda: None,
                              writer=self._snapshots, **self._opts)  # type: ignore[arg-type]
        conf.maxBindRetries = 10
        conf.bindRetryTime = 0.3
        others = [m for m in self._initial_members if m != self.self_addr]
        node = raft.RaftNode(self.self_addr, others, conf, self._state, tls=self._tls, key=self._data_key)
        # pysyncobj stops its tick thread when the thread that built it exits; tie it to the
        # process's main thread instead, so start() may be called from an executor thread.
        node._SyncObj__mainThread = threading.main_thread()
        self._node = node
        try:
            node.waitBinded()
        except Exception as e:
            self.close()
            raise StoreError(f"cannot bind raft port {self._bind_addr}: {e}") from e
        node.addOnTickCallback(self._on_tick)
        with self._secrets_lock:
            self._fernets.setdefault(self._password, node.encryptor)
            if self._accept != [self._password]:        # set_raft_secrets before start()
                node.set_encryptor(self._key_ring(self._password, self._accept))

    def set_raft_secrets(self, send: str, accept: Sequence[str], timeout: float = 10.0) -> None:
        """Encrypt Raft traffic with ``send`` and accept frames encrypted with any of ``accept``
        (which must include ``send``), on new and live connections alike.

        The primitive for rotating the Raft secret in phases: every manager accepts old+new while
        sending old, then sends new, then accepts only new; a peer still sending a secret that is
        no longer accepted has its frames refused (connection closed). Blocking: deriving a key is
        ~0.1 s of CPU per new secret (cached per secret), then the swap waits for one Raft tick.
        Call it from a worker thread (``asyncio.to_thread``), never from the tick thread. Before
        ``start()`` it only records the secrets."""
        accept = list(dict.fromkeys(accept))
        if not send or not accept or not all(accept):
            raise InvalidArgumentError("raft secrets must be non-empty")
        if send not in accept:
            raise InvalidArgumentError("the secret a member sends with must be one it accepts")
        with self._secrets_lock:
            node = self._node
            ring = self._key_ring(send, accept) if node is not None else None
            self._password, self._accept = send, accept
            if node is not None:
                node.set_encryptor(ring, timeout)

    def recheck_raft_peers(self) -> None:
        """With ``tls``: ask ``accept_peer`` again, on the next Raft tick, about every open Raft
        connection and close those it refuses now. ``accept_peer`` otherwise only runs when a
        connection is set up: call this after demoting or removing a manager or revoking a
        certificate. Non-blocking; a no-op without ``tls``."""
        self._require_node().recheck_peers()

    def _key_ring(self, send: str, accept: builtins.list[str]) -> Any:
        for secret in accept:
            if secret not in self._fernets:
                self._fernets[secret] = raft.derive_encryptor(secret)
        for old in [s for s in self._fernets if s not in accept]:
            del self._fernets[old]
        return raft.key_ring(self._fernets[send], [self._fernets[s] for s in accept])

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until a leader is known and this member applied up to the leader's commit index."""
        deadline = time.monotonic() + timeout
        node = self._require_node()
        while not (node.isReady() and self.leader() is not None):
            if time.monotonic() > deadline:
                raise NoLeaderError()
            await asyncio.sleep(0.02)

    def close(self) -> None:
        """Stop Raft, free the port, end subscriptions. Idempotent."""
        if self._closed:
            return
        self._closed = True
        node, self._node = self._node, None
        if node is not None:
            with contextlib.suppress(Exception):
                self._save_members(node)
            node.destroy()
            thread = node._SyncObj__thread
            if thread is not None:
                thread.join(10.0)
            _reap_snapshot_child(node)
            if self._snapshots is not None:
                self._snapshots.join(30.0)
        for sub in list(self._events.subs):
            sub.close()

    # ------------------------------------------------------------------ writes
    async def apply(self, actions: Sequence[Action], timeout: float = 5.0) -> int:
        """Apply ``actions`` atomically; return the new store index. Raises ``StoreError``s."""
        return await self._propose(self._prepare(actions), timeout)

    def apply_sync(self, actions: Sequence[Action], timeout: float = 5.0) -> int:
        """Blocking ``apply`` for tests and tools. Never call it from the tick thread or a callback."""
        node = self._require_node()
        if threading.current_thread() is node._SyncObj__thread:
            raise StoreError("apply_sync called on the raft tick thread (would deadlock)")
        return self._propose_sync(self._prepare(actions), timeout)

    async def barrier(self, timeout: float = 5.0) -> int:
        """Linearizable read barrier: after it returns, local reads include every write committed
        before the call. Concurrent callers share one no-op entry. Returns the store index."""
        loop = asyncio.get_running_loop()
        group = self._barriers.get(loop)
        if group is None:
            group = self._barriers[loop] = _BarrierGroup()
        return await group.run(lambda: self._propose([], timeout))

    def _prepare(self, actions: Sequence[Action], *,
                 internal: bool = False) -> builtins.list[WireAction] | bytes:
        """The proposal for ``actions``: their wire form, sealed when the store has a data key."""
        wire = self._wire(actions, internal=internal)
        if self._data_key is None or not wire:
            return wire
        return self._data_key.seal_entry(wire)

    def _wire(self, actions: Sequence[Action], *, internal: bool = False) -> builtins.list[WireAction]:
        wire, size = [], 0
        for a in actions:
            if not isinstance(a, Action):
                raise InvalidArgumentError(f"expected Action, got {type(a).__name__}")
            if a.table == META_TABLE and not internal:
                raise InvalidArgumentError(f"table {META_TABLE!r} is internal", table=a.table, id=a.id)
            wire.append(a.to_wire())
            size += a.wire_size()
        if size > self._max_bytes:
            raise InvalidArgumentError(f"batch of {len(wire)} actions is ~{size} bytes; the limit is "
                                       f"{self._max_bytes} - split it")
        return wire

    def _outcome(self, res: Any, err: int) -> int | StoreError:
        if err == FAIL_REASON.SUCCESS:
            if isinstance(res, tuple) and len(res) == 2 and res[0] == "ok":
                return int(res[1])
            return error_from_result(res)
        return raft.failure(err)

    async def _propose(self, wire: builtins.list[WireAction] | bytes, timeout: float) -> int:
        node = self._require_node()
        loop = asyncio.get_running_loop()
        bridge = self._bridges.get(loop)
        pid, deadline, attempt = uuid.uuid4().hex, time.monotonic() + timeout, 0
        uncertain = False   # an earlier attempt may have applied: never report "not applied" then
        while True:
            if not _may_commit(node):
                raise _final(NoLeaderError(), uncertain)
            fut: asyncio.Future[Any] = loop.create_future()
            node.fsm.apply_batch(pid, wire, callback=lambda r, e, f=fut: bridge.post(resolve, f, (r, e)))
            try:
                res, err = await wait_for(fut, max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise UnknownOutcomeError(f"no result within {timeout} s; the write may or may not "
                                          "have been applied") from None
            out = self._outcome(res, err)
            if isinstance(out, int):
                return out
            uncertain = uncertain or isinstance(out, UnknownOutcomeError)
            delay = _retry_delay(out, err, attempt, deadline)
            if delay is None:
                raise _final(out, uncertain)
            attempt += 1
            await asyncio.sleep(delay)

    def _propose_sync(self, wire: builtins.list[WireAction] | bytes, timeout: float) -> int:
        node = self._require_node()
        pid, deadline, attempt = uuid.uuid4().hex, time.monotonic() + timeout, 0
        uncertain = False   # an earlier attempt may have applied: never report "not applied" then
        while True:
            if not _may_commit(node):
                raise _final(NoLeaderError(), uncertain)
            done = threading.Event()
            box: builtins.list[tuple[Any, int]] = []

            def cb(r: Any, e: int, box: builtins.list[Any] = box, done: threading.Event = done) -> None:
                box.append((r, e))
                done.set()
            node.fsm.apply_batch(pid, wire, callback=cb)
            if not done.wait(max(deadline - time.monotonic(), 0.001)):
                raise UnknownOutcomeError(f"no result within {timeout} s; the write may or may not "
                                          "have been applied")
            res, err = box[0]
            out = self._outcome(res, err)
            if isinstance(out, int):
                return out
            uncertain = uncertain or isinstance(out, UnknownOutcomeError)
            delay = _retry_delay(out, err, attempt, deadline)
            if delay is None:
                raise _final(out, uncertain)
            attempt += 1
            time.sleep(delay)

    # ------------------------------------------------------------------ reads
    def get(self, table: str, id: str) -> StoredObject | None:
        return self._state.get(table, id)

    def list(self, table: str) -> builtins.list[StoredObject]:
        return self._state.list(table)

    def find(self, table: str, index: str, key: str) -> builtins.list[StoredObject]:
        return self._state.find(table, index, key)

    def find_unique(self, table: str, index: str, key: str) -> StoredObject | None:
        return self._state.find_unique(table, index, key)

    def view(self) -> StoreView:
        return self._state.view()

    @property
    def index(self) -> int:
        return self._state.index

    # ------------------------------------------------------------------ events
    def subscribe(self, from_index: int | None = None) -> Subscription:
        """Commits after ``from_index`` (default: now). Call from the loop that will iterate it."""
        return self._events.subscribe(asyncio.get_running_loop(), from_index)[1]

    def view_and_subscribe(self) -> tuple[StoreView, Subscription]:
        """A view and a subscription starting exactly after it (atomically)."""
        view, sub = self._events.subscribe(asyncio.get_running_loop(), None, with_view=True)
        assert view is not None
        return view, sub

    # ------------------------------------------------------------------ raft status
    def is_leader(self) -> bool:
        return self._node is not None and self._node._isLeader()

    def leader(self) -> str | None:
        ld = self._node._getLeader() if self._node is not None else None
        return ld.id if ld is not None else None

    def has_quorum(self) -> bool:
        return self._node is not None and self._node.hasQuorum

    def status(self) -> dict[str, Any]:
        node = self._require_node()
        for _ in range(5):  # getStatus iterates dicts the tick thread mutates
            try:
                st = node.getStatus()
                break
            except RuntimeError:
                time.sleep(0.001)
        else:
            raise StoreError("could not read raft status")
        leader = st.get("leader")
        peers = {k[len("partner_node_status_server_"):]: v == 2 for k, v in st.items()
                 if k.startswith("partner_node_status_server_")}
        return {"self": self.self_addr, "state": raft.RAFT_STATES[st["state"]], "term": st["raft_term"],
                "commit_index": st["commit_idx"], "last_applied": st["last_applied"],
                "leader": leader.id if leader is not None else None, "has_quorum": st["has_quorum"],
                "ready": node.isReady(), "store_index": self.index, "log_len": st["log_len"],
                "members": {self.self_addr: True, **peers}}

    def on_leadership_change(self, callback: Callable[[bool], Any]) -> None:
        """Call ``callback(is_leader)`` on the caller's running loop whenever leadership flips."""
        self._leader_cbs.append((asyncio.get_running_loop(), callback))

    # ------------------------------------------------------------------ tick-thread hooks
    def _on_state_changed(self, old: int, new: int) -> None:
        is_leader = new == 2
        if is_leader == self._was_leader:
            return
        self._was_leader = is_leader
        log.info("raft %s: %s -> %s", self.self_addr, raft.RAFT_STATES[old], raft.RAFT_STATES[new])
        for loop, cb in list(self._leader_cbs):
            self._bridges.get(loop).post(cb, is_leader)
        if is_leader:
            self._propose_members_async()

    def _on_tick(self) -> None:
        node = self._node
        if node is None:
            return
        # runs inside pysyncobj's tick: an exception here aborts the rest of every tick (a full
        # disk made a follower drop out of Raft until space came back). Retried on the next tick.
        try:
            self._save_members(node)
        except OSError as e:
            if self._tick_error != str(e):
                log.warning("cannot save the member list in %s: %s (retrying)", self.data_dir, e)
                self._tick_error = str(e)
        else:
            self._tick_error = None

    def _require_node(self) -> raft.RaftNode:
        if self._node is None:
            raise StoreError("store is closed" if self._closed else "store not started")
        return self._node


def _may_commit(node: raft.RaftNode) -> bool:
    """Fast "no leader" check: we see a connected majority, or we follow a leader we are connected
    to (a member that just joined may not have dialled every peer yet, but can forward)."""
    if node.hasQuorum:
        return True
    leader = node._getLeader()
    return leader is not None and leader != node.selfNode and node.isNodeConnected(leader)


def _retry_delay(out: StoreError, err: int, attempt: int, deadline: float) -> float | None:
    """Seconds to wait before re-proposing, or None to give up and raise ``out``."""
    if not isinstance(out, TemporaryStoreError) or not raft.retryable(err):
        return None
    delay = min(0.02 * 2**attempt, 0.25)
    return delay if time.monotonic() + delay < deadline else None


def _final(err: StoreError, uncertain: bool) -> StoreError:
    """The error to raise after the last attempt: once any attempt had an unknown outcome, a later
    "no leader" must not claim the write was not applied."""
    if uncertain and not isinstance(err, UnknownOutcomeError) and isinstance(err, TemporaryStoreError):
        return UnknownOutcomeError(f"write outcome unknown (then: {err})", retry_after=err.retry_after)
    return err


class _BarrierGroup:
    """Coalesce concurrent barriers: a caller is covered by any barrier *started* after it arrived."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.arrived = 0
        self.covered = 0
        self.result = 0

    async def run(self, propose: Callable[[], Any]) -> int:
        self.arrived += 1
        ticket = self.arrived
        async with self.lock:
            if self.covered >= ticket:
                return self.result
            upto = self.arrived
            self.result = await propose()
            self.covered = upto
            return self.result


def _reap_snapshot_child(node: raft.RaftNode) -> None:
    """Wait (bounded) for a forked snapshot writer so it does not outlive us as a zombie."""
    ser = getattr(node, "_SyncObj__serializer", None)
    pid = getattr(ser, "_Serializer__pid", 0) if ser is not None else 0
    if pid > 0:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                return
            time.sleep(0.01)


def _provides_the_protocol(store: Store, view: StoreView) -> tuple[ReplicatedStore, ObjectSource]:
    """Never called: mypy checks here that Store and its views satisfy the typed seam."""
    return store, view
