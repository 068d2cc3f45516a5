"""The zygote: a small single-threaded fork server that starts container shims.

The daemon is multithreaded (grpc, asyncio, worker threads) and must never ``fork()``
(locks held by other threads stay locked in the child). So the first :class:`Runtime` call
spawns this process with ``subprocess`` (fork+exec in C, no Python runs in between) as
``python -I -S`` -- no site-packages, only stdlib + this package -- and talks to it over a
socketpair on its stdin with line-JSON:

    -> {"op": "spawn", "dir": "<container dir>"}
    <- {"ok": true, "pid": <container pid>, "shim_pid": <pid>} | {"ok": false, "error": "..."}

For each request the zygote forks an intermediate child that calls ``setsid()`` and forks
the shim, then exits at once: the shim is re-parented to init, sits in its own session and
survives the daemon and the zygote. The zygote reaps the intermediate and relays the shim's
readiness report (sent on a pipe once the container's rootfs, namespaces and cgroups are
ready, or on failure). Because the zygote imported everything beforehand, a forked shim
shares those pages copy-on-write (small USS) and starts in about a millisecond.

When its stdin reaches EOF (the daemon died or closed it), the zygote exits; shims live on.
"""

from __future__ import annotations

import json
import os
import signal

from node.runtime import shim

BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
        "from node.runtime.zygote import main; main()")


def _spawn(cdir: str) -> dict[str, object]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                               # intermediate
        try:
            os.closerange(3, w)                # the daemon socket dup, the read end, ...
            os.closerange(w + 1, 65536)
            os.setsid()
            if os.fork() == 0:
                shim.main(cdir, w)             # never returns
            os._exit(0)
        except BaseException:  # never return into the zygote loop in a child
            os._exit(1)
    os.close(w)
    os.waitpid(pid, 0)
    buf = b""
    while chunk := os.read(r, 65536):
        buf += chunk
        if b"\n" in buf:
            break
    os.close(r)
    if not buf:
        return {"ok": False, "error": "shim exited without a report (see shim.log)"}
    reply: dict[str, object] = json.loads(buf.split(b"\n", 1)[0])
    return reply


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
            try:
                req = json.loads(line)
                if req.get("op") == "spawn":
                    reply = _spawn(str(req["dir"]))
                elif req.get("op") == "ping":
                    reply = {"ok": True, "pid": os.getpid()}
                else:
                    reply = {"ok": False, "error": f"unknown op {req.get('op')!r}"}
            except (OSError, ValueError, KeyError) as e:
                reply = {"ok": False, "error": f"zygote: {e}"}
            out.write(json.dumps(reply).encode() + b"\n")
