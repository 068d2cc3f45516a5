"""One host: its holder process (mount + UTS namespace), its swarmd, and entering it.

Entering a host's netns with `ip netns exec` would remount /sys and hide the cgroup v1
hierarchy, so (as the docker-swarm lab's node.sh) the holder is started as

    nsenter --net=/run/netns/P-HOST unshare --mount --uts --propagation slave sh -c '
        mount --rbind /sys/fs/cgroup KEEP; mount -t sysfs sysfs /sys   # /sys/class/net = ours
        mount --rbind KEEP /sys/fs/cgroup; umount -l KEEP; mount --bind P/HOST.hosts /etc/hosts
        hostname HOST; exec sleep infinity'

and swarmd (and every `exec`) runs with `nsenter -t HOLDER -m -u -n`, so killing and restarting
the daemon keeps the same namespaces, and anything it mounts stays visible to later commands.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

from swtb import procs
from swtb.config import INFRA, BedConfig, Paths
from swtb.errors import TestbedError

HOLDER_CMDLINE = b"sleep\0infinity\0"


def _log_line(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(f"=== testbed {time.strftime('%H:%M:%S')}: {text}\n")


def tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + ln for ln in lines[-n:])


def write_hosts_file(cfg: BedConfig, paths: Paths, host: str) -> Path:
    """The host's /etc/hosts: localhost, then every testbed host (and infra) by name."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             f"{cfg.infra_address}\t{INFRA}"]
    lines += [f"{h.address}\t{h.name}" for h in cfg.hosts]
    path = paths.run_dir / f"{host}.hosts"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_holder(cfg: BedConfig, paths: Paths, host: str) -> int:
    ns, keep = paths.netns(host), paths.cgroup_keep(host)
    keep.mkdir(parents=True, exist_ok=True)
    k = shlex.quote(str(keep))
    etc_hosts = shlex.quote(str(write_hosts_file(cfg, paths, host)))
    script = "; ".join([
        "set -e",
        f"mount --rbind /sys/fs/cgroup {k}",
        f"mount -t sysfs sysfs-{ns} /sys",
        f"mount --rbind {k} /sys/fs/cgroup",
        f"umount -l {k}",
        f"mount --bind {etc_hosts} /etc/hosts",
        f"hostname {host}",
        "exec sleep infinity",
    ])
    argv = ["nsenter", f"--net=/run/netns/{ns}", "--",
            "unshare", "--mount", "--uts", "--propagation", "slave", "--", "sh", "-c", script]
    log = paths.log(host)
    _log_line(log, "starting holder (mount+uts namespace)")
    with log.open("a") as lf:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                             start_new_session=True, cwd="/")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise TestbedError(f"{host}: holder process exited with status {p.returncode}:\n{tail(log)}")
        try:
            if Path(f"/proc/{p.pid}/cmdline").read_bytes() == HOLDER_CMDLINE:
                procs.write_pidfile(paths.holder_pidfile(host), p.pid)
                return p.pid
        except OSError:
            pass
        time.sleep(0.02)
    procs.stop([p.pid], 1.0)
    raise TestbedError(f"{host}: holder process did not get ready in 10s:\n{tail(log)}")


def holder_pid(paths: Paths, host: str) -> int:
    pid = procs.read_pidfile(paths.holder_pidfile(host))
    if pid is None:
        raise TestbedError(f"{host}: its namespaces are gone (holder process not running); "
                           f"`deploy/testbed start {host}` makes new ones")
    return pid


def daemon_pid(paths: Paths, host: str) -> int | None:
    return procs.read_pidfile(paths.pidfile(host))


def _env(cfg: BedConfig, paths: Paths, host: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(cfg.daemon_env)
    bindir = str(Path(cfg.swarmd).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env["SWARM_HOST"] = f"unix://{paths.socket(host)}"
    env["DOCKER_HOST"] = f"unix://{paths.api_socket(host)}"
    return env


def start_daemon(cfg: BedConfig, paths: Paths, host: str) -> subprocess.Popen[bytes]:
    if not os.access(cfg.swarmd, os.X_OK):
        raise TestbedError(f"swarmd not found or not executable: {cfg.swarmd} (use --swarmd or SWTB_SWARMD)")
    if daemon_pid(paths, host) is not None:
        raise TestbedError(f"{host}: swarmd is already running (pid {daemon_pid(paths, host)})")
    holder = holder_pid(paths, host)
    sock = paths.socket(host)
    sock.unlink(missing_ok=True)  # stale after a kill -9; its absence tells us when the new one is up
    paths.data_root(host).mkdir(parents=True, exist_ok=True)
    argv = ["nsenter", "-t", str(holder), "-m", "-u", "-n", "--", cfg.swarmd,
            "--data-root", str(paths.data_root(host)), "--host", f"unix://{sock}",
            "--api-host", f"unix://{paths.api_socket(host)}",
            "--log-level", cfg.log_level, *cfg.daemon_args]
    log = paths.log(host)
    _log_line(log, "starting " + shlex.join(argv[7:]))
    with log.open("a") as lf:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                             env=_env(cfg, paths, host), start_new_session=True, cwd="/")
    procs.write_pidfile(paths.pidfile(host), p.pid)
    return p


def socket_answers(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(1.0)
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_ready(paths: Paths, host: str, p: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise TestbedError(f"{host}: swarmd exited with status {p.returncode} during startup; "
                               f"log {paths.log(host)}:\n{tail(paths.log(host))}")
        if socket_answers(paths.socket(host)):
            return
        time.sleep(0.1)
    raise TestbedError(f"{host}: swarmd did not open {paths.socket(host)} in {timeout:.0f}s; "
                       f"log:\n{tail(paths.log(host))}")


def kill_daemon(paths: Paths, host: str, sig: int, wait: float | None) -> int | None:
    """Send sig to the host's swarmd; with wait, wait that long for it to exit (error if not)."""
    pid = daemon_pid(paths, host)
    if pid is None:
        return None
    _log_line(paths.log(host), f"sending {signal.Signals(sig).name} to swarmd pid {pid}")
    procs.signal_pid(pid, sig)
    if wait is not None and procs.wait_dead([pid], wait):
        raise TestbedError(f"{host}: swarmd (pid {pid}) still running {wait:.0f}s after "
                           f"{signal.Signals(sig).name}")
    return pid


def stop_daemon(paths: Paths, host: str, timeout: float) -> None:
    pid = daemon_pid(paths, host)
    if pid is not None:
        _log_line(paths.log(host), f"stopping swarmd pid {pid}")
        procs.stop([pid], timeout)


def exec_argv(cfg: BedConfig, paths: Paths, host: str, cmd: list[str]) -> tuple[list[str], dict[str, str]]:
    """argv + env that run cmd inside host (its netns, and for swarmd hosts its mount/UTS ns)."""
    if host == INFRA:
        env = dict(os.environ)
        return ["nsenter", f"--net=/run/netns/{paths.netns(INFRA)}", "--", *cmd], env
    cfg.host(host)
    env = _env(cfg, paths, host)
    return ["nsenter", "-t", str(holder_pid(paths, host)), "-m", "-u", "-n", "--", *cmd], env


def start_infra(paths: Paths, cmd: list[str]) -> int:
    """Run cmd in the infra netns in the background; its PID is recorded so `down` stops it."""
    n = 1
    while paths.infra_pidfile(n).exists():
        n += 1
    argv = ["nsenter", f"--net=/run/netns/{paths.netns(INFRA)}", "--", *cmd]
    log = paths.infra_log(n)
    _log_line(log, "starting " + shlex.join(cmd))
    with log.open("a") as lf:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                             start_new_session=True)
    procs.write_pidfile(paths.infra_pidfile(n), p.pid)
    time.sleep(0.2)
    if p.poll() is not None:
        raise TestbedError(f"infra command exited at once with status {p.returncode}:\n{tail(log)}")
    return p.pid


def infra_pids(paths: Paths) -> list[int]:
    out = []
    for f in sorted(paths.run_dir.glob("infra-*.pid")):
        pid = procs.read_pidfile(f)
        if pid is not None:
            out.append(pid)
    return out
