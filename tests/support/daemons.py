"""Real `swarmd` processes on this host for integration tests (no namespaces needed).

Each daemon gets its own data root and socket under a temp dir; the CLI is run as a real
subprocess against that socket, exactly as a user would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
SWARMD = str(VENV_BIN / "swarmd")
SWARM = str(VENV_BIN / "swarm")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def manager_port(host: str = "127.0.0.1") -> int:
    """A free port whose next one is free too: a manager binds its advertise port and the Raft
    port after it (a free port alone once found its Raft port taken: BindError in CI)."""
    for _ in range(100):
        port = free_port(host)
        if port >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no two consecutive free ports on {host}")


@dataclass
class Swarmd:
    root: Path
    name: str = "d1"
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data_root(self) -> Path:
        return self.root / self.name / "data"

    @property
    def socket(self) -> Path:
        return self.root / self.name / "swarmd.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.root / self.name / "swarmd.log"

    def start(self, wait: float = 15.0) -> Swarmd:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [SWARMD, "--data-root", str(self.data_root), "--host", self.host,
             "--log-level", "debug", *self.extra_args],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"swarmd exited with {self.proc.returncode}:\n{self.log()}")
            if self.socket.exists() and self.cli("version").returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"swarmd did not come up:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""

    def cli(self, *args: str, timeout: float = 60.0, input: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, SWARM_HOST=self.host)
        return subprocess.run([SWARM, *args], capture_output=True, text=True, env=env,
                              timeout=timeout, input=input)

    def ok(self, *args: str, timeout: float = 60.0) -> str:
        r = self.cli(*args, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(f"swarm {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}{r.stderr}\n--- daemon log ---\n{self.log()}")
        return r.stdout

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


_NET = iter(range(10, 250))


class LoopbackCluster:
    """Several real daemons on 127.N.0.i addresses (one /24 per cluster, so tests never collide)."""

    def __init__(self, root: Path, count: int, port: int = 2377) -> None:
        self.net = next(_NET)
        self.port = port
        # the integration tier runs agents with the fake executor (architecture.md); real
        # containers are the e2e tier's job
        self.daemons = [Swarmd(root, name=f"n{i}", extra_args=["--executor", "fake"])
                        for i in range(1, count + 1)]

    def addr(self, i: int) -> str:
        return f"127.{self.net}.0.{i + 1}:{self.port}"

    def __getitem__(self, i: int) -> Swarmd:
        return self.daemons[i]

    def start(self) -> LoopbackCluster:
        for d in self.daemons:
            d.start()
        return self

    def init(self, *extra: str) -> str:
        out = self.daemons[0].ok("init", "--advertise-addr", self.addr(0), *extra)
        return out

    def token(self, role: str) -> str:
        return self.daemons[0].ok("join-token", "-q", role).strip()

    def join(self, i: int, role: str = "worker", via: int = 0) -> str:
        return self.daemons[i].ok("join", "--token", self.token(role), "--advertise-addr",
                                  self.addr(i), self.addr(via))

    def form(self, managers: int, workers: int) -> LoopbackCluster:
        self.init()
        for i in range(1, managers):
            self.join(i, "manager")
        for i in range(managers, managers + workers):
            self.join(i, "worker")
        return self

    def node_ls(self, i: int = 0) -> list[dict[str, object]]:
        import json

        out = self.daemons[i].ok("node", "ls", "--format", "json")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def wait(self, cond, timeout: float = 30.0, what: str = "condition"):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = cond()
                if last:
                    return last
            except AssertionError as e:
                last = e
            time.sleep(0.2)
        logs = "\n".join(f"--- {d.name} ---\n{d.log()[-3000:]}" for d in self.daemons)
        raise AssertionError(f"timed out waiting for {what}; last={last!r}\n{logs}")

    def stop(self) -> None:
        for d in self.daemons:
            d.stop()
