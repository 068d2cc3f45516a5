"""Container cgroups: v1 (incl. hybrid, this host) and v2, detected at run time.

Layout: ``/sys/fs/cgroup/<ctrl>/<parent>/<id>`` per v1 controller (mount points read from
``/proc/self/mountinfo``, never hard-coded; ``cpu`` and ``cpuacct`` may or may not be
co-mounted), or ``/sys/fs/cgroup/<parent>/<id>`` on v2. On hybrid hosts the controller-less
cgroup2 tree (``/sys/fs/cgroup/unified``) gets a directory too: it gives ``cgroup.kill``
(kill everything, >= 5.14) and ``cgroup.events`` for free.

Limits (cf. runc): memory -> ``memory.limit_in_bytes`` + ``memory.memsw.limit_in_bytes`` =
same value (no swap on top; stricter than Docker's 2x default) / ``memory.max`` +
``memory.swap.max=0``; cpu -> CFS quota over a 100 ms period / ``cpu.max``; pids ->
``pids.max``; devices -> ``devices.deny a`` then runc's default allow-list on v1, and the
same allow-list as an eBPF program (:mod:`node.runtime.devices_bpf`) on the cgroup2
directory -- the only mechanism on v2, a second layer on hybrid hosts.

The runtime creates and fills the directories before the container starts (errors surface at
``create``). The container's first process is born in the cgroup2 directory (``clone3`` with
``CLONE_INTO_CGROUP``) and moves itself into each v1 hierarchy by writing ``0`` to ``tasks``;
neither takes the global migration lock (see :attr:`Cgroup.v1_tasks_files`). Nothing here
ever remounts or rearranges a hierarchy (REPORT §4).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import time
from pathlib import Path

from node.runtime import devices_bpf
from node.runtime.cgroupv1 import CFS_PERIOD, DEVICE_RULES, setup_v1
from node.runtime.errors import RuntimeSetupError
from node.runtime.spec import Limits

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "devices", "freezer")
_warned_v2_devices = False


@functools.cache
def mode() -> str:
    """``v2`` (unified), ``hybrid`` (v1 controllers + cgroup2 at unified/) or ``v1``.

    Cached: the layout is chosen at node setup and never rearranged at run time.
    """
    if _fstype(ROOT) == "cgroup2":
        return "v2"
    return "hybrid" if (ROOT / "unified").is_dir() and _fstype(ROOT / "unified") == "cgroup2" else "v1"


def _mounts() -> list[tuple[str, str, str]]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(rfields) >= 3:
                out.append((fields[4], rfields[0], rfields[2]))   # mountpoint, fstype, superopts
    return out


def _fstype(path: Path) -> str:
    p = str(path)
    for mp, fstype, _ in _mounts():
        if mp == p:
            return fstype
    return ""


def v1_mountpoints() -> dict[str, Path]:
    """controller -> mount point of its v1 hierarchy (cached, see :func:`mode`)."""
    return dict(_v1_mountpoints())


@functools.cache
def _v1_mountpoints() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for mp, fstype, opts in _mounts():
        if fstype != "cgroup":
            continue
        for o in opts.split(","):
            if o in V1_CONTROLLERS and o not in out:
                out[o] = Path(mp)
    return out


def _write(path: Path, value: str | int) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def _apply_v2(d: Path, lim: Limits) -> None:
    if lim.memory_bytes:
        _write(d / "memory.max", lim.memory_bytes)
        if (d / "memory.swap.max").exists():
            _write(d / "memory.swap.max", 0)
    if lim.nano_cpus:
        _write(d / "cpu.max", f"{lim.nano_cpus * CFS_PERIOD // 1_000_000_000} {CFS_PERIOD}")
    if lim.pids:
        _write(d / "pids.max", lim.pids)


class Cgroup:
    """The cgroup directories of one container."""

    def __init__(self, parent: str, cid: str) -> None:
        self.mode = mode()
        self.parent, self.cid = parent, cid
        self.dirs: dict[str, Path] = {}     # one entry per hierarchy (what to mkdir/rmdir/join)
        self.ctrl: dict[str, Path] = {}     # controller -> its directory
        if self.mode == "v2":
            self.dirs["unified"] = ROOT / parent / cid
        else:
            mps = v1_mountpoints()
            missing = [c for c in ("memory", "cpu", "pids", "devices") if c not in mps]
            if missing:
                raise RuntimeSetupError(f"cgroup v1 controllers not mounted: {', '.join(missing)}")
            for ctrl, mp in mps.items():
                self.ctrl[ctrl] = mp / parent / cid
                self.dirs.setdefault(str(mp), mp / parent / cid)
            if self.mode == "hybrid":
                self.dirs["unified"] = ROOT / "unified" / parent / cid

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    @property
    def unified_dir(self) -> Path | None:
        """The cgroup2 directory (v2, or hybrid's ``unified/``): entered by ``clone3``."""
        return self.dirs.get("unified")

    @property
    def v1_tasks_files(self) -> list[str]:
        """``tasks`` of every v1 hierarchy: the container's first process writes ``0`` there.

        Moving *oneself* (a single thread) is the one migration the kernel does without the
        global ``cgroup_threadgroup_rwsem`` write lock (and its RCU grace period, 5-9 ms here
        after a quiet spell); moving another process through ``cgroup.procs`` always takes it.
        """
        return [str(d / "tasks") for k, d in self.dirs.items() if k != "unified"]

    def create(self, limits: Limits) -> None:
        """Create and fill every directory of this container here and now."""
        self.create_unified(limits)
        try:
            setup_v1(self.v1_dirs, limits.memory_bytes, limits.nano_cpus, limits.pids, self.cid)
        except RuntimeSetupError:
            self.remove()
            raise

    @property
    def v1_dirs(self) -> dict[str, str]:
        """controller -> directory, for :func:`setup_v1` (run by the shim, see runtime.create)."""
        return {ctrl: str(d) for ctrl, d in self.ctrl.items()}

    def create_unified(self, limits: Limits) -> None:
        """The cgroup2 directory: on v2 with every limit, on hybrid hosts with the eBPF device
        filter only. It must exist before the container's first process, which is forked
        into it; the v1 directories need only exist before that process moves itself."""
        global _warned_v2_devices
        d = self.dirs.get("unified")
        if d is None:
            return
        try:
            if self.mode == "v2":
                self._enable_v2_controllers()
            d.mkdir(parents=True, exist_ok=True)
            if self.mode == "v2":
                _apply_v2(d, limits)
        except OSError as e:
            self.remove()
            raise RuntimeSetupError(f"cgroup setup for {self.cid} failed: {e}") from e
        try:
            devices_bpf.attach(str(d), DEVICE_RULES)
        except OSError as e:
            if self.mode == "v2":      # the only device control there is on v2
                self.remove()
                raise RuntimeSetupError(f"cgroup v2 device filter (eBPF) for {self.cid}: {e}") from e
            if not _warned_v2_devices:     # hybrid: a second layer over the v1 devices cgroup
                _warned_v2_devices = True
                log.warning("eBPF device filter unavailable (%s); v1 devices cgroup only", e)

    def _enable_v2_controllers(self) -> None:
        avail = set((ROOT / "cgroup.controllers").read_text().split())
        want = " ".join(f"+{c}" for c in ("memory", "pids", "cpu") if c in avail)
        _write(ROOT / "cgroup.subtree_control", want)
        (ROOT / self.parent).mkdir(exist_ok=True)
        _write(ROOT / self.parent / "cgroup.subtree_control", want)

    def oom_killed(self) -> bool:
        try:
            if self.mode == "v2":
                text = (self.dirs["unified"] / "memory.events").read_text()
            else:
                text = (self.ctrl["memory"] / "memory.oom_control").read_text()
        except OSError:
            return False
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            if k == "oom_kill" and v.strip().isdigit():
                return int(v) > 0
        return False

    def pids(self) -> list[int]:
        d = self.dirs.get("unified") or self.ctrl["memory"]
        try:
            return [int(x) for x in (d / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill_all(self) -> None:
        """SIGKILL every process in the container's cgroup."""
        u = self.dirs.get("unified")
        if u is not None and (u / "cgroup.kill").exists():
            try:
                _write(u / "cgroup.kill", 1)
                return
            except OSError as e:
                log.debug("cgroup.kill failed for %s: %s", self.cid, e)
        for pid in self.pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def remove(self, timeout: float = 2.0) -> None:
        """rmdir every directory, retrying while the last tasks exit."""
        deadline = time.monotonic() + timeout
        for d in self.dirs.values():
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        log.warning("cgroup %s not removed: %s", d, e)
                        break
                    self.kill_all()
                    time.sleep(0.01)


def remove_parent(parent: str) -> None:
    """rmdir the (empty) parent directories, e.g. a test's ``pyswarm-test-<pid>``."""
    dirs = [ROOT / parent] if mode() == "v2" else [mp / parent for mp in set(v1_mountpoints().values())]
    if mode() == "hybrid":
        dirs.append(ROOT / "unified" / parent)
    for d in dirs:
        try:
            d.rmdir()
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("cgroup parent %s not removed: %s", d, e)
