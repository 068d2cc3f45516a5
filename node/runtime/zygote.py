"""The zygote: a small single-threaded fork server that starts container shims.

The daemon is multithreaded (grpc, asyncio, worker threads) and must never ``fork()``
(locks held by other threads stay locked in the child). So the first :class:`Runtime` call
spawns this process with ``subprocess`` (fork+exec in C, no Python runs in between) as
``python -I -S`` -- no site-packages, only stdlib + this package -- and talks to it over a
socketpair on its stdin with line-JSON:

    -> {"op": "spawn", "dir": "<container dir>"}
    <- {"ok": true, "pid": <container pid>, "shim_pid": <pid>} | {"ok": false, "error": "..."}

For each request the zygote forks the shim and goes straight back to reading: the shim
calls ``setsid()`` and answers the ``spawn`` request itself, on its copy of the control
socket, once the container's rootfs, namespaces and cgroups are ready (or on failure). The
daemon holds its lock until that answer, so replies never interleave; every process hand-off
saved matters on a loaded 2-CPU host. ``SIGCHLD`` is ignored in the zygote, so the kernel
reaps exited shims; when the zygote goes away the shims are re-parented to init and live on.
Because the zygote imported everything beforehand, a forked shim shares those pages
copy-on-write (small USS) and starts in about a millisecond.

When its stdin reaches EOF (the daemon died or closed it), the zygote exits; shims live on.
"""

from __future__ import annotations

import json
import os
import signal

from node.runtime import shim

BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
        "from node.runtime.zygote import main; main()")


def _spawn(cdir: str, ctl_fd: int) -> None:
    """Fork the shim; it answers the daemon itself on ``ctl_fd`` (the zygote does not wait)."""
    if os.fork() == 0:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # the shim reaps its container
            os.setsid()
            report = os.dup(ctl_fd)
            os.closerange(3, report)
            os.closerange(report + 1, 65536)
            shim.main(cdir, report)                        # never returns
        finally:
            os._exit(1)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)           # shims are reaped by the kernel
    ctl = os.fdopen(0, "rb", buffering=0)
    out = os.fdopen(os.dup(0), "wb", buffering=0)
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
                    _spawn(str(req["dir"]), ctl.fileno())
                    continue
                if req.get("op") == "ping":
                    reply = {"ok": True, "pid": os.getpid()}
                else:
                    reply = {"ok": False, "error": f"unknown op {req.get('op')!r}"}
            except (OSError, ValueError, KeyError) as e:
                reply = {"ok": False, "error": f"zygote: {e}"}
            out.write(json.dumps(reply).encode() + b"\n")
