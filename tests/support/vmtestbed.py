"""The e2e tests' testbed on real VMs: the methods of tests/support/testbed.py's Testbed, on
the qemu VMs of `deploy/vmtestbed` (selected with `pytest --testbed vm`).

    sudo deploy/vmtestbed build && sudo deploy/vmtestbed up 3
    sudo .venv/bin/python -m pytest --testbed vm tests/e2e/test_services_e2e.py

The VMs are booted once, by `deploy/vmtestbed up N`, not by each test: a Debian boot under TCG
takes about a minute. Each `up(managers, workers)` restores the VMs it uses to the `clean`
snapshot taken right after their first boot (a few seconds: every test starts from the same
freshly booted machines, nothing left by the previous test), then gives vm1.. the role names
(mgr1.., wkr1..) as hostnames, writes /etc/hosts and /etc/default/swarmd (log level, insecure
registries, daemon args) and starts swarmd under systemd. Commands go over ssh (through one
ssh ControlMaster per VM, inside the testbed's netns), `infra` commands run in that netns on the
bridge address 10.231.0.1, the same address as the netns testbed's infra host.

Differences from the netns testbed, each failing loudly rather than quietly:
- data roots are inside the VMs (`/var/lib/swarm`): `host(h).data_root` says so, `lib_dir`
  raises (a test reading them from this machine's file system must use `exec` to run on VMs);
- `kill` signals the daemon's main process only (containers survive, as `KillMode=process`);
  a killed daemon stays down until `start` (`Restart=no` in the VMs' drop-in);
- things take longer under TCG: `slowness` (4 under TCG, 1 under KVM; PYSWARM_VM_SLOWNESS
  overrides) scales every `wait_for` timeout and the e2e tests' pytest timeouts, and the swarm is
  formed with a dispatcher heartbeat that many times Docker's 5 s (a daemon restart in a TCG VM,
  Python start-up included, outlasts the default 15 s grace: on such slow machines Docker's own
  advice is a longer heartbeat, not a shorter test);
- `data_files(h, pattern)` reads files under the data root inside the VM (`python3` there);
- VM-only: `power_off(h)` (the plug pulled, qemu SIGKILLed), `power_on(h)` (a cold boot, the
  data root kept), `cut_link(h)` / `restore_link(h)` (the virtual cable, via QMP `set_link`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from tests.support.testbed import Clients, Host, TestbedCommandError, Waiting, pid_alive, wait_until

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "vmtestbed"
INFRA = "infra"
NETNS = "vmtb"
DATA_ROOT = "/var/lib/swarm"
SOCKET = "/run/swarm/swarmd.sock"
SWARM_CLI = str(REPO / ".venv/bin/swarm") if (REPO / ".venv/bin/swarm").exists() else "swarm"
T = TypeVar("T")

# in the VM: wait until the daemon answers (one ssh round trip instead of one per attempt)
# (the socket, not `swarm info`: the CLI alone takes ~17 s to start in a TCG VM)
WAIT_DAEMON = ("for i in $(seq {n}); do test -S /run/swarm/swarmd.sock && exit 0; "
               "systemctl is-active -q swarmd || {{ journalctl -u swarmd -n 20 --no-pager -o cat; "
               "exit 1; }}; sleep 0.25; done; echo 'swarmd did not open its socket'; exit 1")
WAIT_STOPPED = ("for i in $(seq 120); do systemctl is-active -q swarmd || exit 0; sleep 0.25; done; "
                "echo 'swarmd still active'; exit 1")


class NotEnoughVMs(TestbedCommandError):
    """The VM testbed has fewer VMs than the test asks for (the fixture skips the test)."""

    __test__ = False


def slowness_for(accel: str) -> float:
    """How many times longer than on the netns testbed a test's waits may take on these VMs."""
    if os.environ.get("PYSWARM_VM_SLOWNESS"):
        return float(os.environ["PYSWARM_VM_SLOWNESS"])
    return 1.0 if accel == "kvm" else 4.0


def missing_vm_requirements() -> str | None:
    """Why the VM backend cannot run here (for pytest.skip), or None."""
    if os.geteuid() != 0:
        return "the VM testbed needs root"
    if shutil.which("ssh") is None:
        return "ssh is not installed"
    cp = subprocess.run([sys.executable, str(SCRIPT), "ls", "--format", "json"], capture_output=True,
                        text=True)
    if cp.returncode != 0:
        return f"the VM testbed is not up (`sudo deploy/vmtestbed up 3` first): {cp.stderr.strip()}"
    return None


class VMTestbed(Waiting, Clients):
    """The VMs of `deploy/vmtestbed`, driven with the same methods as the netns Testbed."""

    __test__ = False
    prefix = NETNS
    status_interval = 0.5

    def __init__(self, *, python: str = sys.executable, script: Path = SCRIPT) -> None:
        self._base = [python, str(script)]
        self.run_dir = Path(os.environ.get("PYSWARM_VM_RUN")
                            or Path(os.environ.get("PYSWARM_VM_CACHE") or "/var/lib/pyswarm-vm") / "run")
        self.is_up = False
        self._roles: dict[str, dict[str, str]] = {}  # role name -> row of `deploy/vmtestbed ls`
        self._infra: list[int] = []  # PIDs of what infra() started for this test
        self.slowness = 1.0

    def __repr__(self) -> str:
        pairs = ", ".join(f"{r}={v['name']}" for r, v in self._roles.items())
        return f"VMTestbed({pairs})"

    # ---- raw ---------------------------------------------------------------------------------

    def run(self, *args: str, check: bool = True, timeout: float = 600,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        cp = subprocess.run([*self._base, *args], capture_output=True, text=True, timeout=timeout,
                            input=input)
        if check and cp.returncode != 0:
            raise TestbedCommandError(f"deploy/vmtestbed {' '.join(args)} -> {cp.returncode}: "
                                      f"{cp.stderr.strip() or cp.stdout.strip()}")
        return cp

    def vms(self) -> list[dict[str, str]]:
        return [json.loads(ln) for ln in self.run("ls", "--format", "json").stdout.splitlines() if ln]

    def _vm(self, host: str) -> dict[str, str]:
        try:
            return self._roles[host]
        except KeyError:
            raise KeyError(f"{self}: no host {host!r}") from None

    def _ssh(self, host: str, script: str, *, timeout: float = 60, input: str | None = None,
             ) -> subprocess.CompletedProcess[str]:
        v = self._vm(host)
        argv = ["ip", "netns", "exec", NETNS, "ssh", "-i", v["key"], "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "ControlMaster=no",
                "-o", f"ControlPath={v['control_path']}", "-T", f"root@{v['address']}", script]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input if input is not None else "")

    def _ssh_ok(self, host: str, script: str, timeout: float = 120) -> str:
        cp = self._ssh(host, script, timeout=timeout)
        if cp.returncode != 0:
            raise TestbedCommandError(f"{host}: {script.splitlines()[0]} -> {cp.returncode}: "
                                      f"{(cp.stderr + cp.stdout).strip()}")
        return cp.stdout

    # ---- lifecycle ---------------------------------------------------------------------------

    def up(self, managers: int = 1, workers: int = 0, *, insecure_registries: Iterable[str] = (),
           daemon_args: Iterable[str] = (), overlay_pools: Iterable[str] = (),
           subnet: str | None = None, env_file: str | None = None, log_level: str = "info",
           form_swarm: bool = False, timeout: float = 60) -> VMTestbed:
        """Reset managers + workers VMs to their clean snapshot and start swarmd on each."""
        if list(overlay_pools) or subnet or env_file:
            raise TestbedCommandError("the VM testbed does not take overlay_pools, subnet or env_file "
                                      "(its subnet is fixed by deploy/vmtestbed up)")
        vms = self.vms()
        roles = [f"mgr{i}" for i in range(1, managers + 1)] + [f"wkr{i}" for i in range(1, workers + 1)]
        if len(roles) > len(vms):
            raise NotEnoughVMs(f"the test needs {len(roles)} hosts, the VM testbed has {len(vms)} "
                               f"(`deploy/vmtestbed down && deploy/vmtestbed up {len(roles)}`)")
        self._roles = dict(zip(roles, vms, strict=False))
        self.slowness = slowness_for(vms[0].get("accel", "tcg"))
        self.is_up = True
        self.run("reset", *(v["name"] for v in self._roles.values()))
        opts = ["--log-level", log_level]
        for r in insecure_registries:
            opts += ["--insecure-registry", r]
        opts += list(daemon_args)
        hosts = "127.0.0.1 localhost\n10.231.0.1 infra\n" + "".join(
            f"{v['address']} {role}\n" for role, v in self._roles.items())
        for role in self._roles:  # all daemons start together, then each is waited for
            self._ssh_ok(role, "set -e\n"
                         f"hostname {role}; echo {role} > /etc/hostname\n"
                         f"printf %s {shlex.quote(hosts)} > /etc/hosts\n"
                         f"printf 'SWARMD_OPTS=%s\\n' {shlex.quote(shlex.quote(shlex.join(opts)))}"
                         " > /etc/default/swarmd\n"
                         "systemctl start swarmd.service\n")
        wait = timeout * self.slowness
        for role in self._roles:
            self._ssh_ok(role, WAIT_DAEMON.format(n=int(wait * 4)), timeout=wait * 2 + 30)
        if form_swarm:
            self._form_swarm(timeout * 2)
        return self

    def _form_swarm(self, timeout: float) -> None:
        """As deploy/swtb/formswarm.py: init on mgr1, join the other managers, then the workers."""
        def ok(host: str, *args: str) -> str:
            cp = self.cli(host, *args, timeout=120)
            if cp.returncode != 0:
                raise TestbedCommandError(
                    f"{host}: swarm {' '.join(args)}: {(cp.stderr or cp.stdout).strip()}")
            return cp.stdout

        first = self.managers[0]
        heartbeat = f"{5 * self.slowness:g}s"
        ok(first, "init", "--advertise-addr", self.address(first), "--dispatcher-heartbeat", heartbeat)
        tokens = {r: ok(first, "join-token", "-q", r).strip() for r in ("manager", "worker")}
        for role, group in (("manager", self.managers[1:]), ("worker", self.workers)):
            for h in group:
                ok(h, "join", "--token", tokens[role], "--advertise-addr", self.address(h),
                   f"{self.address(first)}:2377")

        def formed() -> bool:
            cp = self.cli(first, "node", "ls", "--format", "json")
            nodes = [json.loads(x) for x in cp.stdout.splitlines() if x.strip()] if cp.returncode == 0 else []
            return len(nodes) == len(self._roles) and all(n["Status"] == "Ready" for n in nodes) and \
                sum(n["ManagerStatus"] in ("Leader", "Reachable") for n in nodes) == len(self.managers)

        self.wait_for(formed, timeout, 1, "the swarm to form")

    def down(self, purge: bool = True, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Stop swarmd and every container on the VMs used (the next `up` restores a snapshot)."""
        errors = []
        for role in self._roles:
            cp = self._ssh(role, "systemctl kill --kill-whom=all -s KILL swarmd.service; "
                                 "systemctl stop swarmd.service; true")
            if cp.returncode != 0:
                errors.append(f"{role}: {cp.stderr.strip()}")
        errors += self._stop_infra()
        self.is_up = False
        cp = subprocess.CompletedProcess(["down"], 1 if errors else 0, "", "; ".join(errors))
        if check and errors:
            raise TestbedCommandError(cp.stderr)
        return cp

    def __enter__(self) -> VMTestbed:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.is_up:
            self.down(check=False)

    # ---- looking ------------------------------------------------------------------------------

    def ls(self, include_infra: bool = False) -> list[Host]:
        out = []
        for role, v in self._roles.items():
            cp = self._ssh(role, "systemctl show -p MainPID --value swarmd", timeout=30)
            pid = int(cp.stdout.strip()) if cp.returncode == 0 and cp.stdout.strip().isdigit() else 0
            status = "down" if cp.returncode != 0 else ("running" if pid else "stopped")
            out.append(Host(name=role, address=v["address"], pid=pid or None, holder_pid=None,
                            socket=SOCKET, status=status, data_root=DATA_ROOT,
                            log=f"journalctl -u swarmd (in {v['name']})"))
        if include_infra:
            out.append(Host(name=INFRA, address="10.231.0.1", pid=None, holder_pid=None, socket="",
                            status="running", data_root="", log=""))
        return out

    def host(self, name: str) -> Host:
        for h in self.ls(include_infra=True):
            if h.name == name:
                return h
        raise KeyError(f"{self}: no host {name!r}")

    @property
    def hosts(self) -> list[str]:
        return list(self._roles)

    @property
    def managers(self) -> list[str]:
        return [h for h in self.hosts if h.startswith("mgr")]

    @property
    def workers(self) -> list[str]:
        return [h for h in self.hosts if h.startswith("wkr")]

    @property
    def lib_dir(self) -> Path:
        raise TestbedCommandError(f"data roots are inside the VMs ({DATA_ROOT}), not on this machine: "
                                  "read them with tb.exec(host, ...) to run this test on VMs")

    def data_files(self, host: str, pattern: str) -> dict[str, str]:
        """Files under host's data root matching the glob pattern (relative to the data root),
        read inside the VM: {relative path: text}; a directory maps to ""."""
        script = ("import glob, json, os, sys\n"
                  "root = sys.argv[1]\nout = {}\n"
                  "for p in glob.glob(os.path.join(root, sys.argv[2])):\n"
                  "    try:\n"
                  "        out[os.path.relpath(p, root)] = '' if os.path.isdir(p) else open(p).read()\n"
                  "    except OSError:\n"
                  "        pass\n"
                  "print(json.dumps(out))\n")
        cp = self._ssh(host, shlex.join(["python3", "-c", script, DATA_ROOT, pattern]))
        if cp.returncode != 0:
            raise TestbedCommandError(f"{host}: reading {pattern} under {DATA_ROOT}: {cp.stderr.strip()}")
        files: dict[str, str] = json.loads(cp.stdout)
        return files

    def address(self, name: str) -> str:
        if name == INFRA:
            return "10.231.0.1"
        return self._vm(name)["address"]

    def vm_name(self, host: str) -> str:
        return self._vm(host)["name"]

    def logs(self, host: str, lines: int = 0) -> str:
        n = ["-n", str(lines)] if lines else []
        argv = ["journalctl", "-u", "swarmd", "--no-pager", "-o", "cat", *n]
        return self._ssh(host, shlex.join(argv)).stdout

    # ---- doing ---------------------------------------------------------------------------------

    def exec(self, host: str, *cmd: str, check: bool = False, timeout: float = 60,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run cmd in the VM (infra: in the testbed's netns on this machine)."""
        if host == INFRA:
            cp = subprocess.run(["ip", "netns", "exec", NETNS, *cmd], capture_output=True, text=True,
                                timeout=timeout, input=input)
        else:
            env = f"SWARM_HOST=unix://{SOCKET} DOCKER_HOST=unix:///run/swarm/docker.sock"
            cp = self._ssh(host, f"{env} {shlex.join(cmd)}", timeout=timeout, input=input)
        if check and cp.returncode != 0:
            raise TestbedCommandError(f"{host}: {' '.join(cmd)} -> {cp.returncode}: {cp.stderr.strip()}")
        return cp

    def put_file(self, host: str, path: str, text: str, mode: int = 0o644) -> None:
        """Write text to path inside the VM (its parent directories made), as root."""
        script = (f"set -e; mkdir -p {shlex.quote(os.path.dirname(path) or '/')}; "
                  f"cat > {shlex.quote(path)}; chmod {mode:o} {shlex.quote(path)}")
        cp = self._ssh(host, script, input=text)
        if cp.returncode != 0:
            raise TestbedCommandError(f"{host}: writing {path}: {cp.stderr.strip()}")

    def _forwarded(self, host: str, key: str) -> str:
        sock = self._vm(host)[key]
        if not Path(sock).exists():  # no master (after a power cycle): start one
            self.run("ssh", self._vm(host)["name"], "--", "true", check=False, timeout=60)
        return sock

    def client_socket(self, host: str) -> str:
        """The VM's swarmd socket, forwarded to this machine by its ssh master."""
        return self._forwarded(host, "swarmd_socket")

    def engine_socket(self, host: str) -> str:
        """The VM's Docker Engine API socket, forwarded to this machine by its ssh master."""
        return self._forwarded(host, "docker_socket")

    def cli(self, host: str, *args: str, check: bool = False, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`swarm ARGS` against host's daemon: the client runs here, on the VM's socket forwarded by
        its ssh master (inside a TCG VM the CLI alone takes ~17 s to start; `exec(host, "swarm",
        ...)` still runs it there)."""
        cp = self.client(host, SWARM_CLI, *args, timeout=timeout, input=input)
        if check and cp.returncode != 0:
            raise TestbedCommandError(
                f"{host}: swarm {' '.join(args)} -> {cp.returncode}: {cp.stderr.strip()}")
        return cp

    def kill(self, host: str, signal: str = "TERM", wait: bool = True) -> None:
        sig = signal.upper().removeprefix("SIG")
        self._ssh_ok(host, f"systemctl kill --kill-whom=main -s {shlex.quote(sig)} swarmd.service"
                     + (f"; {WAIT_STOPPED}" if wait else ""))

    def start(self, host: str, timeout: float = 60) -> None:
        # a killed daemon leaves its socket file: gone first, so the wait sees the new one
        timeout *= self.slowness
        self._ssh_ok(host, f"systemctl is-active -q swarmd || rm -f {SOCKET}; "
                     "systemctl start swarmd.service; " + WAIT_DAEMON.format(n=int(timeout * 4)),
                     timeout=timeout * 2 + 30)

    def restart(self, host: str, timeout: float = 60) -> None:
        self._ssh_ok(host, "systemctl stop swarmd.service")
        self.start(host, timeout)

    def infra(self, *cmd: str) -> int:
        """Start cmd in the background in the testbed's netns (10.231.0.1); returns its PID. It
        ends at down(), as the netns testbed's infra commands end with it: the netns outlives
        the test here, and a registry left over would answer the next test's address."""
        pid = int(self.run("infra", "--", *cmd).stdout.split()[-1])
        self._infra.append(pid)
        return pid

    def _stop_infra(self) -> list[str]:
        """TERM each infra command's process group (it leads one), then wait for it to be gone."""
        for pid in self._infra:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)

        left = []
        for pid in self._infra:
            try:
                wait_until(lambda pid=pid: not pid_alive(pid), 10, 0.1, f"infra process {pid} to end")
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                left.append(f"infra process {pid} ignored TERM (killed)")
        self._infra = []
        return left

    # ---- VM only ----------------------------------------------------------------------------

    def power_off(self, host: str) -> None:
        """The plug pulled: qemu killed, no shutdown in the guest."""
        self.run("power", self.vm_name(host), "off")

    def power_on(self, host: str) -> None:
        """A cold boot of the same disk (swarmd starts from systemd with the same data root)."""
        self.run("power", self.vm_name(host), "on")

    def cut_link(self, host: str) -> None:
        self.run("link", self.vm_name(host), "down")

    def restore_link(self, host: str) -> None:
        self.run("link", self.vm_name(host), "up")

    # ---- waiting -------------------------------------------------------------------------------

    def wait_for(self, fn: Callable[[], T | None], timeout: float = 30, interval: float = 0.2,
                 what: str = "condition") -> T:
        """As Testbed.wait_for, the timeout scaled by `slowness`."""
        return wait_until(fn, timeout * self.slowness, interval, what)
