"""Parent-side harness for store member processes (integration tests and bench only).

``Member`` spawns ``python -m swarm.store.member_proc`` with a fresh control port and key, calls
its commands and kills it by PID; ``Cluster`` is N of them on 127.0.0.1 with free ports.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Member:
    """Parent-side handle of one member process."""

    def __init__(self, addr: str, members: list[str], data_dir: Path, password: str = "test-secret",
                 extra: list[str] | None = None, log_path: Path | None = None) -> None:
        self.addr, self.members, self.data_dir = addr, list(members), Path(data_dir)
        self.password, self.extra = password, list(extra or [])
        self.log_path = log_path or self.data_dir.with_suffix(".log")
        self.ctrl = free_port()
        self.key = os.urandom(16).hex()
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None

    def start(self) -> Member:
        self.ctrl = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, STORE_PASSWORD=self.password, STORE_CTRL_KEY=self.key)
        cmd = [sys.executable, "-m", "swarm.store.member_proc", "--self", self.addr,
               "--members", ",".join(self.members), "--data-dir", str(self.data_dir),
               "--ctrl", str(self.ctrl), *self.extra]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                         cwd=Path(__file__).resolve().parents[2])
        self.conn = None
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def call(self, cmd: str, timeout: float = 60.0, **kw: Any) -> Any:
        if self.conn is None:
            deadline = time.monotonic() + 20
            while True:
                if not self.alive():
                    raise RuntimeError(f"member {self.addr} exited; see {self.log_path}")
                try:
                    self.conn = Client(("127.0.0.1", self.ctrl), authkey=self.key.encode())
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        self.conn.send((cmd, kw))
        if not self.conn.poll(timeout):
            self.conn.close()
            self.conn = None
            raise TimeoutError(f"{cmd} on {self.addr} took more than {timeout} s")
        reply = self.conn.recv()
        if "error" in reply:
            raise RemoteError(reply["error"], reply["message"])
        return reply["ok"]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class Cluster:
    """N members on 127.0.0.1 with fresh ports under ``root``; kill/restart by index."""

    def __init__(self, root: Path, n: int = 3, extra: list[str] | None = None) -> None:
        self.root = Path(root)
        addrs = [f"127.0.0.1:{free_port()}" for _ in range(n)]
        self.members = [Member(a, addrs, self.root / f"m{i}", extra=extra) for i, a in enumerate(addrs)]

    @property
    def addrs(self) -> list[str]:
        return [m.addr for m in self.members]

    def start(self) -> Cluster:
        for m in self.members:
            m.start()
        return self

    def up(self) -> list[int]:
        return [i for i, m in enumerate(self.members) if m.alive()]

    def leader(self, timeout: float = 30.0, among: list[int] | None = None) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in among if among is not None else self.up():
                try:
                    st = self.members[i].call("status", timeout=5)
                except Exception:
                    continue
                if st["state"] == "leader" and st["has_quorum"]:
                    return i
            time.sleep(0.05)
        raise TimeoutError("no leader")

    def add(self, extra: list[str] | None = None) -> Member:
        """A new member (not started) that knows the full current list plus itself."""
        addr = f"127.0.0.1:{free_port()}"
        members = [*self.addrs, addr]
        m = Member(addr, members, self.root / f"m{len(self.members)}", extra=extra)
        self.members.append(m)
        return m

    def stop(self) -> None:
        for m in self.members:
            m.kill()


class RemoteError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


