"""Membership changes and leadership transfer (leader only, one change at a time).

pysyncobj applies a membership entry when it is *appended* (single-server change, no joint
consensus) and its guard against a second change while the first is uncommitted is dead code
(raft-notes §5, F9.0). So every change here goes through one ``asyncio.Lock`` and waits for the
entry to commit (callback SUCCESS) before the next may start. ``REQUEST_DENIED`` right after an
election means "the new leader's no-op is not committed yet": retried briefly.

Joining (raft-notes §10.3): the *caller* commits ``add_member(new_addr)`` on the leader first, then
starts the new manager with the complete list (``members()``) and an empty ``data_dir``. Removal:
``remove_member`` refuses to drop a member if the remaining voters would not have a connected
majority ("would result in a loss of quorum"), and refuses to remove the leader itself - transfer
leadership first. After each change the leader records the new list in ``_raft/members``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pysyncobj import FAIL_REASON

from . import raft
from .bridge import resolve, wait_for
from .errors import MembershipError, NotLeaderError, UnknownOutcomeError
from .types import META_TABLE, Action

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)

MEMBERS_FILE = "members.json"
MEMBERS_ID = "members"


class MembershipMixin:
    """Mixed into ``Store``; uses its node, bridges and proposal helpers."""

    def __init__(self) -> None:
        self._member_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def members(self: Store) -> list[str]:  # type: ignore[misc]
        """This node's current voter set (self included), as pysyncobj sees it."""
        node = self._require_node()
        return sorted({self.self_addr, *(n.id for n in node.otherNodes)})

    def stored_members(self: Store) -> list[str] | None:  # type: ignore[misc]
        """The member list last written to the replicated ``_raft/members`` row."""
        obj = self._state.get(META_TABLE, MEMBERS_ID)
        return json.loads(obj.data) if obj is not None else None

    @staticmethod
    def saved_members(data_dir: Path | str) -> list[str] | None:
        """The member list this node saved in ``data_dir`` (None if it never ran there)."""
        try:
            members: list[str] = json.loads((Path(data_dir) / MEMBERS_FILE).read_text())["members"]
            return members
        except (OSError, ValueError, KeyError):
            return None

    def _save_members(self: Store, node: raft.RaftNode) -> None:  # type: ignore[misc]
        members = sorted({self.self_addr, *(n.id for n in node.otherNodes)})
        if members == self._written_members:
            return
        path = self.data_dir / MEMBERS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"members": members}))
        os.replace(tmp, path)
        self._written_members = members

    def _member_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._member_locks.get(loop)
        if lock is None:
            lock = self._member_locks[loop] = asyncio.Lock()
        return lock

    async def add_member(self: Store, addr: str, timeout: float = 10.0) -> None:  # type: ignore[misc]
        """Add a voter (leader only). Returns once the change is committed."""
        async with self._member_lock():
            self._require_leader()
            if addr in self.members():
                return
            await self._change("add", addr, timeout)
            log.info("raft member %s added; members now %s", addr, self.members())
            await self._write_members()

    async def remove_member(self: Store, addr: str, timeout: float = 10.0) -> None:  # type: ignore[misc]
        """Remove a voter (leader only, not itself). Returns once the change is committed."""
        async with self._member_lock():
            self._require_leader()
            if addr == self.self_addr:
                raise MembershipError("the leader cannot remove itself; transfer leadership first")
            members = self.members()
            if addr not in members:
                return
            remaining = [m for m in members if m != addr]
            up = self.status()["members"]
            if sum(1 for m in remaining if up.get(m)) <= len(remaining) // 2:
                raise MembershipError(f"removing {addr} would result in a loss of quorum")
            await self._change("rem", addr, timeout)
            log.info("raft member %s removed; members now %s", addr, self.members())
            await self._write_members()

    async def transfer_leadership(self: Store, to: str | None = None,  # type: ignore[misc]
                                  timeout: float = 10.0) -> str:
        """Hand leadership to ``to`` (or the most caught-up follower). Returns the new leader."""
        node = self._require_leader()
        deadline = time.monotonic() + timeout
        while True:
            err = await self._call(lambda cb: node.transferLeadership(to, callback=cb), deadline)
            if err == FAIL_REASON.SUCCESS:
                break
            if err != FAIL_REASON.REQUEST_DENIED or time.monotonic() > deadline:
                raise MembershipError(f"leadership transfer refused ({err})")
            await asyncio.sleep(0.1)   # target not caught up yet
        while time.monotonic() < deadline:
            ld = self.leader()
            if ld is not None and ld != self.self_addr and not self.is_leader():
                return ld
            await asyncio.sleep(0.02)
        raise UnknownOutcomeError("leadership transfer did not complete in time")

    # ------------------------------------------------------------------ helpers
    def _require_leader(self: Store) -> raft.RaftNode:  # type: ignore[misc]
        node = self._require_node()
        if not node._isLeader():
            raise NotLeaderError(f"{self.self_addr} is not the raft leader", leader=self.leader())
        return node

    async def _change(self: Store, kind: str, addr: str, timeout: float) -> None:  # type: ignore[misc]
        node = self._require_leader()
        deadline = time.monotonic() + timeout
        op = node.addNodeToCluster if kind == "add" else node.removeNodeFromCluster
        while True:
            err = await self._call(lambda cb: op(addr, callback=cb), deadline)
            if err == FAIL_REASON.SUCCESS:
                return
            if err == FAIL_REASON.REQUEST_DENIED and time.monotonic() + 0.1 < deadline:
                await asyncio.sleep(0.1)
                continue
            if err == FAIL_REASON.REQUEST_DENIED:
                raise MembershipError(f"membership change {kind} {addr} denied")
            raise raft.failure(err)

    async def _call(self: Store, submit: Any, deadline: float) -> int:  # type: ignore[misc]
        loop = asyncio.get_running_loop()
        bridge = self._bridges.get(loop)
        fut: asyncio.Future[int] = loop.create_future()
        submit(lambda _res, err: bridge.post(resolve, fut, err))
        try:
            return await wait_for(fut, max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            raise UnknownOutcomeError("membership operation timed out; it may still apply") from None

    def _members_action(self: Store) -> Action:  # type: ignore[misc]
        data = json.dumps(self.members()).encode()
        if self._state.get(META_TABLE, MEMBERS_ID) is None:
            return Action.create(META_TABLE, MEMBERS_ID, data)
        return Action.update(META_TABLE, MEMBERS_ID, data, expected_version=None)

    async def _write_members(self: Store) -> None:  # type: ignore[misc]
        await self._propose(self._prepare([self._members_action()], internal=True), 5.0)

    def _propose_members_async(self: Store) -> None:  # type: ignore[misc]
        """Tick thread, on becoming leader: record the member list (if it differs from the stored
        one) without waiting for it."""
        try:
            if self.stored_members() == self.members():
                return
            wire = self._prepare([self._members_action()], internal=True)
            node = self._require_node()
            node.fsm.apply_batch(f"members-{time.monotonic_ns()}", wire, callback=_log_result)
        except Exception:
            log.exception("could not propose the member list")


def _log_result(res: Any, err: int) -> None:
    if err != FAIL_REASON.SUCCESS or not (isinstance(res, tuple) and res[0] == "ok"):
        log.info("member list write did not apply: %r (fail reason %r)", res, err)
