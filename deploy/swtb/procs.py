"""/proc helpers: is a PID alive (and still the process we started), which namespaces it is in.

A recorded PID file holds "PID STARTTIME" (field 22 of /proc/PID/stat), so a PID that the kernel
has reused for an unrelated process is never signalled.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'
    return raw[raw.rindex(")") + 2:].split()


def start_time(pid: int) -> int | None:
    f = _stat_fields(pid)
    return int(f[19]) if f else None  # field 22 overall; fields[0] is field 3 (state)


def alive(pid: int) -> bool:
    """True if PID exists and is not a zombie."""
    f = _stat_fields(pid)
    return f is not None and f[0] not in ("Z", "X")


def ppid(pid: int) -> int | None:
    f = _stat_fields(pid)
    return int(f[1]) if f else None


def descendants(roots: set[int]) -> set[int]:
    """Every live process whose parent chain leads to one of roots (roots excluded)."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        parent = ppid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    out: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out and child not in roots:
                out.add(child)
                todo.append(child)
    return out


def ns_id(pid: int | str, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def all_pids() -> Iterable[int]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def write_pidfile(path: Path, pid: int) -> None:
    st = start_time(pid)
    path.write_text(f"{pid} {st if st is not None else 0}\n")


def read_pidfile(path: Path) -> int | None:
    """The recorded PID if that very process is still alive, else None."""
    try:
        pid_s, st_s = path.read_text().split()[:2]
        pid, st = int(pid_s), int(st_s)
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and start_time(pid) == st else None


def recorded_pid(path: Path) -> int | None:
    """The PID written in path, whether or not it is alive (for display)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_dead(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of pids is alive; return those still alive at the deadline."""
    left = [p for p in pids if alive(p)]
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop(pids: Iterable[int], timeout: float) -> None:
    """SIGTERM, wait up to timeout, then SIGKILL whatever is left and reap-wait briefly."""
    pids = [p for p in pids if p != os.getpid()]
    for p in pids:
        signal_pid(p, signal.SIGTERM)
    left = wait_dead(pids, timeout)
    for p in left:
        signal_pid(p, signal.SIGKILL)
    wait_dead(left, 5.0)
