"""Commands into VMs over ssh, from inside the testbed's netns, with the key made at build time.

One ControlMaster per VM (socket in the run directory) makes later calls cheap; `close` ends it
(before a snapshot is restored the guest forgets the connection, and at `down`). The master
also forwards the VM's daemon sockets to NAME.swarmd.sock / NAME.docker.sock here: under TCG
the `swarm` CLI takes ~17 s to start inside a VM (Python imports are ~11x slower there), so
the e2e backend runs the client on this machine against the VM's daemon, as `docker -H ssh://`
does; `ssh NAME -- swarm ...` still runs it inside.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from vmtb.config import NETNS, run_dir


def control_path(name: str) -> Path:
    return run_dir() / f"{name}.ssh"


def swarmd_socket(name: str) -> Path:
    """The VM's /run/swarm/swarmd.sock, forwarded here by its master (a client runs on this side)."""
    return run_dir() / f"{name}.swarmd.sock"


def docker_socket(name: str) -> Path:
    return run_dir() / f"{name}.docker.sock"


def _opts(key: Path, name: str, connect_timeout: int = 5) -> list[str]:
    return ["-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", f"ConnectTimeout={connect_timeout}", "-o", "ServerAliveInterval=5",
            "-o", f"ControlPath={control_path(name)}"]


def argv(key: Path, name: str, address: str, cmd: Sequence[str], *, tty: bool = False) -> list[str]:
    """ssh through the VM's master if there is one, a direct connection otherwise."""
    remote = [shlex.join(cmd)] if cmd else []
    return ["ip", "netns", "exec", NETNS, "ssh", *_opts(key, name), "-o", "ControlMaster=no",
            *(["-t"] if tty else ["-T"]), f"root@{address}", *remote]


def ensure_master(key: Path, name: str, address: str) -> bool:
    """Start the VM's ControlMaster unless one answers; its pipes are /dev/null, never ours."""
    base = ["ip", "netns", "exec", NETNS, "ssh", *_opts(key, name, connect_timeout=30)]
    if subprocess.run([*base, "-O", "check", f"root@{address}"], capture_output=True,
                      timeout=10).returncode == 0:
        return True
    control_path(name).unlink(missing_ok=True)
    forwards = ["-o", "StreamLocalBindUnlink=yes",
                "-L", f"{swarmd_socket(name)}:/run/swarm/swarmd.sock",
                "-L", f"{docker_socket(name)}:/run/swarm/docker.sock"]
    # a guest that has just booted (or three of them on two cores) can be slow to answer: retry
    deadline = time.monotonic() + 120
    while True:
        cp = subprocess.run([*base, "-M", "-N", "-f", "-o", "ControlPersist=yes",
                             *forwards, f"root@{address}"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90)
        if cp.returncode == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)


def run(key: Path, name: str, address: str, cmd: Sequence[str], *, timeout: float = 60,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv(key, name, address, cmd), capture_output=True, text=True,
                          timeout=timeout, input=input if input is not None else "")


def close(name: str) -> None:
    cp = control_path(name)
    if cp.exists():
        subprocess.run(["ip", "netns", "exec", NETNS, "ssh", "-o", f"ControlPath={cp}", "-O", "exit",
                        "x"], capture_output=True, text=True, timeout=10)
        cp.unlink(missing_ok=True)
    for sock in (swarmd_socket(name), docker_socket(name)):
        sock.unlink(missing_ok=True)
