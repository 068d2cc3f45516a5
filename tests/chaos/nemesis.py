"""Faults: a seeded schedule of kinds and holds, each injected, held, then healed.

The schedule (``schedule(seed, n)``) is fixed by the seed alone: which kind, which role it hits
(the leader, a follower, a worker: resolved to a host when it is injected, since who leads is the
cluster's business) and how long it is held, plus the seeded choices made while injecting (which
follower, which side of a split). So a rerun with the same seed injects the same sequence.

Every fault stays inside the testbed: signals to the PIDs the testbed recorded, nftables rules in
the hosts' own namespaces, a tmpfs mounted in one host's mount namespace, files in one host's
data root changed while its daemon is stopped.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.chaos.bed import ChaosBed
from tests.chaos.history import Fault, History

KINDS = [
    "kill-leader", "kill-follower", "kill-worker",
    "stop-leader", "stop-follower", "stop-worker",
    "part-leader", "part-follower", "part-split", "part-bridge",
    "restart-all-managers", "restart-worker-live",
    "enospc-follower",
    "torn-journal", "torn-snapshot", "torn-state",
]
#: what a short (CI) campaign draws from first: one of each family
CI_KINDS = ["kill-leader", "stop-follower", "part-leader", "part-split", "kill-worker",
            "restart-all-managers", "enospc-follower", "torn-journal", "torn-state", "part-bridge"]
#: not injected: the testbed hosts share the machine's clock, and a Linux time namespace would not
#: help - it offsets only CLOCK_MONOTONIC/BOOTTIME, not the wall clock that certificates, task
#: timestamps and log times use
SKIPPED = {"clock-jump": "the testbed hosts share the machine's wall clock; time namespaces offset only "
                         "the monotonic and boot clocks"}


@dataclass(frozen=True)
class Planned:
    n: int
    kind: str
    hold: float
    salt: int     # seeds the choices made while injecting


def schedule(seed: int, n: int) -> list[Planned]:
    rng = random.Random(f"{seed}:schedule")
    kinds: list[str] = []
    if n <= len(CI_KINDS):
        kinds = rng.sample(CI_KINDS, n)
    while len(kinds) < n:
        batch = list(KINDS)
        rng.shuffle(batch)
        kinds += batch
    return [Planned(i, k, round(rng.uniform(2.0, 8.0), 1), rng.randrange(2**32))
            for i, k in enumerate(kinds[:n])]


class Nemesis:
    def __init__(self, bed: ChaosBed, hist: History, wait: Callable[[float], bool]) -> None:
        self.bed, self.hist, self.wait = bed, hist, wait
        self.tmpfs: set[str] = set()

    # ---- helpers ----------------------------------------------------------------------------

    def _leader(self) -> str:
        ld = self.bed.tb.wait_for(self.bed.leader, timeout=90, what="a leader before the next fault")
        return ld

    def _follower(self, rng: random.Random) -> str:
        ld = self._leader()
        return rng.choice([m for m in self.bed.managers if m != ld])

    def _signal(self, host: str, sig: int) -> None:
        pid = self.bed.daemon_pid(host)
        if pid is None:
            raise RuntimeError(f"{host}: no recorded swarmd pid")
        os.kill(pid, sig)

    def _start(self, host: str, f: Fault) -> None:
        try:
            self.bed.tb.start(host, timeout=90)
        except Exception as e:
            f.notes.append(f"{host} did not start: {e}")
            raise

    # ---- one fault ----------------------------------------------------------------------------

    def run(self, p: Planned) -> Fault:
        rng = random.Random(p.salt)
        kind = p.kind
        bed = self.bed
        if kind.endswith("-leader"):
            target = [self._leader()]
        elif kind.endswith("-follower") or kind.startswith("torn-"):
            target = [self._follower(rng)]
        elif kind.endswith("-worker") or kind == "restart-worker-live":
            target = [rng.choice(bed.workers)]
        elif kind == "restart-all-managers":
            target = list(bed.managers)
        elif kind == "part-split":
            hosts = list(bed.hosts)
            rng.shuffle(hosts)
            mgrs = [h for h in hosts if h in bed.managers]
            minority = [mgrs[0], *[h for h in hosts if h in bed.workers][:1]]
            target = minority
        elif kind == "part-bridge":
            m = list(bed.managers)
            rng.shuffle(m)
            target = m                  # m[0] and m[2] cannot talk, m[1] talks to both
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        f = self.hist.fault(kind, target, p.hold)
        getattr(self, "_" + kind.split("-")[0])(f, kind, target, rng)
        f.healed = self.hist.now()
        return f

    def _kill(self, f: Fault, kind: str, target: list[str], rng: random.Random) -> None:
        self._signal(target[0], signal.SIGKILL)
        self.wait(f.hold)
        self._start(target[0], f)

    def _stop(self, f: Fault, kind: str, target: list[str], rng: random.Random) -> None:
        self._signal(target[0], signal.SIGSTOP)
        try:
            self.wait(f.hold)
        finally:
            self._signal(target[0], signal.SIGCONT)

    def _part(self, f: Fault, kind: str, target: list[str], rng: random.Random) -> None:
        bed = self.bed
        t0 = time.monotonic()
        if kind == "part-bridge":
            bed.cut_pairs([(target[0], target[2])])
        else:
            # leader / follower alone (workers stay with the majority); split: target is the minority
            rest = [h for h in bed.hosts if h not in target]
            bed.partition([target, rest])
        try:
            if kind in ("part-leader", "part-follower"):
                f.notes.append(self._cut_off_reads(target[0], t0))
            self.wait(f.hold)
        finally:
            bed.heal_network()

    def _cut_off_reads(self, host: str, t0: float) -> str:
        """A manager cut off from the others must stop answering reads (as Docker: no leader)."""
        refused = "does not have a leader"

        def refuses() -> str | None:
            cp = self.bed.cli(host, "service", "ls", timeout=30)
            return "refused" if cp.returncode != 0 and refused in cp.stderr else None

        try:
            self.bed.tb.wait_for(refuses, timeout=30, interval=0.5, what=f"reads refused on cut-off {host}")
            return f"reads on cut-off {host}: refused {time.monotonic() - t0:.1f} s after the cut"
        except TimeoutError:
            return f"STALE: reads on cut-off {host} still answered after 30 s"

    def _restart(self, f: Fault, kind: str, target: list[str], rng: random.Random) -> None:
        if kind == "restart-all-managers":
            for h in target:
                self._signal(h, signal.SIGKILL)
            self.wait(f.hold)
            for h in target:
                self._start(h, f)
        else:   # a worker's daemon stopped cleanly and started again: its containers live on
            self.bed.tb.kill(target[0], signal="TERM")
            self.wait(f.hold)
            self._start(target[0], f)

    def _enospc(self, f: Fault, kind: str, target: list[str], rng: random.Random) -> None:
        host = target[0]
        raft = self.bed.tb.lib_dir / host / "raft"
        if host not in self.tmpfs:
            # move the Raft directory onto a small tmpfs in the host's own mount namespace
            self.bed.tb.kill(host, signal="TERM")
            stage = self.bed.tb.lib_dir / host / "raft.chaos-stage"
            script = (f"set -e; cp -a {raft} {stage}; "
                      f"mount -t tmpfs -o size=48m,mode=0700 chaos-{host} {raft}; "
                      f"cp -a {stage}/. {raft}/; rm -rf {stage}")
            cp = self.bed.run_in(host, "sh", "-c", script, timeout=60)
            if cp.returncode != 0:
                raise RuntimeError(f"{host}: tmpfs: {cp.stderr}")
            self.tmpfs.add(host)
            self._start(host, f)
        fill = raft / "chaos.fill"
        self.bed.run_in(host, "sh", "-c", f"dd if=/dev/zero of={fill} bs=64k 2>/dev/null; sync", timeout=60)
        df = self.bed.run_in(host, "df", "-k", str(raft)).stdout.splitlines()[-1]
        f.notes.append(f"{host} raft dir full: {df}")
        try:
            self.wait(f.hold)
        finally:
            self.bed.run_in(host, "rm", "-f", str(fill))
        pid = self.bed.daemon_pid(host)
        if pid is None or not _alive(pid):
            f.notes.append(f"{host}'s daemon died while its disk was full; started again")
            self._start(host, f)

    def _torn(self, f: Fault, kind: str, target: list[str], rng: random.Random) -> None:
        host = target[0]
        root = self.bed.tb.lib_dir / host
        self.bed.tb.kill(host, signal="KILL")
        if kind == "torn-journal":
            f.notes.append(tear_journal(root / "raft" / "raft.journal", rng))
        elif kind == "torn-snapshot":
            f.notes.append(corrupt_file(root / "raft" / "raft.dump", rng))
        else:
            st = root / "state.json"
            if rng.random() < 0.5:
                st.write_bytes(b"")
                f.notes.append("state.json emptied")
            else:
                st.write_bytes(bytes(rng.randrange(256) for _ in range(64)))
                f.notes.append("state.json replaced by 64 random bytes")
        self.wait(f.hold)
        self._start(host, f)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


JOURNAL_LAST_OFFSET = 24 + 8 + 4     # pysyncobj journal header: name, version, format, last offset


def tear_journal(path: Path, rng: random.Random) -> str:
    """Cut the journal's last record in half (as a write torn by a crash)."""
    data = bytearray(path.read_bytes())
    last = struct.unpack("<I", data[JOURNAL_LAST_OFFSET:JOURNAL_LAST_OFFSET + 4])[0]
    if last <= JOURNAL_LAST_OFFSET + 4:
        return "journal empty: nothing torn"
    size = struct.unpack("<I", data[last - 4:last])[0]
    start = last - size - 8
    cut = start + 4 + rng.randrange(1, size + 4)
    with path.open("r+b") as fh:
        fh.truncate(cut)
    return f"journal last record [{start}, {last}) cut at {cut} (file truncated)"


def corrupt_file(path: Path, rng: random.Random) -> str:
    if not path.exists() or path.stat().st_size == 0:
        return f"{path.name} does not exist yet: nothing corrupted"
    with path.open("r+b") as fh:
        size = fh.seek(0, 2)
        at = rng.randrange(size)
        fh.seek(at)
        b = fh.read(1)[0]
        fh.seek(at)
        fh.write(bytes([b ^ 0xFF]))
    return f"{path.name}: byte {at} of {size} flipped"
