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
