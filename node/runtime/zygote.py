"""The zygote: a small single-threaded fork server that starts container shims.

The daemon is multithreaded (grpc, asyncio, worker threads) and must never ``fork()``
(locks held by other threads stay locked in the child). So the first :class:`Runtime` call
spawns this process with ``subprocess`` (fork+exec in C, no Python runs in between) as
``python -I -S`` -- no site-packages, only stdlib + this package -- and talks to it over a
socketpair on its stdin with line-JSON:

    -> {"op": "spawn", "dir": "<container dir>"[, "files": ["<base64>", ...]]}
    <- {"ok": true, "pid": <container pid>, "shim_pid": <pid>} | {"ok": false, "error": "..."}

The zygote keeps one *spare* shim forked in advance (own session, fds cleaned, blocked on
a pipe); a ``spawn`` request hands it the container directory (and the bytes of the
container's secret/config files, which are never written to disk) and forks the next spare. The
shim answers the ``spawn`` request itself, on its copy of the control socket, once the
container's rootfs, namespaces and cgroups are ready (or on failure). The daemon holds its
lock until that answer, so replies never interleave; every process hand-off saved matters
on a loaded 2-CPU host. ``SIGCHLD`` is ignored in the zygote, so the kernel
reaps exited shims; when the zygote goes away the shims are re-parented to init and live on.
Because the zygote imported everything beforehand, a forked shim shares those pages
copy-on-write (small USS) and starts in about a millisecond.

When its stdin reaches EOF (the daemon died or closed it), the zygote exits; shims live on.
"""

from __future__ import annotations

import gc
import json
import os
import signal

from node.runtime import securejoin, shim

BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
        "from node.runtime.zygote import main; main()")


def _fork_spare(ctl_fd: int) -> int:
    """Fork a shim-to-be that waits for its container directory; return the pipe to it.

    Keeping one spare ready takes the fork, ``setsid`` and fd clean-up off the critical path
    of the next ``spawn``. The spare exits when the pipe closes (the zygote went away).
    """
    r, w = os.pipe()
    if os.fork() == 0:
        try:
            os.close(w)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # the shim reaps its container
            os.setsid()
            report = os.dup(ctl_fd)
            keep = sorted((r, report))
            os.closerange(3, keep[0])
            os.closerange(keep[0] + 1, keep[1])
            os.closerange(keep[1] + 1, 65536)
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = os.read(r, 65536)
                if not chunk:
                    os._exit(0)
                buf += chunk
            os.close(r)
            line = buf[:-1].decode()
            if line.startswith("{"):                        # {"dir": ..., "files": [base64...]}
                req = json.loads(line)
                shim.main(req["dir"], report, req.get("files"))   # never returns
            shim.main(line, report)                         # never returns
        finally:
            os._exit(1)
    os.close(r)
    return w


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)           # shims are reaped by the kernel
    securejoin.have_openat2()     # probed once here; every container process inherits the answer
    gc.freeze()        # imported objects -> permanent generation: collections in the shims
    #                    never touch (and so never copy) the pages they share with us
    ctl = os.fdopen(0, "rb", buffering=0)
    out = os.fdopen(os.dup(0), "wb", buffering=0)
    spare = _fork_spare(ctl.fileno())
    buf = b""
    while True:
        chunk = ctl.read(65536)
        if not chunk:
            os._exit(0)
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            reply: dict[str, object]
            try:
                req = json.loads(line)
                if req.get("op") == "spawn":
                    msg = str(req["dir"]).encode() + b"\n"
                    if req.get("files"):                    # secrets/configs: in memory only
                        msg = json.dumps({"dir": req["dir"], "files": req["files"]}).encode() + b"\n"
                    try:
                        _write_all(spare, msg)
                    except OSError:                         # the spare died: use a fresh one
                        os.close(spare)
                        spare = _fork_spare(ctl.fileno())
                        _write_all(spare, msg)
                    os.close(spare)
                    spare = _fork_spare(ctl.fileno())       # ready for the next request
                    continue
                if req.get("op") == "ping":
                    reply = {"ok": True, "pid": os.getpid()}
                else:
                    reply = {"ok": False, "error": f"unknown op {req.get('op')!r}"}
            except (OSError, ValueError, KeyError) as e:
                reply = {"ok": False, "error": f"zygote: {e}"}
            out.write(json.dumps(reply).encode() + b"\n")
