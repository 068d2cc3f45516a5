"""Rotating the Raft secret when a manager is demoted, so that an ex-manager who kept it holds
nothing the managers still accept.

The secret keys pysyncobj's frame encryption (behind the mutual-TLS Raft link, which already
refuses an ex-manager's certificate: this is the second lock). Every manager can hold several
keys at once (``Store.set_raft_secrets``: send with one, accept any of a list), so the change
goes in phases through the replicated cluster object, never cutting a link:

1. the leader writes ``raft_secret_next``: each manager, on applying it, accepts old and new and
   still sends with the old one;
2. ``PHASE_DELAY`` later (every reachable manager has applied phase 1: commits reach followers
   within a heartbeat) the leader writes ``raft_secret = next``: each manager sends with the new
   one, still accepting the old;
3. ``GRACE`` after it applied phase 2, a manager accepts the new secret only.

A manager that was down during a rotation comes back with the old secret, which nobody accepts
any more: at start it first asks the leader for the current one over mTLS (RaftMembership.Join,
idempotent for a member, authorised by its current manager certificate), and only when no
leader answers (a full-cluster restart) starts with the secret saved on disk.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swarm.store import ConflictError, ObjectStore, Store, typed
from swarm.store.typed import Reader

log = logging.getLogger(__name__)

PHASE_DELAY = 2.0
GRACE = 10.0
POLL = 0.5


async def rotate(store: ObjectStore) -> None:
    """Leader: run phases 1 and 2 (phase 3 is each manager's own)."""
    new = secrets.token_urlsafe(32).encode()
    await _write(store, lambda cl: setattr(cl, "raft_secret_next", new))
    await asyncio.sleep(PHASE_DELAY)

    def promote(cl: Any) -> None:
        if cl.raft_secret_next == new:
            cl.raft_secret = new
            cl.raft_secret_next = b""
            cl.raft_secret_generation += 1

    await _write(store, promote)
    log.info("raft secret rotated")


async def _write(store: ObjectStore, change: Callable[[Any], None]) -> None:
    for _ in range(8):
        cl = Reader(store).cluster()
        if cl is None:
            return
        change(cl)
        try:
            await store.apply([typed.update(cl)])
            return
        except ConflictError:
            continue
    raise RuntimeError("could not write the raft secret rotation (too many concurrent writes)")


class SecretFollower:
    """Every manager: keeps the Raft link's keys in step with the cluster object, the saved
    secret on disk with the one in use, and has open Raft links re-checked when a manager is
    demoted or a certificate revoked."""

    def __init__(self, store: Store, current: bytes, save: Callable[[bytes], None],
                 gate: Callable[[frozenset[str]], bool] | None = None,
                 initial_members: tuple[str, ...] = ()) -> None:
        self.store = store
        # the node's nftables gate on the Raft port (node.network), when it has one: set to the
        # hosts that may speak Raft to us; returns False while it cannot be set yet
        self.gate = gate
        self._initial = initial_members
        self._gated: frozenset[str] | None = None
        self.current = current
        self.save = save
        self._old: bytes | None = None
        self._seen: bytes | None = None
        self._peers_key: tuple[frozenset[str], frozenset[str]] | None = None
        self._old_until = 0.0
        self._applied: tuple[bytes, tuple[bytes, ...]] = (current, (current,))

    def wanted(self, now: float) -> tuple[bytes, tuple[bytes, ...]]:
        cl = Reader(self.store).cluster()
        # follow *changes* of the replicated secret: at start the replica may still hold an
        # older one than the secret on disk (refreshed from the leader), which must not win
        if cl is not None and cl.raft_secret:
            value = bytes(cl.raft_secret)
            if self._seen is None:
                self._seen = value
            elif value != self._seen:
                self._seen = value
                if value != self.current:
                    self._old, self._old_until = self.current, now + GRACE
                    self.current = value
                    self.save(self.current)
        accept = [self.current]
        if cl is not None and cl.raft_secret_next:
            accept.append(bytes(cl.raft_secret_next))
        if self._old is not None and now < self._old_until:
            accept.append(self._old)
        return self.current, tuple(dict.fromkeys(accept))

    def peers_changed(self) -> bool:
        """True when the revoked serials or the set of nodes meant to be managers changed since
        the last call: open Raft links are then checked again (``Store.recheck_raft_peers``), so a
        demoted manager's live connection is closed, not only its next one refused."""
        from swarm.api.objects_pb2 import Node
        from swarm.api.types_pb2 import MANAGER
        from swarm.ca.revocation import revoked_serials

        r = Reader(self.store)
        key = (revoked_serials(r.cluster()),
               frozenset(n.id for n in r.list(Node) if n.spec.desired_role == MANAGER))
        changed = self._peers_key is not None and key != self._peers_key
        self._peers_key = key
        return changed

    def raft_hosts(self) -> frozenset[str]:
        """Who may reach our Raft port: the current Raft members, every node meant to be a
        manager (a joining one is not a member yet), and the members we started with (a new
        replica's store is still empty)."""
        from swarm.api.objects_pb2 import Node
        from swarm.api.types_pb2 import MANAGER

        addrs = [*self.store.members(), *self._initial]
        for n in Reader(self.store).list(Node):
            if n.spec.desired_role == MANAGER:
                addrs.append(n.manager_status.raft_addr or n.status.addr)
        return frozenset(a.rsplit(":", 1)[0].strip("[]") if a.count(":") else a for a in addrs if a)

    async def admit(self, host: str) -> None:
        """Open the Raft gate to a manager about to be added (the leader, before the membership
        change: a 1 -> 2 change cannot commit until the new member gets through)."""
        if self.gate is None:
            return
        hosts = self.raft_hosts() | {host}
        try:
            if await asyncio.to_thread(self.gate, hosts):
                self._gated = hosts
        except Exception as e:       # the join goes on; the follower loop retries the gate
            log.warning("raft gate: could not admit %s: %s", host, e)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if self.gate is not None:
                    hosts = self.raft_hosts()
                    if hosts != self._gated and await asyncio.to_thread(self.gate, hosts):
                        self._gated = hosts
                        log.info("raft port open to %s only", ", ".join(sorted(hosts)))
                if self.peers_changed():
                    self.store.recheck_raft_peers()
                want = self.wanted(loop.time())
                if want != self._applied:
                    send, accept = want
                    await asyncio.to_thread(self.store.set_raft_secrets, send.decode(),
                                            [a.decode() for a in accept])
                    self._applied = want
                    log.info("raft link keys: sending with generation secret, accepting %d", len(accept))
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("raft secret follower: %s", e)
            await asyncio.sleep(POLL)


async def refresh_from_leader(remote_managers: list[str], own_addr: str, tls: Any,
                              save: Callable[[bytes], None], timeout: float = 3.0) -> bytes | None:
    """At a manager's restart: fetch the current secret from the leader, asking every other
    known manager at once; the secret when one answered (None otherwise), saved if the disk
    takes it: a full disk (tests/chaos enospc) must not keep the manager from starting with it."""
    from swarm.daemon.joining import raft_join

    asks = [asyncio.create_task(raft_join(a, tls, own_addr)) for a in remote_managers if a != own_addr]
    try:
        pending = set(asks)
        deadline = asyncio.get_running_loop().time() + timeout
        while pending:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            done, pending = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t.exception() is None and t.result()[1]:
                    secret: bytes = t.result()[1]
                    try:
                        save(secret)
                    except OSError as e:
                        log.warning("could not save the current raft secret (%s): using it from memory", e)
                    return secret
        return None
    finally:
        for t in asks:
            t.cancel()
        await asyncio.gather(*asks, return_exceptions=True)


def secret_saver(data_root: Path) -> Callable[[bytes], None]:
    from swarm.daemon.manager import save_raft_secret

    return lambda secret: save_raft_secret(data_root, secret)


__all__ = ["GRACE", "PHASE_DELAY", "SecretFollower", "refresh_from_leader", "rotate", "secret_saver"]
