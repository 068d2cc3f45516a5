"""A node's key files and the unlock key they are sealed with (autolock, reference §6.5).

The files: the node's TLS key (``certificates/swarm-node.key``) and, on a manager, the Raft
secret (``raft/secret``) and the managers' secrets key (``raft/secrets.key``, from which the Raft
data key derives). Without autolock they are in clear (0600). With it, every manager seals them
with the cluster's unlock key (``Cluster.manager_unlock_key``, replicated inside the sealed Raft
data): :class:`UnlockKeyFollower` rewrites them whenever autolock is turned on or off or the key
rotates, and a manager that restarts finds them sealed and stays locked until ``swarm unlock``
(``KeyFiles.unlock``). A worker's key is never sealed (Docker's neither).

Rekeying rewrites three files, one at a time. So that a crash in the middle never leaves a node
that no key can unlock, ``raft/unlock.transition`` is written first: the new key sealed with the
old and the old sealed with the new. Given either key, :meth:`KeyFiles.unlock` finds the other
there and opens every file with whichever of the two it was sealed with; the next rekey (or the
follower, once unlocked) writes them all under the current key and removes the transition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from swarm.ca.sealing import SecretsKey, key_path, load_key
from swarm.ca.storage import NODE_KEY_FILE, NodeTLS, atomic_write, cert_dir, load_node_tls
from swarm.ca.storage import save_node_tls as _save_node_tls
from swarm.ca.unlockkey import WrongUnlockKeyError, is_sealed, seal, unseal, wrap
from swarm.daemon.manager import load_raft_secret, raft_secret_path, save_raft_secret, save_secrets_key

log = logging.getLogger(__name__)

TRANSITION_FILE = "unlock.transition"
#: how often a manager compares its files' key with the cluster's
POLL = 0.5


class KeyFiles:
    def __init__(self, data_root: Path) -> None:
        self.data_root = Path(data_root)
        #: the unlock key the files are sealed with now (None: in clear)
        self.kek: bytes | None = None
        # a save (a certificate renewal, a Raft secret rotation) and a rekey never interleave
        self._lock = threading.RLock()

    # ---- the files
    def sealed(self) -> bool:
        """Whether any key file is sealed on disk: a manager restarting under autolock (any, not
        the TLS key alone: turning autolock on or off may have been cut short by a crash)."""
        return any(is_sealed(p.read_bytes()) for p in self._paths())

    def save_tls(self, tls: NodeTLS) -> None:
        with self._lock:
            _save_node_tls(self.data_root, tls, self.kek)

    def load_tls(self) -> NodeTLS:
        return load_node_tls(self.data_root, self.kek)

    def save_raft_secret(self, secret: bytes) -> None:
        with self._lock:
            save_raft_secret(self.data_root, secret, self.kek)

    def load_raft_secret(self) -> bytes:
        return load_raft_secret(self.data_root, self.kek)

    def save_secrets_key(self, key: bytes) -> None:
        with self._lock:
            save_secrets_key(self.data_root, key, self.kek)

    def load_secrets_key(self) -> SecretsKey | None:
        return load_key(self.data_root / "raft", self.kek)

    def forget(self) -> None:
        """The node left, or is a worker now: nothing of its own is sealed any more."""
        self.kek = None

    # ---- unlock and rekey
    def unlock(self, kek: bytes) -> NodeTLS:
        """Open every file with ``kek`` (or the key it names in a transition left by a crash);
        raises ``WrongUnlockKeyError`` if ``kek`` opens nothing."""
        keys = [kek]
        other = self._transition_partner(kek)
        if other is not None:
            keys.append(other)
        opened: dict[str, bytes] = {}
        for path in self._paths():
            blob = path.read_bytes()
            for k in keys:
                with contextlib.suppress(WrongUnlockKeyError):
                    opened[path.name] = unseal(k, path.name, blob)
                    break
            else:
                raise WrongUnlockKeyError()
        # write them all under one key: the one a rekey cut short by a crash was moving to, and
        # files left in clear by an autolock switch cut short are sealed too
        with self._lock:
            self.kek = kek if other is None else self._transition_target(kek, other)
            self._write_all(opened)
            self._transition_path().unlink(missing_ok=True)
        if other is not None:
            log.info("finished the unlock key change a crash had cut short")
        return self.load_tls()

    def rekey(self, new: bytes | None) -> None:
        """Rewrite every key file present under ``new`` (None: in clear)."""
        with self._lock:
            if new == self.kek:
                return
            opened = {p.name: unseal(self.kek, p.name, p.read_bytes()) for p in self._paths()}
            old = self.kek
            if old is not None and new is not None:
                self._write_transition(old, new)
            self.kek = new
            self._write_all(opened)
            self._transition_path().unlink(missing_ok=True)
        log.info("key files %s", "sealed with the unlock key" if new else "in clear (autolock off)")

    # ---- internals
    def _paths(self) -> list[Path]:
        paths = [cert_dir(self.data_root) / NODE_KEY_FILE, raft_secret_path(self.data_root),
                 key_path(self.data_root / "raft")]
        return [p for p in paths if p.exists()]

    def _write_all(self, opened: dict[str, bytes]) -> None:
        secrets_name = key_path(self.data_root / "raft").name
        raft_name = raft_secret_path(self.data_root).name
        if secrets_name in opened:
            self.save_secrets_key(opened[secrets_name])
        if raft_name in opened:
            self.save_raft_secret(opened[raft_name])
        if NODE_KEY_FILE in opened:          # the same key: the certificate still matches
            path = cert_dir(self.data_root) / NODE_KEY_FILE
            atomic_write(path, wrap(self.kek, NODE_KEY_FILE, opened[NODE_KEY_FILE]), 0o600)

    def _transition_path(self) -> Path:
        return self.data_root / "raft" / TRANSITION_FILE

    def _write_transition(self, old: bytes, new: bytes) -> None:
        blob = seal(old, "next", new) + b"\n--\n" + seal(new, "previous", old)
        atomic_write(self._transition_path(), blob, 0o600)

    def _read_transition(self) -> tuple[bytes, bytes] | None:
        try:
            blob = self._transition_path().read_bytes()
        except OSError:
            return None
        nxt, sep, prev = blob.partition(b"\n--\n")
        return (nxt, prev) if sep else None

    def _transition_partner(self, kek: bytes) -> bytes | None:
        t = self._read_transition()
        if t is None:
            return None
        nxt, prev = t
        for label, blob in (("next", nxt), ("previous", prev)):
            with contextlib.suppress(WrongUnlockKeyError, ValueError):
                return unseal(kek, label, blob)
        return None

    def _transition_target(self, kek: bytes, other: bytes) -> bytes:
        """Of the two keys of a transition, the one it was moving to."""
        t = self._read_transition()
        assert t is not None
        with contextlib.suppress(WrongUnlockKeyError, ValueError):
            unseal(kek, "next", t[0])       # kek is the old key: other is the new
            return other
        return kek


class UnlockKeyFollower:
    """Every manager: keeps its key files sealed with the cluster's unlock key (or in clear when
    autolock is off), reading the cluster object after a read barrier -- a restarted replica may
    hold an older cluster object until it has caught up, which must not undo a newer change."""

    def __init__(self, store: Any, keys: KeyFiles) -> None:
        self.store, self.keys = store, keys

    def wanted(self) -> bytes | bool | None:
        """The cluster's unlock key (None: autolock off); False while there is no cluster object
        yet (a new swarm before its bootstrap write): no decision then."""
        from swarm.store.typed import Reader

        cl = Reader(self.store).cluster()
        if cl is None:
            return False
        if not cl.spec.encryption_config.auto_lock_managers or not cl.manager_unlock_key:
            return None
        return bytes(cl.manager_unlock_key)

    async def step(self) -> bool:
        """One comparison; True when the files were rewritten."""
        want = self.wanted()
        if want is False or want == self.keys.kek:
            return False
        await self.store.barrier()
        want = self.wanted()
        if want is False or want == self.keys.kek:
            return False
        assert not isinstance(want, bool)
        await asyncio.to_thread(self.keys.rekey, want)
        return True

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("unlock key follower: %s", e)
            await asyncio.sleep(POLL)


__all__ = ["KeyFiles", "UnlockKeyFollower"]
