"""The node runtime: create/start/wait/stop/kill/remove/state/list/logs of containers.

Process model (see :mod:`node.runtime.zygote` and :mod:`node.runtime.shim`)::

    daemon (threads) --socketpair--> zygote (single-threaded, spawned once via subprocess)
                                        └─ fork ─ fork ─> shim (own session, per container)
                                                            └─ fork ─> container pid 1

The daemon never forks. Every container has a directory ``root/containers/<id>/`` holding
``config.json`` (what the shim runs), ``state.json`` (written by the shim), ``shim.sock``,
``container.log`` and the overlay ``upper/``, ``work/`` and ``rootfs/`` (mount point; the
overlay is mounted only inside the container's mount namespace, so it disappears with it).
Mounts (:mod:`node.runtime.mounts`): volumes come from the ``volumes`` provider given to
:class:`Runtime` (acquired at create, released at remove); the bytes of secret/config files
travel with the ``spawn`` request through the zygote to the shim, never into ``config.json``,
and end on a tmpfs inside the container's mount namespace (``files/`` is its empty mount point).
After a daemon restart :meth:`Runtime.list` rediscovers everything from those directories and
talks to the still-running shims through their sockets (re-attach).

All methods are synchronous and thread-safe (the agent calls them from worker threads).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal as signal_mod
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from node.runtime import cgroups, seccomp
from node.runtime.errors import (
    ContainerExistsError,
    ContainerNotFoundError,
    ContainerStartError,
    ContainerStateError,
    InvalidConfigError,
    RuntimeSetupError,
    ShimUnavailableError,
    WaitTimeout,
)
from node.runtime.logs import read_logs
from node.runtime.mounts import Mount, VolumeProvider, file_entries, runtime_entries
from node.runtime.spec import (
    ContainerConfig,
    ContainerState,
    ExecResult,
    LogLine,
    Status,
    image_parts,
    merge_process,
    validate,
)
from node.runtime.zygote import BOOT

log = logging.getLogger(__name__)
#: Where Docker puts its init (tini) in a container started with --init, and where it is found
#: on the node (statically linked: it runs in any image).
INIT_TARGET = "/sbin/docker-init"
TRASH_PREFIX = ".removing-"   # container ids cannot start with a dot (spec._ID)
INIT_BINARIES = ("/usr/libexec/docker/docker-init", "/usr/bin/tini-static")
PKG_ROOT = str(Path(__file__).resolve().parent.parent.parent)


def parse_signal(sig: str | int) -> int:
    if isinstance(sig, int):
        return sig
    s = sig.strip().upper()
    if s.isdigit():
        return int(s)
    try:
        return int(signal_mod.Signals[s if s.startswith("SIG") else "SIG" + s])
    except KeyError:
        raise InvalidConfigError(f"unknown signal {sig!r}") from None


def _connect(s: socket.socket, path: Path) -> None:
    """Connect to a unix socket even when its path is longer than AF_UNIX allows (107 bytes):
    go through ``/proc/self/fd/<dir fd>/name`` (chdir is process-wide, so not an option)."""
    if len(str(path)) < 100:
        s.connect(str(path))
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        s.connect(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)


def _etc_files(hostname: str, cfg: ContainerConfig) -> dict[str, str]:
    """Docker-style ``/etc/hostname``, ``/etc/hosts`` and ``/etc/resolv.conf`` for the
    container's writable layer (the shim writes them; cheaper than three bind mounts: ~1 ms
    per start) unless the config mounts its own (the network layer does that for service
    DNS). resolv.conf is the host's without loopback nameservers."""
    own = {m.target for m in cfg.mounts} | {f.target for f in cfg.files}
    files = {"hostname": f"{hostname}\n",
             "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                      f"127.0.1.1\t{hostname}\n"
                      + "".join(f"{ip}\t{host}\n" for host, ip in cfg.extra_hosts)}
    try:
        host = Path("/etc/resolv.conf").read_text()
        files["resolv.conf"] = "".join(
            line + "\n" for line in host.splitlines()
            if not (line.startswith("nameserver") and line.split()[1:2] and
                    line.split()[1].startswith(("127.", "::1"))))
    except OSError:
        pass
    return {name: text for name, text in files.items() if f"/etc/{name}" not in own}


def layer_users(root: Path, layers: Sequence[Path]) -> list[tuple[str, bool, list[str]]]:
    """Containers under the runtime ``root`` with any of ``layers`` as a lower layer:
    ``[(container id, not yet exited, its lower layer dirs)]``. Reads only the container
    directories (no zygote, no shim): the image store asks this before it deletes an image."""
    want = {str(p) for p in layers}
    out: list[tuple[str, bool, list[str]]] = []
    cdir = Path(root) / "containers"
    if not want or not cdir.is_dir():
        return out
    for d in sorted(cdir.iterdir()):
        try:
            lowers = list(json.loads((d / "config.json").read_text()).get("lowers", ()))
        except (OSError, ValueError):
            continue
        if want & set(lowers):
            try:
                status = json.loads((d / "state.json").read_text()).get("status")
            except (OSError, ValueError):
                status = "created"
            out.append((d.name, status in ("created", "running"), lowers))
    return out


class _Zygote:
    """The daemon side of the zygote connection; restarts the zygote if it died."""

    def __init__(self, python: str) -> None:
        self.python = python
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None

    def _start(self) -> None:
        parent, child = socket.socketpair()
        self.proc = subprocess.Popen([self.python, "-I", "-S", "-c", BOOT, PKG_ROOT], stdin=child.fileno(),
                                     stdout=subprocess.DEVNULL, close_fds=True, start_new_session=True)
        child.close()
        self.sock = parent
        self.rfile = parent.makefile("rb")

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            for attempt in range(2):
                if self.proc is None or self.proc.poll() is not None:
                    self._start()
                assert self.sock is not None
                try:
                    self.sock.settimeout(60)
                    self.sock.sendall(json.dumps(req).encode() + b"\n")
                    line = self.rfile.readline()
                except TimeoutError:
                    self.close(kill=True)   # a shim never answered: the stream is out of step
                    raise RuntimeSetupError("no answer from the zygote/shim within 60 s") from None
                except OSError:
                    line = b""
                if line:
                    reply: dict[str, Any] = json.loads(line)
                    return reply
                self.close()
                if attempt == 1:
                    raise RuntimeSetupError("zygote died while handling a request")
        raise RuntimeSetupError("unreachable")

    def close(self, kill: bool = False) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            if kill:
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(2)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class Runtime:
    """Runs containers from images; see the module docstring for the process model."""

    def __init__(self, root: Path, cgroup_parent: str = "pyswarm", seccomp_enabled: bool = True,
                 python: str | None = None, clone_into_cgroup: bool = True,
                 volumes: VolumeProvider | None = None, init_path: str = "") -> None:
        self.root = Path(root)
        self.volumes = volumes            # for type="volume" mounts (node.volumes.VolumeStore)
        self.init_path = init_path        # --init's binary ("" = the first of INIT_BINARIES found)
        self.cdir = self.root / "containers"
        self.cdir.mkdir(parents=True, exist_ok=True)
        self._collect_trash()
        self.cgroup_parent = cgroup_parent
        # Docker's profile per capability set, compiled once per set (the default one now)
        self.seccomp = seccomp.BpfCache(self.root / "seccomp") if seccomp_enabled else None
        if self.seccomp is not None:
            self.seccomp.path(None)
        self._zygote = _Zygote(python or sys.executable)
        self.clone_into_cgroup = clone_into_cgroup     # False: fork + cgroup.procs (tests the fallback)

    def close(self) -> None:
        """Stop the zygote (containers and their shims keep running)."""
        self._zygote.close()

    # ------------------------------------------------------------ lifecycle
    def create(self, cfg: ContainerConfig) -> ContainerState:
        """Prepare a container (rootfs, namespaces, cgroups ready; process not yet exec'd)."""
        validate(cfg)
        layers, image_cfg = image_parts(cfg.image)
        process = merge_process(cfg, image_cfg)
        d = self.cdir / cfg.id
        try:
            d.mkdir()
        except FileExistsError:
            raise ContainerExistsError(f"container {cfg.id} already exists") from None
        cg: cgroups.Cgroup | None = None
        try:
            user_mounts = list(cfg.mounts)
            if cfg.init:       # Docker's --init: its docker-init (tini) bound read-only, as pid 1
                user_mounts.append(Mount(target=INIT_TARGET, source=self._init_binary(), type="bind",
                                         read_only=True))
                process = {**process, "argv": [INIT_TARGET, "--", *process["argv"]]}
            mounts = runtime_entries(user_mounts, self.volumes, cfg.id)     # acquires the volumes
            files, data = file_entries(cfg.files)
            # here only what the container's first process is forked into (the cgroup2 dir);
            # the shim makes the v1 cgroups while that process sets up its namespaces and
            # writable layer (two CPUs' worth of work at once); either reports any error
            cg = cgroups.Cgroup(self.cgroup_parent, cfg.id)
            cg.create_unified(cfg.limits)
            oom = cg.ctrl.get("memory", cg.dirs.get("unified", Path("/nonexistent")))
            oom_file = oom / ("memory.oom_control" if cg.mode != "v2" else "memory.events")
            bpf = self.seccomp.path(cfg.capabilities) if (self.seccomp and cfg.seccomp) else None
            spec = {
                "id": cfg.id, "name": cfg.name, "labels": dict(cfg.labels), "process": process,
                "image": cfg.image_ref, "image_id": str(getattr(cfg.image, "id", "") or ""),
                "rootfs": str(d / "rootfs"), "upper": str(d / "upper"), "work": str(d / "work"),
                "lowers": [str(p) for p in reversed(layers)],
                "etc_files": _etc_files(process["hostname"], cfg),
                "sysctls": dict(cfg.sysctls),
                "limits": dataclasses.asdict(cfg.limits), "cgroup_v1": cg.v1_dirs,
                "cgroup_tasks": cg.v1_tasks_files,
                "cgroup_unified": str(cg.unified_dir) if cg.unified_dir else None,
                "cgroup_clone3": self.clone_into_cgroup,
                "cgroup_dirs": [str(p) for p in cg.dirs.values()],
                "oom_file": str(oom_file), "netns_path": cfg.netns_path,
                "mounts": mounts, "files": files, "files_stage": str(d / "files"),
                "read_only": cfg.read_only, "tty": cfg.tty,
                "log_max_bytes": cfg.log_max_bytes, "log_max_files": cfg.log_max_files,
                "log_driver": cfg.log_driver,
                "caps": list(cfg.capabilities) if cfg.capabilities is not None else None,
                "seccomp_bpf": str(bpf) if bpf else None,
                "stop_signal": cfg.stop_signal or getattr(image_cfg, "stop_signal", "") or "SIGTERM",
            }
            (d / "config.json").write_text(json.dumps(spec))
            req: dict[str, Any] = {"op": "spawn", "dir": str(d)}
            if data:          # the files' bytes go through the zygote to the shim, never to disk
                req["files"] = [base64.b64encode(b).decode() for b in data]
            reply = self._zygote.request(req)
            if not reply.get("ok"):
                raise ContainerStartError(f"create {cfg.id}: {reply.get('error')}")
        except BaseException:
            if cg is not None:
                cg.remove()
            shutil.rmtree(d, ignore_errors=True)
            if self.volumes is not None:
                self.volumes.release(cfg.id)
            raise
        log.info("container %s created (pid %s, shim %s)", cfg.id, reply.get("pid"), reply.get("shim_pid"))
        return ContainerState.from_json(reply["state"])

    def _init_binary(self) -> str:
        for path in (self.init_path, *INIT_BINARIES):
            if path and os.access(path, os.X_OK):
                return str(path)
        raise InvalidConfigError("--init: no init binary on this node (install tini: tini-static, "
                                 "or docker-init)")

    def start(self, cid: str) -> None:
        # no state.json read first: the shim knows and refuses any state but "created"
        try:
            reply = self._shim(cid, {"op": "start"}, timeout=30)
        except ShimUnavailableError:
            st = self.state(cid)
            if st.status == Status.EXITED:
                raise ContainerStateError(f"container {cid} exited before it was started") from None
            if st.status != Status.CREATED:
                raise ContainerStateError(f"container {cid} is {st.status.value}, not created") from None
            raise
        if not reply.get("ok"):
            if reply.get("status"):
                raise ContainerStateError(f"container {cid} is {reply['status']}, not created")
            raise ContainerStartError(f"start {cid}: {reply.get('error')}")
        log.info("container %s started", cid)

    def wait(self, cid: str, timeout: float | None = None) -> int:
        """Block until the container exits; return its exit code (128+N if killed by N)."""
        try:                               # the shim answers at once if it has exited already
            reply = self._shim(cid, {"op": "wait"}, timeout=timeout)
        except TimeoutError:
            raise WaitTimeout(f"container {cid} still running after {timeout}s") from None
        except ShimUnavailableError:
            st = self.state(cid)
            if st.status == Status.EXITED:
                return int(st.exit_code if st.exit_code is not None else -1)
            raise
        return int(reply["state"]["exit_code"])

    def exec(self, cid: str, argv: Sequence[str], *, env: Sequence[str] = (), user: str = "",
             workdir: str = "", timeout: float | None = None,
             max_output: int = 64 * 1024) -> ExecResult:
        """Run ``argv`` inside the running container ``cid`` (its namespaces, cgroups, user,
        capabilities and seccomp filter; :mod:`node.runtime.execproc`) and wait for it.
        ``env`` adds to the container's environment; ``user``/``workdir`` default to the
        container's. At ``timeout`` seconds the process is killed (``timed_out``)."""
        argv = list(argv)
        if not argv or not all(isinstance(a, str) and a and "\0" not in a for a in argv):
            raise InvalidConfigError("exec needs a command (non-empty strings)")
        for e in env:
            if "=" not in e or e.startswith("="):
                raise InvalidConfigError(f"invalid environment variable {e!r}: want KEY=VALUE")
        req = {"op": "exec", "argv": argv, "env": list(env), "user": user, "cwd": workdir,
               "timeout": timeout or 0, "max_output": max_output}
        if not (self._dir(cid) / "config.json").exists():
            raise ContainerNotFoundError(f"no such container: {cid}")
        wait_for = None if timeout is None else timeout + 10.0    # the shim kills at timeout
        reply = self._shim(cid, req, timeout=wait_for)
        if not reply.get("ok"):
            if reply.get("status"):
                raise ContainerStateError(f"container {cid} is {reply['status']}, not running")
            raise ContainerStartError(f"exec in {cid}: {reply.get('error')}")
        return ExecResult(exit_code=int(reply["exit_code"]), output=base64.b64decode(reply.get("output", "")),
                          timed_out=bool(reply.get("timed_out")), truncated=bool(reply.get("truncated")),
                          error=str(reply.get("error") or ""))

    def kill(self, cid: str, sig: str | int = "SIGKILL") -> None:
        num = parse_signal(sig)
        if self.state(cid).status == Status.EXITED:
            return
        with contextlib.suppress(ShimUnavailableError):
            self._shim(cid, {"op": "kill", "signal": num}, timeout=5)

    def stop(self, cid: str, grace: float = 10.0, signal: str | int | None = None) -> int:
        """Send the stop signal, wait ``grace`` seconds, then SIGKILL. Return the exit code."""
        st = self.state(cid)
        if st.status == Status.EXITED:
            return int(st.exit_code if st.exit_code is not None else -1)
        if signal is None:
            spec = json.loads((self.cdir / cid / "config.json").read_text())
            signal = spec.get("stop_signal") or "SIGTERM"
        if st.status == Status.CREATED:
            self.kill(cid, "SIGKILL")
            return self.wait(cid, timeout=10)
        self.kill(cid, signal)
        try:
            return self.wait(cid, timeout=grace)
        except WaitTimeout:
            log.info("container %s did not stop in %.1fs; SIGKILL", cid, grace)
        self.kill(cid, "SIGKILL")
        return self.wait(cid, timeout=30)

    def remove(self, cid: str, force: bool = False) -> None:
        """Free everything of an exited (or, with ``force``, a running) container."""
        d = self._dir(cid)
        st = self.state(cid)
        if st.status == Status.RUNNING and not force:
            raise ContainerStateError(f"container {cid} is running; stop it first or use force")
        if st.status != Status.EXITED:
            self.kill(cid, "SIGKILL")
            with contextlib.suppress(WaitTimeout, ShimUnavailableError):
                self.wait(cid, timeout=10)
        self._write_removing(d)
        self._wait_shim_gone(d)
        cg = cgroups.Cgroup(self.cgroup_parent, cid)
        cg.kill_all()
        cg.remove()
        # renamed away first, in one step: a daemon killed in the middle of the tree's removal
        # leaves a trash directory the next start finishes, never a half-removed container
        # (state.json gone, config.json kept) that nobody owns
        trash = self.cdir / f"{TRASH_PREFIX}{cid}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(d, trash)
        except OSError as e:
            raise ContainerStateError(f"container {cid}: directory could not be removed: {e}") from e
        shutil.rmtree(trash, ignore_errors=True)
        if trash.exists():
            log.warning("container %s removed; its directory %s is left for the next start", cid, trash)
        if self.volumes is not None:
            self.volumes.release(cid)         # its volumes are free again (anonymous ones go)
        log.info("container %s removed", cid)

    def _collect_trash(self) -> None:
        """Finish removals cut short by a crash (see :meth:`remove`)."""
        for d in self.cdir.glob(f"{TRASH_PREFIX}*"):
            shutil.rmtree(d, ignore_errors=True)
            log.info("removed %s, left by an interrupted container removal", d.name)

    # ------------------------------------------------------------ queries
    def state(self, cid: str) -> ContainerState:
        d = self._dir(cid)
        for _ in range(2):
            try:
                data = json.loads((d / "state.json").read_text())
            except FileNotFoundError:     # being created, or a create cut short: remove() cleans up
                name, labels = _config_identity(d)   # whose it is, so its owner can remove it
                return ContainerState(id=cid, status=Status.CREATED, name=name, labels=labels,
                                      error="no state (create in progress or interrupted)")
            except ValueError:
                return ContainerState(id=cid, status=Status.REMOVING)
            st = ContainerState.from_json(data)
            if st.status not in (Status.CREATED, Status.RUNNING) or self._shim_alive(d, st):
                return st
            # the shim may have finished between the read and the check: read once more
        return ContainerState.from_json({**data, "status": "exited",
                                         "error": data.get("error") or "shim lost (exit status unknown)"})

    def list(self) -> list[ContainerState]:
        out = []
        for d in sorted(self.cdir.iterdir()):     # incl. dirs of creates cut short by a crash
            if d.is_dir() and not d.name.startswith(TRASH_PREFIX):
                with contextlib.suppress(ContainerNotFoundError):
                    out.append(self.state(d.name))
        return out

    def config(self, cid: str) -> dict[str, Any]:
        """What ``create`` wrote for the container (``config.json``: its process, image, mounts,
        limits); ``{}`` while a create has not written it yet."""
        try:
            data = json.loads((self._dir(cid) / "config.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def logs(self, cid: str, follow: bool = False, tail: int = -1) -> Iterator[LogLine]:
        d = self._dir(cid)
        return read_logs(d / "container.log", follow, tail,
                         exited=lambda: self.state(cid).status != Status.RUNNING)

    # ------------------------------------------------------------ plumbing
    def _dir(self, cid: str) -> Path:
        d = self.cdir / cid
        if not cid or "/" in cid or cid.startswith(TRASH_PREFIX) or not d.is_dir():
            raise ContainerNotFoundError(f"no such container: {cid}")
        return d

    @staticmethod
    def _wait_shim_gone(d: Path, timeout: float = 5.0) -> None:
        """Until the shim has exited (its lock on ``shim.lock`` is free): after answering
        ``wait`` it still tears down the namespaces and removes the cgroups."""
        try:
            fd = os.open(d / "shim.lock", os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    os.lockf(fd, os.F_TLOCK, 0)
                    return
                except OSError:
                    if time.monotonic() > deadline:
                        log.warning("shim of %s still running after %.0fs; removing anyway", d.name, timeout)
                        return
                    time.sleep(0.002)
        finally:
            os.close(fd)

    @staticmethod
    def _write_removing(d: Path) -> None:
        p = d / "state.json"
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(p.read_text())
            data["status"] = "removing"
            p.write_text(json.dumps(data))

    @staticmethod
    def _shim_alive(d: Path, st: ContainerState) -> bool:
        if not (d / "shim.sock").exists() or not st.shim_pid:
            return False
        try:
            with open(f"/proc/{st.shim_pid}/cmdline", "rb") as f:
                return bool(f.read(1))
        except OSError:
            return False

    def _shim(self, cid: str, req: dict[str, Any], timeout: float | None) -> dict[str, Any]:
        path = self._dir(cid) / "shim.sock"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            try:
                _connect(s, path)
                s.sendall(json.dumps(req).encode() + b"\n")
            except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError) as e:
                raise ShimUnavailableError(f"container {cid}: shim not reachable ({e})") from None
            s.settimeout(timeout)
            buf = b""
            deadline = time.monotonic() + timeout if timeout is not None else None
            while b"\n" not in buf:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    raise ShimUnavailableError(f"container {cid}: shim closed the connection")
                buf += chunk
                if deadline is not None:
                    s.settimeout(max(0.001, deadline - time.monotonic()))
            reply: dict[str, Any] = json.loads(buf.split(b"\n", 1)[0])
            return reply
        finally:
            s.close()


def _config_identity(d: Path) -> tuple[str, dict[str, str]]:
    """Name and labels from the config.json a create wrote before its shim made state.json."""
    try:
        spec = json.loads((d / "config.json").read_text())
        return str(spec.get("name") or ""), {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
    except (OSError, ValueError, AttributeError):
        return "", {}
