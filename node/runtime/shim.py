"""Per-container supervisor ("shim"), forked from the zygote; outlives the daemon.

One single-threaded process per container (like containerd-shim/conmon). It:

* does ``unshare(CLONE_NEWPID)`` and forks the container's first process
  (:mod:`node.runtime.container`) straight into the container's cgroup2 directory
  (``clone3(CLONE_INTO_CGROUP)``), staying in the host namespaces itself; while the child
  sets up its namespaces and writable layer, makes the v1 cgroups with their limits, then
  tells it ``J`` (without clone3 only after writing its pid to ``cgroup.procs``);
* waits for ``R``/``E…`` on the ready pipe, then writes ``state.json`` (``created``), binds
  ``shim.sock`` and answers the daemon's ``spawn`` request (``{"ok": …}`` on ``report_fd``,
  its copy of the zygote's control socket);
* serves line-JSON requests on ``shim.sock``: ``start`` (release the process; answer after
  exec succeeded or failed), ``kill`` (``pidfd_send_signal``, so a recycled pid can never be
  hit), ``state``, ``wait`` (answered when the container has exited), ``exec`` (a second
  process in the container, :mod:`node.runtime.execproc`; answered when it exits, with its
  exit code and up to ``max_output`` bytes of its combined output; killed at ``timeout``).
  The joiner the shim forks stays the exec'd process's parent and reports its exit code;
* copies the container's stdout/stderr pipes into ``container.log`` as Docker json-file
  lines ``{"log": …, "stream": …, "time": …}`` (lines split at 16 KiB like Docker), rotated
  to ``container.log.1`` … when ``log_max_bytes`` is set (json-file's max-size/max-file);
* on exit (``pidfd`` readable): reaps, drains the pipes, records the exit code
  (128+signal when killed), ``oom_killed`` and ``finished_at`` atomically in ``state.json``,
  answers waiters, only then lets go of the container's namespaces (their teardown is not on
  the path of ``wait``), removes its socket and cgroup directories and exits.

The daemon can die and come back at any time: everything it needs is in the container
directory (``state.json``, ``shim.sock``, ``container.log``).
"""

from __future__ import annotations

import binascii
import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import time
from typing import Any, NoReturn

from node.runtime import cgroupv1, container, execproc
from node.runtime import linux as L
from node.runtime.errors import RuntimeSetupError

MAX_LINE = 16 * 1024
MAX_EXEC_OUTPUT = 1 << 20


def now() -> str:
    ns = time.time_ns()
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class Shim:
    def __init__(self, cdir: str, report_fd: int, files: list[str] | None = None) -> None:
        self.dir = cdir
        self.report_fd = report_fd
        with open(os.path.join(cdir, "config.json")) as f:
            self.cfg: dict[str, Any] = json.load(f)
        entries = self.cfg.get("files") or []
        if len(files or ()) != len(entries):
            raise RuntimeSetupError(f"{len(entries)} files in config.json, {len(files or ())} sent")
        for entry, b64 in zip(entries, files or (), strict=True):   # bytes from the spawn request
            entry["data"] = binascii.a2b_base64(b64)
        self.state: dict[str, Any] = {
            "id": self.cfg["id"], "name": self.cfg.get("name", ""), "labels": self.cfg.get("labels", {}),
            "status": "created", "pid": None, "shim_pid": os.getpid(), "exit_code": None,
            "started_at": None, "finished_at": None, "oom_killed": False, "error": None,
            "created_at": now()}
        self.sel = selectors.DefaultSelector()
        self.waiters: list[socket.socket] = []
        self.bufs: dict[int, bytes] = {}
        self.streams: dict[int, str] = {}
        self.exited_at: float | None = None
        # held for the shim's whole life (a POSIX lock: not inherited by the container, freed
        # when the shim exits): Runtime.remove waits on it, so a removed container's shim can
        # never race a new container that reuses the id (its late rmdir of the cgroups)
        self.lock_fd = os.open(os.path.join(cdir, "shim.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.lockf(self.lock_fd, os.F_LOCK, 0)
        self.log = open(os.path.join(cdir, "container.log"), "ab", buffering=0)  # noqa: SIM115
        self.log_size = self.log.tell()
        self.log_max = int(self.cfg.get("log_max_bytes") or 0)
        self.log_none = self.cfg.get("log_driver") == "none"      # --log-driver none: dropped
        self.ns_fds: list[int] = []
        self.execs: dict[int, _Exec] = {}          # by pidfd
        self._bpf: bytes | None = None

    # ------------------------------------------------------------ lifecycle
    def run(self) -> NoReturn:
        if self.cfg.get("tty"):       # -t: one pseudo-terminal for stdin, stdout and stderr
            out_r, out_w = os.openpty()
            err_r, err_w = os.pipe()  # nothing writes it: closed at once on the container's side
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        L.unshare(L.CLONE_NEWPID)
        pid, slow_join = self._fork()
        if pid == 0:
            for fd in (out_r, err_r, ready_r, go_w, self.report_fd, self.log.fileno()):
                os.close(fd)
            container.run(self.cfg, ready_w, go_r, out_w, err_w)
        for entry in self.cfg.get("files") or ():    # the container has them; we need them no more
            entry.pop("data", None)
        for fd in (out_w, err_w, ready_w, go_r):
            os.close(fd)
        self.pid, self.ready_r, self.go_w = pid, ready_r, go_w
        self.pidfd = os.pidfd_open(pid)
        join_error: Exception | None = None
        try:                           # all in parallel with the child's namespace set-up
            self._prepare()
            for path in slow_join:          # only without clone3
                with open(path, "w") as f:
                    f.write(str(pid))
            os.write(go_w, b"J")
        except (OSError, RuntimeSetupError) as e:   # incl. the child having failed (EPIPE/ESRCH)
            join_error = e
            os.kill(pid, signal.SIGKILL)
        # while the child finishes its setup: our state file and socket (nobody reads either
        # before our report; on failure the daemon removes the whole directory)
        self.state["pid"] = pid
        write_json(os.path.join(self.dir, "state.json"), self.state)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.dir, "shim.sock"))
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        os.chdir(self.dir)                 # bind relative: AF_UNIX paths are limited to 107 bytes
        self.lsock.bind("shim.sock")
        self.lsock.listen(16)
        self.lsock.setblocking(False)
        msg = _read_all(ready_r, stop_at=b"R")
        if join_error is not None and not msg.startswith(b"E"):
            msg = f"E{join_error}".encode()
        if msg != b"R":
            os.waitpid(pid, 0)
            err = msg[1:].decode(errors="replace") if msg.startswith(b"E") else "container init died"
            with contextlib.suppress(OSError):
                os.unlink("shim.sock")
            self._report({"ok": False, "error": err})
            os._exit(0)
        self._hold_namespaces(pid)
        self._report({"ok": True, "pid": pid, "shim_pid": os.getpid(), "state": self.state})
        for fd, name in ((out_r, "stdout"), (err_r, "stderr")):
            os.set_blocking(fd, False)
            self.streams[fd] = name
            self.bufs[fd] = b""
            self.sel.register(fd, selectors.EVENT_READ, self._on_output)
        self.sel.register(self.lsock, selectors.EVENT_READ, self._on_accept)
        self.sel.register(self.pidfd, selectors.EVENT_READ, self._on_exit)
        self.loop()

    def _prepare(self) -> None:
        """The v1 cgroups with their limits: what the child needs before it moves itself
        into them (``J``); it makes its writable layer's directories meanwhile."""
        cfg = self.cfg
        lim = cfg.get("limits") or {}
        cgroupv1.setup_v1(cfg.get("cgroup_v1") or {}, lim.get("memory_bytes"), lim.get("nano_cpus"),
                          lim.get("pids"), cfg["id"])

    def _fork(self) -> tuple[int, list[str]]:
        """Fork the container's first process, straight into its cgroup2 directory if any.

        Returns ``(pid, files)``: ``files`` are the ``cgroup.procs`` the shim must still write
        the pid to (only when ``clone3(CLONE_INTO_CGROUP)`` is unavailable: kernel < 5.7 or a
        seccomp policy around swarmd). The v1 hierarchies are joined by the child itself.
        """
        unified = self.cfg.get("cgroup_unified")
        if not unified:
            return os.fork(), []
        if not self.cfg.get("cgroup_clone3", True):
            return os.fork(), [os.path.join(unified, "cgroup.procs")]
        fd = os.open(unified, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return L.fork_into_cgroup(fd), []
        except OSError as e:
            os.write(2, f"shim: {e}; falling back to fork + cgroup.procs\n".encode())
            return os.fork(), [os.path.join(unified, "cgroup.procs")]
        finally:
            os.close(fd)

    def _hold_namespaces(self, pid: int) -> None:
        """Keep the container's mount, net and ipc namespaces referenced until after waiters
        are answered. Otherwise the exit of its pid 1 tears them down *before* the exit is
        reported (unmounting ~25 mounts waits for an RCU grace period): ~1 ms of every
        ``wait``. Closing these fds in :meth:`_finish` does that work off the critical path."""
        for ns in ("mnt", "net", "ipc"):
            with contextlib.suppress(OSError):
                self.ns_fds.append(os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC))

    def _report(self, msg: dict[str, Any]) -> None:
        fd, self.report_fd = self.report_fd, -1
        os.write(fd, json.dumps(msg).encode() + b"\n")
        os.close(fd)

    def loop(self) -> NoReturn:
        while True:
            timeout = None
            if self.exited_at is not None:
                if not self.streams or time.monotonic() - self.exited_at > 2.0:
                    self._finish()
                timeout = 0.1
            deadlines = [e.deadline for e in self.execs.values() if e.deadline != float("inf")]
            if deadlines:
                nxt = max(0.0, min(deadlines) - time.monotonic())
                timeout = nxt if timeout is None else min(timeout, nxt)
            for key, _ in self.sel.select(timeout):
                key.data(key.fileobj)
            self._exec_deadlines()

    # ------------------------------------------------------------ events
    def _on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:          # a pty master reads EIO once no process holds the slave
            if e.errno != errno.EIO:
                raise
            data = b""
        stream = self.streams[fd]
        if not data:
            if self.bufs[fd]:
                self._log(stream, self.bufs[fd])
            self.sel.unregister(fd)
            os.close(fd)
            del self.streams[fd]
            return
        buf = self.bufs[fd] + data
        *lines, rest = buf.split(b"\n")
        for line in lines:
            self._log(stream, line + b"\n")
        while len(rest) >= MAX_LINE:
            self._log(stream, rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        self.bufs[fd] = rest

    def _log(self, stream: str, data: bytes) -> None:
        if self.log_none:
            return
        rec = json.dumps({"log": data.decode(errors="replace"), "stream": stream, "time": now()})
        self.log_size += self.log.write(rec.encode() + b"\n") or 0
        if self.log_max and self.log_size >= self.log_max:
            self._rotate()

    def _rotate(self) -> None:
        """Docker json-file ``max-size``/``max-file``: container.log -> .1 -> .2 ..."""
        base = os.path.join(self.dir, "container.log")
        keep = max(1, int(self.cfg.get("log_max_files") or 1))
        self.log.close()
        if keep == 1:
            os.unlink(base)
        else:
            for i in range(keep - 1, 0, -1):
                src = base if i == 1 else f"{base}.{i - 1}"
                with contextlib.suppress(FileNotFoundError):
                    os.replace(src, f"{base}.{i}")
        self.log = open(base, "ab", buffering=0)  # noqa: SIM115
        self.log_size = 0

    def _on_accept(self, lsock: socket.socket) -> None:
        try:
            conn, _ = lsock.accept()
        except BlockingIOError:
            return
        conn.settimeout(2.0)
        try:
            req = json.loads(_recv_line(conn) or b"{}")
            reply = self._handle(conn, req)
        except (OSError, ValueError) as e:
            reply = {"ok": False, "error": f"bad request: {e}"}
        if reply is not None:
            _send(conn, reply)

    def _handle(self, conn: socket.socket, req: dict[str, Any]) -> dict[str, Any] | None:
        op = req.get("op")
        if op == "state":
            return {"ok": True, "state": self.state}
        if op == "kill":
            if self.state["status"] == "exited":
                return {"ok": True}
            try:
                signal.pidfd_send_signal(self.pidfd, int(req.get("signal", 15)))
            except ProcessLookupError:
                pass
            return {"ok": True}
        if op == "wait":
            if self.state["status"] == "exited":
                return {"ok": True, "state": self.state}
            self.waiters.append(conn)
            return None
        if op == "start":
            return self._start()
        if op == "exec":
            return self._exec(conn, req)
        return {"ok": False, "error": f"unknown op {op!r}"}

    # ------------------------------------------------------------ exec
    def _exec(self, conn: socket.socket, req: dict[str, Any]) -> dict[str, Any] | None:
        if self.state["status"] != "running" or self.exited_at is not None:
            status = "exited" if self.exited_at is not None else self.state["status"]
            return {"ok": False, "error": f"container is {status}, not running", "status": status}
        argv = req.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
            return {"ok": False, "error": "exec needs a command"}
        if self._bpf is None:
            self._bpf = b""
            if self.cfg.get("seccomp_bpf"):
                with open(self.cfg["seccomp_bpf"], "rb") as f:
                    self._bpf = f.read()
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        joiner = os.fork()
        if joiner == 0:
            with contextlib.suppress(OSError):
                for fd in (out_r, err_r, self.lock_fd, self.log.fileno(), conn.fileno(), mine.fileno()):
                    os.close(fd)
            execproc.joiner(self.cfg, self.pid, req, self._bpf, out_w, err_w, theirs)
        for fd in (out_w, err_w):
            os.close(fd)
        theirs.close()
        try:
            _, fds, _, _ = socket.recv_fds(mine, 1, 1)
        except OSError:
            fds = []
        if not fds:                                  # the joiner failed: its error is on err_r
            _, status = os.waitpid(joiner, 0)
            msg = _read_all(err_r)
            for fd in (out_r, err_r):
                os.close(fd)
            mine.close()
            return {"ok": False, "error": msg[1:].decode(errors="replace") or f"exec failed ({status})"}
        proc_fd = fds[0]                             # the process (killed by it at the timeout)
        pid_r = mine.detach()
        timeout = float(req.get("timeout") or 0)
        ex = _Exec(conn=conn, joiner=joiner, pidfd=os.pidfd_open(joiner), proc_fd=proc_fd, status=pid_r,
                   out=out_r, err=err_r,
                   limit=min(int(req.get("max_output") or MAX_EXEC_OUTPUT), MAX_EXEC_OUTPUT),
                   deadline=time.monotonic() + timeout if timeout > 0 else float("inf"))
        os.set_blocking(out_r, False)
        self.execs[ex.pidfd] = ex
        self.sel.register(out_r, selectors.EVENT_READ, lambda fd: self._exec_output(ex))
        self.sel.register(ex.pidfd, selectors.EVENT_READ, self._on_exec_exit)
        return None

    def _exec_output(self, ex: _Exec) -> None:
        if not ex.read():                              # EOF: nothing more will come
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(ex.out)

    def _on_exec_exit(self, pidfd: int) -> None:
        ex = self.execs.pop(pidfd)
        self.sel.unregister(pidfd)
        os.waitpid(ex.joiner, 0)
        os.close(pidfd)
        os.close(ex.proc_fd)
        line = _read_all(ex.status).strip()
        os.close(ex.status)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(ex.out)
        ex.drain()
        os.close(ex.out)
        err = _read_all(ex.err)
        os.close(ex.err)
        if not line.isdigit():                         # the joiner was killed: so was the process
            with contextlib.suppress(OSError):
                _send(ex.conn, {"ok": False, "error": "exec: the process was lost"})
            return
        reply: dict[str, Any] = {"ok": True, "exit_code": int(line), "timed_out": ex.killed,
                                 "output": binascii.b2a_base64(bytes(ex.buf), newline=False).decode(),
                                 "truncated": ex.truncated}
        if err.startswith(b"E"):
            reply["error"] = err[1:].decode(errors="replace")
        with contextlib.suppress(OSError):
            _send(ex.conn, reply)

    def _exec_deadlines(self) -> None:
        now_ = time.monotonic()
        for ex in self.execs.values():
            if not ex.killed and now_ >= ex.deadline:
                ex.killed = True
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(ex.proc_fd, signal.SIGKILL)
                ex.deadline = float("inf")

    def _start(self) -> dict[str, Any]:
        if self.state["status"] != "created" or self.go_w < 0:
            status = "exited" if self.exited_at is not None else self.state["status"]
            return {"ok": False, "error": f"container is {status}, not created", "status": status}
        self.state["started_at"] = now()
        try:
            os.write(self.go_w, b"G")
        except OSError:                      # killed before start (EPIPE)
            return {"ok": False, "error": "the container process is gone"}
        finally:
            os.close(self.go_w)
            self.go_w = -1
        msg = _read_all(self.ready_r)
        os.close(self.ready_r)
        if msg.startswith(b"E"):
            self.state["error"] = msg[1:].decode(errors="replace")
            self.state["status"] = "running"      # until the exit is seen a moment later
            return {"ok": False, "error": self.state["error"]}
        self.state["status"] = "running"
        write_json(os.path.join(self.dir, "state.json"), self.state)
        return {"ok": True}

    def _on_exit(self, pidfd: int) -> None:
        _, status = os.waitpid(self.pid, 0)
        self.sel.unregister(pidfd)
        os.close(pidfd)
        code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        self.state.update(exit_code=code, finished_at=now(), oom_killed=self._oom())
        self.exited_at = time.monotonic()

    def _oom(self) -> bool:
        path = self.cfg.get("oom_file")
        if not path:
            return False
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == "oom_kill":
                        return int(v) > 0
        except (OSError, ValueError):
            return False
        return False

    def _finish(self) -> NoReturn:
        self.state["status"] = "exited"
        write_json(os.path.join(self.dir, "state.json"), self.state)
        for conn in self.waiters:   # state.json first: a waiter may read it right away
            with contextlib.suppress(OSError):
                _send(conn, {"ok": True, "state": self.state})
        self.waiters = []
        for ex in self.execs.values():    # the pid namespace died with its init: so did they
            with contextlib.suppress(OSError):
                _send(ex.conn, {"ok": False, "error": "container exited during exec", "status": "exited"})
        self.execs = {}
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.dir, "shim.sock"))
        for fd in self.ns_fds:      # the namespaces' teardown happens here, after the answers
            os.close(fd)
        while True:                 # answer connections still in the backlog
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                break
            conn.settimeout(1.0)
            with contextlib.suppress(OSError, ValueError):
                req = json.loads(_recv_line(conn) or b"{}")
                _send(conn, {"ok": req.get("op") in ("wait", "state", "kill"), "state": self.state,
                             "error": "container has exited", "status": "exited"})
        for d in self.cfg.get("cgroup_dirs", ()):
            _rmdir_retry(d)
        os._exit(0)


class _Exec:
    """One exec'd process the shim waits for."""

    def __init__(self, conn: socket.socket, joiner: int, pidfd: int, proc_fd: int, status: int,
                 out: int, err: int, limit: int, deadline: float) -> None:
        self.conn, self.joiner, self.pidfd, self.proc_fd = conn, joiner, pidfd, proc_fd
        self.status, self.out, self.err = status, out, err
        self.limit, self.deadline = limit, deadline
        self.buf = bytearray()
        self.truncated = False
        self.killed = False

    def read(self) -> bool:
        """Read what is there; False at EOF."""
        try:
            data = os.read(self.out, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        self._keep(data)
        return bool(data)

    def drain(self) -> None:
        while True:
            try:
                data = os.read(self.out, 65536)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self._keep(data)

    def _keep(self, data: bytes) -> None:
        room = self.limit - len(self.buf)
        if len(data) > room:
            self.truncated = True
        self.buf += data[:max(0, room)]


def _rmdir_retry(d: str) -> None:
    for _ in range(100):
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


def _read_all(fd: int, stop_at: bytes | None = None) -> bytes:
    buf = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return buf
        buf += chunk
        if stop_at is not None and buf == stop_at:
            return buf


def _recv_line(conn: socket.socket) -> bytes:
    buf = b""
    while b"\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0]


def _send(conn: socket.socket, msg: dict[str, Any]) -> None:
    try:
        conn.sendall(json.dumps(msg).encode() + b"\n")
    finally:
        conn.close()


def main(cdir: str, report_fd: int, files: list[str] | None = None) -> NoReturn:
    """Entry from the zygote's grandchild (already in its own session)."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    fd = os.open(os.path.join(cdir, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    shim: Shim | None = None
    try:
        shim = Shim(cdir, report_fd, files)
        shim.run()
    except BaseException as e:  # the shim must never fall back into zygote code
        with contextlib.suppress(OSError):
            os.write(2, f"shim {cdir}: {e!r}\n".encode())
            if shim is None or shim.report_fd >= 0:
                os.write(report_fd, json.dumps({"ok": False, "error": f"shim: {e}"}).encode() + b"\n")
        os._exit(1)
