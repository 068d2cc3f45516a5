"""Python wrapper around `deploy/testbed` for the e2e tier.

    tb = Testbed().up(managers=2, workers=1)      # unique prefix, so parallel runs never collide
    try:
        assert tb.cli("mgr1", "info").returncode == 0
        tb.kill("mgr1", signal="KILL"); tb.start("mgr1")
    finally:
        tb.down()

Tests normally get one from the `testbed` factory fixture (tests/e2e/conftest.py), which always
tears it down. Every method runs the script as a subprocess, so this module needs nothing but
the standard library and the script.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "testbed"
INFRA = "infra"
T = TypeVar("T")


class TestbedCommandError(RuntimeError):
    """`deploy/testbed` failed; the message carries its command line and stderr."""

    __test__ = False  # not a pytest test class


def unique_prefix() -> str:
    """swtb + 4 random [0-9a-f]: fits the script's rule and every interface name limit."""
    while True:
        prefix = "swtb" + secrets.token_hex(2)
        if not Path(f"/run/{prefix}").exists() and not Path(f"/var/lib/{prefix}").exists():
            return prefix


def missing_requirements() -> str | None:
    """Why the testbed cannot run here (for pytest.skip), or None."""
    if os.geteuid() != 0:
        return "the testbed needs root"
    for tool in ("ip", "nsenter", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not (REPO / ".venv/bin/swarmd").exists() and not os.environ.get("SWTB_SWARMD") \
            and shutil.which("swarmd") is None:
        return "no swarmd (set SWTB_SWARMD)"
    return None


@dataclass(frozen=True)
class Host:
    """One row of `deploy/testbed ls --format json`."""

    name: str
    address: str
    pid: int | None         # swarmd
    holder_pid: int | None  # keeps the host's mount + UTS namespaces
    socket: str
    status: str             # running | starting | stopped | down
    data_root: str
    log: str


def wait_until(fn: Callable[[], T | None], timeout: float = 30, interval: float = 0.2,
               what: str = "condition") -> T:
    """Call fn until it returns something truthy; return that, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Waiting:
    """The waits both testbeds share, over their own wait_for, cli and ls (the VM testbed's
    wait_for scales its timeouts)."""

    status_interval = 0.2
    wait_for: Callable[..., Any]
    cli: Callable[..., subprocess.CompletedProcess[str]]
    ls: Callable[..., list[Host]]

    def wait_cli(self, host: str, *args: str, timeout: float = 30,
                 ok: Callable[[subprocess.CompletedProcess[str]], bool] | None = None,
                 ) -> subprocess.CompletedProcess[str]:
        """Repeat `swarm ARGS` in host until ok(result) (default: exit status 0)."""
        check = ok or (lambda cp: cp.returncode == 0)
        last: list[subprocess.CompletedProcess[str]] = []

        def attempt() -> subprocess.CompletedProcess[str] | None:
            cp = self.cli(host, *args)
            last[:] = [cp]
            return cp if check(cp) else None

        try:
            return self.wait_for(attempt, timeout, 0.5, f"`swarm {' '.join(args)}` on {host}")
        except TimeoutError as e:
            cp = last[0] if last else None
            detail = f" (last: rc {cp.returncode}, {cp.stderr.strip() or cp.stdout.strip()})" if cp else ""
            raise TimeoutError(f"{e}{detail}") from None

    def wait_status(self, host: str, status: str = "running", timeout: float = 30) -> Host:
        return self.wait_for(lambda: next((h for h in self.ls() if h.name == host and h.status == status),
                                          None), timeout, self.status_interval, f"{host} to be {status}")


class Clients:
    """Client programs run on this machine against a host's daemon sockets (both testbeds): the
    docker CLI, docker-py and swarm's CLI are clients of a socket only, and the VM testbed
    forwards its VMs' sockets here (inside a TCG VM a Python client alone takes ~17 s to start)."""

    client_socket: Callable[[str], str]
    engine_socket: Callable[[str], str]

    def client_env(self, host: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """This process's environment with SWARM_HOST and DOCKER_HOST naming host's sockets."""
        return {**os.environ, "SWARM_HOST": f"unix://{self.client_socket(host)}",
                "DOCKER_HOST": f"unix://{self.engine_socket(host)}", **(extra or {})}

    def client(self, host: str, *argv: str, timeout: float = 60, input: str | None = None,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run argv here against host's daemon (client_env, plus env)."""
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              input=input, env=self.client_env(host, env))

    def client_popen(self, host: str, *argv: str, **kw: Any) -> subprocess.Popen[str]:
        """As client, started in the background (stdout and stderr piped, text)."""
        return subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.client_env(host), **kw)


class Testbed(Waiting, Clients):
    """One testbed, driven through deploy/testbed with its own --prefix."""

    __test__ = False

    def __init__(self, prefix: str | None = None, *, python: str = sys.executable,
                 script: Path = SCRIPT, run_dir: Path | None = None, lib_dir: Path | None = None,
                 ) -> None:
        self.prefix = prefix or unique_prefix()
        # explicit, so SWTB_RUN / SWTB_LIB in the environment cannot make two testbeds collide
        self.run_dir = run_dir or Path(f"/run/{self.prefix}")
        self.lib_dir = lib_dir or Path(f"/var/lib/{self.prefix}")
        self._base = [python, str(script), "--prefix", self.prefix,
                      "--run-dir", str(self.run_dir), "--lib-dir", str(self.lib_dir)]
        self.is_up = False
        self.slowness = 1.0   # the VM testbed's is larger (its waits scale by it)

    def __repr__(self) -> str:
        return f"Testbed({self.prefix!r})"

    # ---- raw ---------------------------------------------------------------------------------

    def run(self, *args: str, check: bool = True, timeout: float = 180,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `deploy/testbed --prefix P ARGS`; with check, raise TestbedCommandError on failure."""
        cp = subprocess.run([*self._base, *args], capture_output=True, text=True, timeout=timeout,
                            input=input)
        if check and cp.returncode != 0:
            raise TestbedCommandError(
                f"deploy/testbed --prefix {self.prefix} {' '.join(args)} -> {cp.returncode}: "
                f"{cp.stderr.strip() or cp.stdout.strip()}")
        return cp

    # ---- lifecycle ---------------------------------------------------------------------------

    def up(self, managers: int = 1, workers: int = 0, *, insecure_registries: Iterable[str] = (),
           daemon_args: Iterable[str] = (), overlay_pools: Iterable[str] = (),
           subnet: str | None = None, env_file: str | None = None, log_level: str = "info",
           form_swarm: bool = False, timeout: float = 60) -> Testbed:
        """`deploy/testbed up`; form_swarm=True also runs swarm init/join (once implemented)."""
        args = ["up", "--managers", str(managers), "--workers", str(workers),
                "--log-level", log_level, "--timeout", str(timeout)]
        if form_swarm:
            args.append("--form-swarm")
        args += [f"--insecure-registry={r}" for r in insecure_registries]
        args += [f"--daemon-arg={a}" for a in daemon_args]
        args += [f"--overlay-pool={p}" for p in overlay_pools]
        if subnet:
            args += ["--subnet", subnet]
        if env_file:
            args += ["--env-file", env_file]
        self.is_up = True  # even a failed `up` may leave something for down()
        self.run(*args, timeout=timeout * (managers + workers) + 60)
        return self

    def down(self, purge: bool = True, check: bool = True) -> subprocess.CompletedProcess[str]:
        cp = self.run("down", *(["--purge"] if purge else []), check=check)
        if cp.returncode == 0:
            self.is_up = False
        return cp

    def __enter__(self) -> Testbed:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.is_up:
            self.down(check=False)

    # ---- looking ------------------------------------------------------------------------------

    def ls(self, include_infra: bool = False) -> list[Host]:
        rows = [json.loads(ln) for ln in self.run("ls", "--format", "json").stdout.splitlines() if ln]
        hosts = [Host(name=r.pop("host"), **r) for r in rows]
        return [h for h in hosts if include_infra or h.name != INFRA]

    def host(self, name: str) -> Host:
        for h in self.ls(include_infra=True):
            if h.name == name:
                return h
        raise KeyError(f"{self}: no host {name!r}")

    @property
    def hosts(self) -> list[str]:
        return [h.name for h in self.ls()]

    @property
    def managers(self) -> list[str]:
        return [h for h in self.hosts if h.startswith("mgr")]

    @property
    def workers(self) -> list[str]:
        return [h for h in self.hosts if h.startswith("wkr")]

    @property
    def route_metric(self) -> int:
        """The metric of this testbed's unreachable routes (same rule as deploy/swtb/config.py)."""
        return 10000 + zlib.crc32(self.prefix.encode()) % 50000

    def address(self, name: str) -> str:
        return self.host(name).address

    def logs(self, host: str, lines: int = 0) -> str:
        return self.run("logs", host, "-n", str(lines)).stdout

    def recorded_pids(self) -> list[int]:
        """Every PID the script recorded: holders, daemons, infra commands."""
        out: list[int] = []
        for f in self.run_dir.glob("*.pid"):
            try:
                out.append(int(f.read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
        return sorted(out)

    # ---- doing ---------------------------------------------------------------------------------

    def exec(self, host: str, *cmd: str, check: bool = False, timeout: float = 60,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run cmd inside host (its netns, mount and UTS ns; SWARM_HOST set)."""
        cp = self.run("exec", host, "--", *cmd, check=False, timeout=timeout, input=input)
        if check and cp.returncode != 0:
            raise TestbedCommandError(f"{host}: {' '.join(cmd)} -> {cp.returncode}: {cp.stderr.strip()}")
        return cp

    def cli(self, host: str, *args: str, check: bool = False, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `swarm ARGS` inside host against its own daemon."""
        return self.exec(host, "swarm", *args, check=check, timeout=timeout, input=input)

    def kill(self, host: str, signal: str = "TERM", wait: bool = True) -> None:
        self.run("kill", host, "--signal", signal, *([] if wait else ["--no-wait"]))

    def start(self, host: str, timeout: float = 60) -> None:
        self.run("start", host, "--timeout", str(timeout))

    def restart(self, host: str, timeout: float = 60) -> None:
        self.run("restart", host, "--timeout", str(timeout))

    def data_files(self, host: str, pattern: str) -> dict[str, str]:
        """Files under host's data root matching the glob pattern (relative to the data root):
        {relative path: text}; a directory maps to "" (the VM testbed reads them in the VM)."""
        root = self.lib_dir / host
        out = {}
        for p in sorted(root.glob(pattern)):
            try:
                out[str(p.relative_to(root))] = "" if p.is_dir() else p.read_text()
            except OSError:   # gone between the listing and the read: a container being removed
                continue
        return out

    def cut_link(self, host: str) -> None:
        """The host's network goes, as a cut cable would (the VM testbed cuts the VM's virtual
        cable): here its veth is set down inside it, so nothing it sends leaves and no reset
        comes back to its peers."""
        self.exec(host, "ip", "link", "set", "eth0", "down", check=True)

    def restore_link(self, host: str) -> None:
        self.exec(host, "ip", "link", "set", "eth0", "up", check=True)

    def put_file(self, host: str, path: str, text: str, mode: int = 0o644) -> None:
        """Write text to path as host sees it (its parent directories made): the hosts share
        this machine's file system, so here it is written directly (the VM testbed copies it in)."""
        f = Path(path)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        f.chmod(mode)

    def client_socket(self, host: str) -> str:
        """A path on this machine where host's daemon answers the control API (swarm.cli.client)."""
        return self.host(host).socket

    def engine_socket(self, host: str) -> str:
        """A path on this machine where host's Docker Engine API answers (DOCKER_HOST)."""
        return str(self.run_dir / f"{host}.docker.sock")

    def infra(self, *cmd: str) -> int:
        """Start cmd in the background in the infra netns (address .1); returns its PID."""
        return int(self.run("infra", "--", *cmd).stdout.split()[-1])

    # ---- waiting -------------------------------------------------------------------------------

    @staticmethod
    def wait_for(fn: Callable[[], T | None], timeout: float = 30, interval: float = 0.2,
                 what: str = "condition") -> T:
        """Call fn until it returns something truthy; return that, or fail after timeout."""
        return wait_until(fn, timeout, interval, what)


# ---- what the machine looks like (for leak checks) ----------------------------------------------

def _lines(argv: Sequence[str]) -> list[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()


def system_snapshot() -> dict[str, list[str]]:
    """Network namespaces, links, unreachable routes and mounts of the root namespace."""
    return {
        "netns": sorted(ln.split()[0] for ln in _lines(["ip", "netns", "list"]) if ln.strip()),
        "links": sorted(re.split(r"[:@]", ln.split(": ", 1)[1])[0]
                        for ln in _lines(["ip", "-o", "link", "show"])),
        "routes": sorted(ln.strip() for ln in _lines(["ip", "route", "show", "type", "unreachable"])),
        "mounts": sorted(Path("/proc/mounts").read_text().splitlines()),
    }


def mentions(snapshot: dict[str, list[str]], needles: Iterable[str]) -> dict[str, list[str]]:
    """The entries of a snapshot that contain any of needles (e.g. a prefix, a route metric)."""
    ns = list(needles)
    return {k: [v for v in vs if any(n in v for n in ns)] for k, vs in snapshot.items()}


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
