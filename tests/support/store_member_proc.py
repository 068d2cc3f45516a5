"""One store member as an OS process with a control channel - for integration tests and the bench.

Not used by the daemon. ``python -m tests.support.store_member_proc --self H:P --members A,B,C --data-dir D
--ctrl PORT`` runs a ``Store`` on an asyncio loop in the main thread and serves
``multiprocessing.connection`` requests ``(cmd, kwargs)`` on ``127.0.0.1:PORT`` (authkey and raft
password from the environment: ``STORE_CTRL_KEY``, ``STORE_PASSWORD``). Replies are
``{"ok": value}`` or ``{"error": class name, "message": str}``. Load loops (``seq``, ``tput``,
``tput_raw``, ``probe_*``) run inside the member, the way a manager's handlers call their own store.

``--tls-dir D`` (``ca.pem``, ``cert.pem``, ``key.pem``) runs the Raft link over mutual TLS. The
member's ``accept_peer`` stands in for the daemon's: the certificate's OU must be
``swarm-manager`` and its CN (node id) not on the deny list (``link_deny``).

The parent side (spawn, call, kill by PID, a 3-member cluster) is ``store_harness.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from swarm.store.raftlink import RaftTLS, raft_tls_contexts
from swarm.store.store import Store
from swarm.store.types import TABLES, Action, Reset


def pct(vals: list[float], p: float) -> float | None:
    if not vals:
        return None
    vals = sorted(vals)
    k = (len(vals) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(vals) - 1)
    return vals[f] + (vals[c] - vals[f]) * (k - f)


class _Server:
    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self.store, self.loop = store, loop
        self.probe: list[tuple[float, float, bool, str]] = []
        self.probe_task: asyncio.Task | None = None

    # ---- commands (coroutines, run on the loop)
    async def cmd_status(self) -> dict:
        st = self.store.status()
        st["pid"] = os.getpid()
        return st

    async def cmd_wait_ready(self, timeout: float = 30.0) -> bool:
        await self.store.wait_ready(timeout)
        return True

    async def cmd_apply(self, actions: list[tuple], timeout: float = 5.0) -> int:
        acts = [Action(op, table, oid, data, expected, idx or {}, uniq or {})
                for op, table, oid, data, expected, idx, uniq in actions]
        return await self.store.apply(acts, timeout)

    async def cmd_get(self, table: str, id: str) -> tuple | None:
        o = self.store.get(table, id)
        return (o.id, o.version, o.data) if o else None

    async def cmd_find(self, table: str, index: str, key: str) -> list[str]:
        return [o.id for o in self.store.find(table, index, key)]

    async def cmd_count(self, table: str) -> int:
        return self.store.view().count(table)

    async def cmd_digest(self) -> dict:
        v = self.store.view()
        h = hashlib.sha256()
        n = 0
        for t in ("cluster", "nodes", "services", "tasks", "networks"):
            for o in v.list(t):
                h.update(f"{t}/{o.id}/{o.version}/".encode() + o.data)
                n += 1
        return {"index": v.index, "objects": n, "sha": h.hexdigest()[:16]}

    async def cmd_set_secrets(self, send: str, accept: list[str]) -> bool:
        await asyncio.to_thread(self.store.set_raft_secrets, send, accept)
        return True

    async def cmd_link_stats(self) -> dict | None:
        return self.store._require_node().link_stats()

    async def cmd_link_deny(self, node_ids: list[str]) -> bool:
        """Deny these node ids from now on, and drop their open connections (as the daemon would
        after a demotion)."""
        _Policy.deny = frozenset(node_ids)
        self.store.recheck_raft_peers()
        return True

    async def cmd_barrier(self) -> int:
        return await self.store.barrier()

    async def cmd_poison(self, actions: Any, timeout: float = 10.0) -> Any:
        """Propose ``actions`` as they are (no client-side checks) and return the raw result: a
        replicated command that would make a naive state machine raise (raft-notes F3)."""
        node = self.store._require_node()
        done, box = threading.Event(), []

        def cb(res: Any, err: int) -> None:
            box.append((res, err))
            done.set()
        node.fsm.apply_batch("poison-" + os.urandom(4).hex(), actions, callback=cb)
        await asyncio.to_thread(done.wait, timeout)
        return box[0] if box else None

    async def cmd_compact(self) -> bool:
        node = self.store._require_node()
        node.forceLogCompaction()
        return True

    async def cmd_members(self) -> dict:
        return {"live": self.store.members(), "stored": self.store.stored_members(),
                "saved": Store.saved_members(self.store.data_dir)}

    async def cmd_add_member(self, addr: str) -> list[str]:
        await self.store.add_member(addr)
        return self.store.members()

    async def cmd_remove_member(self, addr: str) -> list[str]:
        await self.store.remove_member(addr)
        return self.store.members()

    async def cmd_transfer(self, to: str | None = None) -> str:
        return await self.store.transfer_leadership(to)

    async def cmd_seq(self, n: int, size: int, prefix: str = "seq") -> dict:
        data, lat, t0 = os.urandom(size), [], time.perf_counter()
        for i in range(n):
            s = time.perf_counter()
            await self.store.apply([Action.create("tasks", f"{prefix}{i}", data)])
            lat.append(time.perf_counter() - s)
        total = time.perf_counter() - t0
        return {"n": n, "size": size, "ops_s": n / total, "p50_ms": pct(lat, 50) * 1e3,  # type: ignore[operator]
                "p99_ms": pct(lat, 99) * 1e3}  # type: ignore[operator]

    async def cmd_tput(self, n: int, size: int, inflight: int, batch: int = 1, prefix: str = "tp",
                       max_s: float = 120.0) -> dict:
        """``n`` batches of ``batch`` creates, at most ``inflight`` batches outstanding."""
        data = os.urandom(size)
        sem = asyncio.Semaphore(inflight)
        lat: list[float] = []
        errs: dict[str, int] = {}
        deadline = time.monotonic() + max_s

        async def one(i: int) -> None:
            acts = [Action.create("tasks", f"{prefix}{i}-{j}", data, indexes={"service_id": f"s{i % 10}"})
                    for j in range(batch)]
            s = time.perf_counter()
            try:
                await self.store.apply(acts, timeout=30.0)
                lat.append(time.perf_counter() - s)
            except Exception as e:
                errs[type(e).__name__] = errs.get(type(e).__name__, 0) + 1
            finally:
                sem.release()

        tasks, t0 = [], time.perf_counter()
        for i in range(n):
            await sem.acquire()
            if time.monotonic() > deadline:
                sem.release()
                break
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        total = time.perf_counter() - t0
        ok = len(lat)
        return {"batches": len(tasks), "batch": batch, "size": size, "inflight": inflight, "ok": ok,
                "errors": errs, "total_s": total, "batches_s": ok / total, "objects_s": ok * batch / total,
                "p50_ms": (pct(lat, 50) or 0) * 1e3, "p99_ms": (pct(lat, 99) or 0) * 1e3}

    async def cmd_tput_raw(self, n: int, size: int, inflight: int, prefix: str = "raw") -> dict:
        """Diagnostic: pysyncobj callbacks from a plain thread, bypassing asyncio and Store.apply."""
        node = self.store._require_node()
        data = os.urandom(size)

        def run() -> dict:
            sem, done, lock = threading.Semaphore(inflight), threading.Event(), threading.Lock()
            st = {"ok": 0, "err": 0, "left": n}

            def cb(res: Any, err: int) -> None:
                with lock:
                    st["ok" if err == 0 and res[0] == "ok" else "err"] += 1
                    st["left"] -= 1
                    if st["left"] == 0:
                        done.set()
                sem.release()
            t0 = time.perf_counter()
            for i in range(n):
                sem.acquire()
                node.fsm.apply_batch(f"{prefix}{i}", [Action.create("tasks", f"{prefix}{i}", data).to_wire()],
                                     callback=cb)
            done.wait(120)
            total = time.perf_counter() - t0
            return {"ok": st["ok"], "err": st["err"], "objects_s": st["ok"] / total}
        return await asyncio.to_thread(run)

    async def cmd_mirror_start(self) -> int:
        """Follow the change stream into a local mirror (view + commits, Reset rebuilds)."""
        view, sub = self.store.view_and_subscribe()
        self.mirror: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.mirror_stats = {"resets": 0, "commits": 0, "index": view.index, "errors": 0}

        def load(v: Any) -> None:
            self.mirror = {(t, o.id): (o.version, o.data) for t in TABLES for o in v.list(t)}
            self.mirror_stats["index"] = v.index

        async def follow() -> None:
            load(view)
            async for item in sub:
                if isinstance(item, Reset):
                    self.mirror_stats["resets"] += 1
                    load(item.view)
                    continue
                if item.index <= self.mirror_stats["index"]:
                    self.mirror_stats["errors"] += 1               # duplicate
                for e in item.events:
                    if e.kind == "delete":
                        self.mirror.pop((e.table, e.id), None)
                    else:
                        self.mirror[(e.table, e.id)] = (e.version, e.data)
                self.mirror_stats["commits"] += 1
                self.mirror_stats["index"] = item.index
        self.mirror_task = asyncio.create_task(follow())
        return view.index

    async def cmd_mirror_check(self) -> dict:
        """Compare the mirror with the store at the same index (retries briefly until caught up)."""
        for _ in range(200):
            v = self.store.view()
            if self.mirror_stats["index"] == v.index:
                actual = {(t, o.id): (o.version, o.data) for t in TABLES for o in v.list(t)}
                return {**self.mirror_stats, "match": actual == self.mirror, "objects": len(actual)}
            await asyncio.sleep(0.02)
        return {**self.mirror_stats, "match": False, "store_index": self.store.index}

    async def cmd_probe_start(self, period: float = 0.005, timeout: float = 0.25) -> bool:
        self.probe = []

        nonce = time.time_ns()

        async def loop() -> None:
            i = 0
            while True:
                s, ok, err = time.time(), True, ""
                try:
                    await self.store.apply([Action.create("tasks", f"probe-{nonce}-{i}", b"x")],
                                           timeout=timeout)
                except Exception as e:
                    ok, err = False, type(e).__name__
                self.probe.append((s, time.time(), ok, err))
                i += 1
                await asyncio.sleep(period)
        self.probe_task = asyncio.create_task(loop())
        return True

    async def cmd_probe_stop(self) -> list:
        if self.probe_task is not None:
            self.probe_task.cancel()
        return self.probe

    # ---- plumbing
    def handle(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    cmd, kw = conn.recv()
                except (EOFError, OSError):
                    return
                if cmd == "exit":
                    conn.send({"ok": True})
                    self.loop.call_soon_threadsafe(self.loop.stop)
                    return
                fut = asyncio.run_coroutine_threadsafe(getattr(self, "cmd_" + cmd)(**kw), self.loop)
                try:
                    reply = {"ok": fut.result(600)}
                except Exception as e:
                    reply = {"error": type(e).__name__, "message": str(e)}
                conn.send(reply)


class _Policy:
    """The stand-in for the daemon's accept_peer (runs on the tick thread)."""

    deny: frozenset[str] = frozenset()

    @classmethod
    def accept_peer(cls, der: bytes) -> bool:
        from cryptography import x509
        from cryptography.x509.oid import NameOID
        subject = x509.load_der_x509_certificate(der).subject
        cn = [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        ou = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
        return ou == ["swarm-manager"] and len(cn) == 1 and cn[0] not in cls.deny


def _tls(tls_dir: Path, timeout: float) -> RaftTLS:
    pair = raft_tls_contexts((tls_dir / "ca.pem").read_bytes(), (tls_dir / "cert.pem").read_bytes(),
                             (tls_dir / "key.pem").read_bytes())
    return RaftTLS(contexts=lambda: pair, accept_peer=_Policy.accept_peer, handshake_timeout=timeout)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--self", required=True)
    ap.add_argument("--members", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--ctrl", type=int, required=True)
    ap.add_argument("--compaction-min-entries", type=int, default=50_000)
    ap.add_argument("--tls-dir", default=None)
    ap.add_argument("--link-timeout", type=float, default=5.0)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pysyncobj").setLevel(logging.WARNING)
    if os.environ.get("STORE_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["STORE_SWITCH_INTERVAL"]))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    store = Store(a.self, a.members.split(","), Path(a.data_dir), os.environ.get("STORE_PASSWORD", ""),
                  compaction_min_entries=a.compaction_min_entries,
                  tls=_tls(Path(a.tls_dir), a.link_timeout) if a.tls_dir else None,
                  data_key=bytes.fromhex(os.environ["STORE_DATA_KEY"]) if os.environ.get("STORE_DATA_KEY")
                  else None)
    store.start()
    server = _Server(store, loop)
    lst = Listener(("127.0.0.1", a.ctrl), authkey=os.environ["STORE_CTRL_KEY"].encode())

    def accept() -> None:
        while True:
            try:
                conn = lst.accept()
            except OSError:
                return
            threading.Thread(target=server.handle, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: loop.call_soon_threadsafe(loop.stop))
    try:
        loop.run_forever()
    finally:
        store.close()
        lst.close()


if __name__ == "__main__":
    main()
