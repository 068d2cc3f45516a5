"""The manager role of a node: the Raft store replica, the control API, the CA server, and the
leader-only components (started on election, stopped on losing it, each reconciling from the
store when it starts — swarmkit's becomeLeader/becomeFollower shape).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from swarm.api.objects_pb2 import Node
from swarm.ca.sealing import SecretsKey, load_key, save_key
from swarm.ca.storage import NodeTLS
from swarm.controlapi.api import ControlAPI
from swarm.controlapi.common import Context
from swarm.controlapi.events import EventHistory
from swarm.daemon.ca_server import NodeCAServer
from swarm.daemon.state import NodeState
from swarm.daemon.trust import StoreTrust
from swarm.dispatcher.dispatcher import Dispatcher
from swarm.reconciler.supervisor import Component, Supervisor
from swarm.store import RaftTLS, Store
from swarm.store.atrest import RAFT_DATA_PURPOSE
from swarm.store.raftlink import raft_tls_contexts
from swarm.store.typed import Reader

log = logging.getLogger(__name__)

def leader_components() -> list[Callable[[Any], Any]]:
    """Factories ``store -> component`` for every leader-only reconciler, in start order: the
    consumers that move tasks forward (allocator, scheduler) start before the producers, so the
    first tasks a new leader makes are picked up at once. Any order is correct: each component
    reconciles from the store on start."""
    from swarm.allocator.allocator import Allocator
    from swarm.orchestrator.constraint_enforcer import ConstraintEnforcer
    from swarm.orchestrator.global_ import GlobalOrchestrator
    from swarm.orchestrator.jobs import JobsOrchestrator
    from swarm.orchestrator.reaper import TaskReaper
    from swarm.orchestrator.replicated import ReplicatedOrchestrator
    from swarm.orchestrator.restart import RestartSupervisor
    from swarm.scheduler.loop import SchedulerLoop

    return [Allocator, SchedulerLoop, RestartSupervisor, ReplicatedOrchestrator, GlobalOrchestrator,
            JobsOrchestrator, TaskReaper, ConstraintEnforcer]


def raft_secret_path(data_root: Path) -> Path:
    return data_root / "raft" / "secret"


def save_raft_secret(data_root: Path, secret: bytes, kek: bytes | None = None) -> None:
    """The Raft password (0600, atomically), sealed with the unlock key ``kek`` when given."""
    from swarm.ca.storage import atomic_write
    from swarm.ca.unlockkey import wrap

    p = raft_secret_path(data_root)
    atomic_write(p, wrap(kek, p.name, secret), 0o600)


def save_secrets_key(data_root: Path, key: bytes, kek: bytes | None = None) -> None:
    """The managers' secrets key (swarm.ca.sealing), kept beside the Raft data: a demoted or
    departed manager's raft directory goes, and the key with it. Nothing saved when the
    leader had none to give (an old manager)."""
    if key:
        (data_root / "raft").mkdir(parents=True, exist_ok=True)
        save_key(data_root / "raft", SecretsKey(key), kek)


def load_raft_secret(data_root: Path, kek: bytes | None = None) -> bytes:
    from swarm.ca.unlockkey import unseal

    p = raft_secret_path(data_root)
    return unseal(kek, p.name, p.read_bytes())


#: test-only: compact the Raft log (write a snapshot) after this many seconds instead of 300, so a
#: short fault campaign (tests/chaos) has snapshots to restart from and to corrupt
COMPACTION_ENV = "PYSWARM_TEST_COMPACTION_MIN_TIME"


def compaction_min_time_from_env(default: float = 300.0) -> float:
    raw = os.environ.get(COMPACTION_ENV)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{COMPACTION_ENV} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{COMPACTION_ENV} must be positive, not {raw!r}")
    return value


#: how long the end of a term waits for its components before cancelling the stragglers again
TERM_GRACE = 5.0


async def end_term(term: asyncio.Task[Any], grace: float = TERM_GRACE) -> None:
    """Cancel a leadership term and wait until every component has stopped. A component that
    swallowed its cancellation (Python 3.11's ``asyncio.wait_for`` does when the awaited result
    lands in the same loop iteration) is cancelled again after ``grace`` s: before, the watcher
    waited for ever, this manager became leader again with half its components still running
    from the last term and the others never restarted (tests/chaos, after a bridge partition)."""
    term.cancel()
    while True:
        done, _ = await asyncio.wait([term], timeout=grace)
        if done:
            return
        stuck = [t for t in asyncio.all_tasks() if t.get_name().startswith("leader:") and not t.done()]
        log.error("leader components still running %.0f s after the end of the term, cancelling "
                  "them again: %s", grace, ", ".join(t.get_name() for t in stuck) or "(none)")
        for t in stuck:
            t.cancel()
        if not stuck:
            term.cancel()


class ManagerRole:
    def __init__(self, data_root: Path, state: NodeState, raft_secret: bytes,
                 tls: Callable[[], NodeTLS] | None = None, keys: Any = None) -> None:
        """``keys``: the daemon's ``swarm.daemon.keyfiles.KeyFiles`` (the key files and the unlock
        key sealing them); None in tests that run a bare manager (files in clear)."""
        self.data_root = data_root
        self.state = state
        self.keys = keys
        members = Store.saved_members(data_root / "raft") or state.raft_members or [state.raft_addr]
        if state.raft_addr not in members:
            members = [*members, state.raft_addr]
        self.secrets_key = keys.load_secrets_key() if keys is not None else load_key(data_root / "raft")
        if self.secrets_key is None:
            log.warning("this manager has no secrets key: it cannot create or deliver secrets, and "
                        "its Raft data is not encrypted at rest")
        self.store = Store(
            state.raft_addr, members, data_root / "raft", raft_secret.decode(),
            bind_addr=state.raft_addr, tls=None if tls is None else self._raft_tls(tls),
            compaction_min_time=compaction_min_time_from_env(),
            data_key=None if self.secrets_key is None else self.secrets_key.derive(RAFT_DATA_PURPOSE),
        )
        self.events = EventHistory(self.store)
        self.ctx = Context(self.store, raft=_RaftReachability(self), secrets_key=self.secrets_key,
                           events=self.events)
        self.control_api = ControlAPI(self.ctx)
        self.trust = StoreTrust(self.store)
        self.ca_server = NodeCAServer(self.store, self.trust)
        self.dispatcher: Dispatcher | None = None
        self.logbroker: Any = None
        self._term: asyncio.Task[None] | None = None
        self._leadership_q: asyncio.Queue[bool] = asyncio.Queue()
        self._watcher: asyncio.Task[None] | None = None
        self.membership_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._raft_secret = raft_secret
        #: set by the daemon when the node has a network layer (node.network.NodeNetwork)
        self.raft_gate: Callable[[frozenset[str]], bool] | None = None
        self.security: Any = None       # swarm.daemon.raftsecret.SecretFollower, once started

    def _raft_tls(self, tls: Callable[[], NodeTLS]) -> RaftTLS:
        """The Raft link in mutual TLS with this node's certificate (the current one: renewals
        take effect on the next connection), a peer accepted only when the store says it is a
        manager (swarm.daemon.trust.StoreTrust.raft_peer_ok)."""
        cache: dict[bytes, tuple[ssl.SSLContext, ssl.SSLContext]] = {}

        def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
            t = tls()
            if t.cert_pem not in cache:
                cache.clear()
                cache[t.cert_pem] = raft_tls_contexts(t.root_ca_pem, t.cert_pem, t.key_pem)
            return cache[t.cert_pem]

        def accept_peer(cert_der: bytes) -> bool:
            ok = self.trust.raft_peer_ok(cert_der, tls().root_ca_pem, self.state.cluster_id)
            if not ok:
                log.warning("raft link: refused a peer certificate that is not a current manager's")
            return ok

        return RaftTLS(contexts=contexts, accept_peer=accept_peer)

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self, wait_ready: float | None = 60.0) -> None:
        """Start the replica. With `wait_ready` None, do not wait for it to catch up (a restart
        after a full-cluster stop has no quorum until enough members are back)."""
        self.store.on_leadership_change(self._leadership_q.put_nowait)
        raft_dir = self.data_root / "raft"
        raft_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(raft_dir, 0o700)
        await asyncio.to_thread(self.store.start)
        _restrict(raft_dir)
        from swarm.daemon.raftsecret import SecretFollower, secret_saver

        saver = secret_saver(self.data_root) if self.keys is None else self.keys.save_raft_secret
        self.security = SecretFollower(self.store, self._raft_secret, saver,
                                       gate=self.raft_gate, initial_members=tuple(self.state.raft_members))
        self.background(self.security.run())
        if self.keys is not None:
            from swarm.daemon.keyfiles import UnlockKeyFollower

            self.background(UnlockKeyFollower(self.store, self.keys).run())
        self.background(self.events.run())
        if wait_ready is not None:
            await self.store.wait_ready(wait_ready)
        self._watcher = asyncio.create_task(self._watch_leadership())
        if self.store.is_leader():
            self._leadership_q.put_nowait(True)

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self._stop_leader_components()
        for t in list(self._background):
            t.cancel()
        await asyncio.to_thread(self.store.close)

    async def wait_leader(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.store.leader() is None:
            if loop.time() > deadline:
                raise TimeoutError("no Raft leader elected")
            await asyncio.sleep(0.05)

    async def _watch_leadership(self) -> None:
        leading = False
        while True:
            now_leader = await self._leadership_q.get()
            now_leader = self.store.is_leader()
            if now_leader and not leading:
                leading = True
                log.info("became leader: starting leader components")
                await self._start_leader_components()
            elif not now_leader and leading:
                leading = False
                log.info("lost leadership: stopping leader components")
                await self._stop_leader_components()

    def leader_components(self) -> list[Component]:
        """The one list of leader-only components, in start order: the dispatcher (sessions and
        node liveness), the role manager, the orchestrators, allocator and scheduler loop
        (:func:`leader_components`), and the rolling updater."""
        from swarm.daemon.rolemanager import RoleManager
        from swarm.orchestrator.update import UpdateSupervisor

        # built now, not when its task first runs: servicers use manager.dispatcher as soon as
        # the term starts; a restart after a crash builds (and publishes) a fresh one
        first: list[Dispatcher] = [Dispatcher(self.store, secrets_key=self.secrets_key)]
        self.dispatcher = first[0]

        def dispatcher() -> Dispatcher:
            self.dispatcher = first.pop() if first else Dispatcher(self.store, secrets_key=self.secrets_key)
            return self.dispatcher

        def store_component(cls: Callable[[Any], Any]) -> Component:
            return Component(getattr(cls, "__name__", str(cls)), lambda: cls(self.store))

        return [Component("dispatcher", dispatcher), Component("role manager", lambda: RoleManager(self)),
                *[store_component(cls) for cls in [*leader_components(), UpdateSupervisor]]]

    async def _start_leader_components(self) -> None:
        """One leadership term: every leader component under one TaskGroup
        (:class:`swarm.reconciler.supervisor.Supervisor`: a crashing component is logged and
        restarted with backoff; leadership is not given up for it)."""
        from swarm.dispatcher.logbroker import LogBroker

        self.logbroker = LogBroker(self.store)
        self._term = asyncio.create_task(Supervisor(self.leader_components()).run(),
                                         name="leadership term")
        self._term.add_done_callback(_log_crash)

    async def _stop_leader_components(self) -> None:
        """The end of the term is cancelling its TaskGroup; errors while stopping are logged by
        the supervisor."""
        term, self._term = self._term, None
        if term is not None:
            await end_term(term)
        self.dispatcher = None
        self.logbroker = None

    # ---- queries -----------------------------------------------------------------------------

    def leader_node(self) -> Node | None:
        leader = self.store.leader()
        if leader is None:
            return None
        for n in Reader(self.store).list(Node):
            if n.manager_status.raft_addr == leader:
                return n
        return None

    def leader_api_addr(self) -> str | None:
        n = self.leader_node()
        return n.manager_status.addr if n is not None else None

    def background(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run `coro` for the life of this role (cancelled on stop), logging a crash."""
        task = asyncio.ensure_future(coro)
        task.add_done_callback(_log_crash)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


class _RaftReachability:
    def __init__(self, role: ManagerRole) -> None:
        self.role = role

    def manager_reachable(self, node_id: str) -> bool:
        node = Reader(self.role.store).get(Node, node_id)
        if node is None:
            return False
        addr = node.manager_status.raft_addr
        if addr == self.role.state.raft_addr:
            return True
        return bool(self.role.store.status().get("members", {}).get(addr, False))


def _restrict(raft_dir: Path) -> None:
    """The journal, its meta and the snapshot hold the CA key and the Raft secret: owner only
    (pysyncobj creates the journal with the process umask; our snapshot writer uses 0600)."""
    for p in raft_dir.iterdir():
        if p.is_file():
            os.chmod(p, 0o600)


def _log_crash(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("leader component crashed: %r", exc, exc_info=exc)
