"""Setting a VM's clock to this machine's, as NTP would, after a snapshot is restored.

A restored snapshot wakes with the clock it was saved with. Setting it with `date -s @NOW` sent
over ssh puts it behind by however long the ssh session takes to start, which after `loadvm` on
a busy TCG machine is seconds (measured: 2.1-2.3 s behind on all three VMs of a run). Tests
compare timestamps made on different hosts (a job task created by the manager, finished on a
worker; `docker events --since` with this machine's time), so the error shows.

Here one ssh session runs a small Python loop in the guest that answers the guest's time and
shifts its own clock by an offset. Over that one session a request and its answer take a few
milliseconds; the offset is estimated from the quickest of several round trips (the guest's
reading taken at their midpoint) and applied relative to the guest's clock, so neither the
session's start nor Python's start-up in the guest adds to it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from vmtb import ssh

GUEST = (
    "import sys, time\n"
    "print('ready', flush=True)\n"
    "for line in sys.stdin:\n"
    "    if line.startswith('shift '):\n"
    "        time.clock_settime(time.CLOCK_REALTIME, time.time() + float(line[6:]))\n"
    "    print(repr(time.time()), flush=True)\n"
)


def _sample(p: subprocess.Popen[str], rounds: int) -> tuple[float, float]:
    """(offset, round trip) of the quickest of `rounds` exchanges: this machine minus the guest."""
    assert p.stdin is not None and p.stdout is not None
    best: tuple[float, float] | None = None
    for _ in range(rounds):
        t1 = time.time()
        p.stdin.write("now\n")
        p.stdin.flush()
        guest = float(p.stdout.readline())
        t2 = time.time()
        if best is None or t2 - t1 < best[1]:
            best = ((t1 + t2) / 2 - guest, t2 - t1)
    assert best is not None
    return best


def sync(key: Path, name: str, address: str, rounds: int = 8) -> tuple[float, float]:
    """Set the guest's clock to this machine's; returns (residual offset, round trip) in seconds,
    measured after the shift."""
    p = subprocess.Popen(ssh.argv(key, name, address, ["python3", "-u", "-c", GUEST]),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    try:
        return settle(p, name, rounds)
    finally:
        if p.stdin is not None:
            p.stdin.close()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def settle(p: subprocess.Popen[str], name: str, rounds: int = 8) -> tuple[float, float]:
    """Drive a running GUEST loop (p) until its clock is within 5 ms of this machine's, three
    passes at most; returns the last (offset, round trip)."""
    assert p.stdin is not None and p.stdout is not None
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{name}: the clock helper did not start (ssh or python3 in the guest)")
    for _ in range(3):  # a second pass corrects what error the first one's estimate had
        offset, _ = _sample(p, rounds)
        if abs(offset) < 0.005:
            break
        p.stdin.write(f"shift {offset:.6f}\n")
        p.stdin.flush()
        p.stdout.readline()
    return _sample(p, rounds)
