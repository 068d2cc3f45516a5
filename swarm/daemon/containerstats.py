"""`docker top` and `docker stats` on a node: a task container's processes and its cgroup
counters, as dockerd answers them (moby v28 ``daemon/top_unix.go``, ``daemon/stats.go``,
``daemon/stats_unix.go``, the containerd cgroups metrics they read).

Top: dockerd's steps and messages. ``ps_args`` ("" = ``-ef``) with ``x=PID...`` for any ``x`` but
``pid`` is refused (``specifying "x=PID" is not allowed``); the container is looked up as
``docker inspect`` does; one that is not running is a conflict (``container <id> is not
running``). Its PIDs are every ``cgroup.procs`` of its cgroup directory and the directories below
(the cgroup2 one; the v1 memory one on a v1-only host); ``ps ARGS -qPID,PID...`` runs on the host,
and again without ``-q`` if that fails (some options cannot be combined with it); if that fails
too, the answer is ``ps: <the first line ps wrote on stderr>`` (or ``ps: exit status N``). Of the
output the header is kept and the rows whose PID column is one of the container's (a ``-`` PID,
a thread row of ``ps m``, goes with the row above it); no ``PID`` column is ``Couldn't find PID
field in ps output``.

Stats: Docker's ``StatsResponse`` from the files under the container's cgroup directories, read
the way containerd's metrics read them: on a host with v1 controllers (this one is hybrid: v1
controllers plus a controller-less cgroup2 tree) from the v1 files, as dockerd does there
(``cpuacct.usage``, ``cpuacct.stat`` in clock ticks, ``memory.usage_in_bytes``, v1
``memory.stat`` keys, ``pids.current``, ``blkio.*``); on a cgroup v2 host from ``cpu.stat``
(µs, answered in ns), ``memory.current``, ``memory.max`` (``max``: no limit), ``memory.stat``,
``memory.events`` (``oom``: ``failcnt``), ``pids.current``, ``io.stat``. A memory limit above
the host's ``MemTotal`` (or none) is answered as ``MemTotal``, as dockerd caps it.
``system_cpu_usage`` and ``online_cpus`` come from ``/proc/stat`` as dockerd computes them (the
``cpu`` line's first seven fields in clock ticks of 1/100 s, in ns; one CPU per ``cpuN`` line);
``networks`` from the container's network namespace (``/proc/<pid>/net/dev``: every interface but
``lo``, as the sandbox's own). A file a host does not have (no ``io`` or ``blkio`` controller for
the container: the runtime makes none) leaves its fields empty, as they are in Docker's answer
then; they are never invented.

Samples are taken one a second (dockerd's collector interval). ``stream``: the first one at once
(no ``precpu_stats``), then one a second with the previous one's CPU as ``precpu_stats`` until the
caller goes or the container is removed. Without it: one answer, taken a second after a first
sample that gives it ``precpu_stats`` and ``preread``, or at once without them when ``one_shot``;
a container that is not running gets Docker's empty answer (its name and id only).

Every path is read under ``root`` (``/`` on a node), so the tests point it at a fake tree.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from swarm.api import daemon_pb2 as d
from swarm.daemon import containers
from swarm.daemon.errors import DaemonError

ROOT = Path("/")
INTERVAL = 1.0                  # dockerd's stats collector: one sample a second
ZERO_TIME = "0001-01-01T00:00:00Z"
CLOCK_TICKS = 100               # USER_HZ, as dockerd and containerd hard-code it
NS = 1_000_000_000

# moby's psArgsRegexp ("\\s+([^\\s]*)=\\s*(PID[^\\s]*)"), with Go's ASCII \s
_PS_ARGS = re.compile(r"[\t\n\f\r ]+([^\t\n\f\r ]*)=[\t\n\f\r ]*(PID[^\t\n\f\r ]*)")

#: the memory.stat keys dockerd answers (stats_unix.go statsV1 / statsV2), in its order
V1_MEMORY_KEYS = (
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout", "pgfault",
    "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable",
    "hierarchical_memory_limit", "hierarchical_memsw_limit", "total_cache", "total_rss",
    "total_rss_huge", "total_mapped_file", "total_dirty", "total_writeback", "total_pgpgin",
    "total_pgpgout", "total_pgfault", "total_pgmajfault", "total_inactive_anon", "total_active_anon",
    "total_inactive_file", "total_active_file", "total_unevictable")
V2_MEMORY_KEYS = (
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
    "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file", "active_file",
    "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault", "pgmajfault",
    "workingset_refault", "workingset_activate", "workingset_nodereclaim", "pgrefill", "pgscan",
    "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed", "thp_fault_alloc",
    "thp_collapse_alloc")
#: BlkioStats' lists, in Docker's order
BLKIO_KEYS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
              "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
              "io_time_recursive", "sectors_recursive")
#: containerd's v1 blkio files: CFQ's when the kernel has them, else the throttle ones
BLKIO_CFQ = {"io_service_bytes_recursive": "blkio.io_service_bytes_recursive",
             "io_serviced_recursive": "blkio.io_serviced_recursive",
             "io_queue_recursive": "blkio.io_queued_recursive",
             "io_service_time_recursive": "blkio.io_service_time_recursive",
             "io_wait_time_recursive": "blkio.io_wait_time_recursive",
             "io_merged_recursive": "blkio.io_merged_recursive",
             "io_time_recursive": "blkio.time_recursive",
             "sectors_recursive": "blkio.sectors_recursive"}
BLKIO_THROTTLE = {"io_service_bytes_recursive": "blkio.throttle.io_service_bytes",
                  "io_serviced_recursive": "blkio.throttle.io_serviced"}
NET_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets",
              "tx_errors", "tx_dropped")


class ContainerNotRunningError(DaemonError):
    """dockerd's errdefs.Conflict (409)."""

    code = "ABORTED"

    def __init__(self, cid: str) -> None:
        super().__init__(f"container {cid} is not running")


class TopError(DaemonError):
    """What dockerd answers 500: bad ps arguments, ps failing, output without a PID column."""

    code = "INTERNAL"


class StatsError(DaemonError):
    """A host file every sample needs (``/proc/stat``) cannot be read."""

    code = "INTERNAL"


# ---- files ----------------------------------------------------------------------------------
def _at(root: Path, path: str | os.PathLike[str]) -> Path:
    return root / str(path).lstrip("/")


def _read(root: Path, path: str | os.PathLike[str]) -> str | None:
    try:
        return _at(root, path).read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _int(text: str | None) -> int:
    """A counter file's value; absent or unreadable is 0 (Go's zero value), ``max`` too."""
    if text is None:
        return 0
    s = text.strip()
    return int(s) if s.isdigit() else 0


def _keyed(text: str | None) -> dict[str, int]:
    """``key value`` lines (``memory.stat``, ``cpu.stat``, ``memory.events``)."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        k, _, v = line.strip().partition(" ")
        if v.strip().isdigit():
            out[k] = int(v.strip())
    return out


def _v1(cfg: dict[str, Any]) -> dict[str, str]:
    dirs = cfg.get("cgroup_v1")
    return {str(k): str(v) for k, v in dirs.items()} if isinstance(dirs, dict) else {}


def _unified(cfg: dict[str, Any]) -> str:
    return str(cfg.get("cgroup_unified") or "")


# ---- top ------------------------------------------------------------------------------------
def validate_ps_args(ps_args: str) -> None:
    """moby's validatePSArgs: ``x=PID...`` is allowed for ``pid`` only."""
    for k, v in _PS_ARGS.findall(ps_args):
        if k != "pid":
            raise TopError(f'specifying "{k}={v}" is not allowed')


def container_pids(root: Path, cfg: dict[str, Any]) -> list[int]:
    """Every PID in the container's cgroup and the cgroups below it (``cgroup.procs``)."""
    base = _unified(cfg) or _v1(cfg).get("memory", "")
    if not base:
        return []
    found: dict[int, None] = {}
    for dirpath, _dirs, files in os.walk(_at(root, base)):
        if "cgroup.procs" in files:
            try:
                text = Path(dirpath, "cgroup.procs").read_text()
            except OSError:
                continue
            found.update((int(x), None) for x in text.split() if x.isdigit())
    return list(found)


def _fields(s: str) -> list[str]:
    """Go's fieldsASCII."""
    return re.split(r"[\t\n\f\r ]+", s.strip("\t\n\f\r ")) if s.strip("\t\n\f\r ") else []


def parse_ps_output(output: str, pids: list[int]) -> dict[str, Any]:
    """moby's parsePSOutput: the header, and the rows of ``pids`` (with their thread rows)."""
    lines = output.split("\n")
    titles = _fields(lines[0])
    if "PID" not in titles:
        raise TopError("Couldn't find PID field in ps output")
    at = titles.index("PID")
    wanted = set(pids)
    processes: list[list[str]] = []

    def append(fields: list[str]) -> None:     # the overhanging fields merged into the last one
        processes.append([*fields[:len(titles) - 1], " ".join(fields[len(titles) - 1:])])

    previous_in = False
    for line in lines[1:]:
        if not line:
            continue
        fields = _fields(line)
        if len(fields) <= at:
            previous_in = False
            continue
        if fields[at] == "-":
            if previous_in:
                append(fields)
            continue
        try:
            pid = int(fields[at])
        except ValueError:
            raise TopError(f"Unexpected pid '{fields[at]}': strconv.Atoi: parsing "
                           f"\"{fields[at]}\": invalid syntax") from None
        previous_in = pid in wanted
        if previous_in:
            append(fields)
    return {"Titles": titles, "Processes": processes}


PsRunner = Callable[[list[str]], Awaitable[tuple[int, bytes, bytes]]]


async def run_ps(args: list[str]) -> tuple[int, bytes, bytes]:
    """``ps ARGS`` on the host: exit code, stdout, stderr."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "ps", *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        return -1, b"", b'exec: "ps": executable file not found in $PATH'
    out, err = await proc.communicate()
    return proc.returncode if proc.returncode is not None else -1, out, err


def _ps_failed(code: int, err: bytes) -> TopError:
    line = err.split(b"\n", 1)[0].decode(errors="replace")
    if not line:
        line = f"exit status {code}" if code >= 0 else f"signal: {-code}"
    return TopError(f"ps: {line}")


async def top(daemon: Any, req: d.ContainerTopRequest, *, root: Path = ROOT,
              ps: PsRunner = run_ps) -> d.ContainerTopResponse:
    ps_args = req.ps_args or "-ef"
    validate_ps_args(ps_args)
    v = containers.find(await containers.all_views(daemon), req.id)
    if v.state.status != "running":
        raise ContainerNotRunningError(v.state.id)
    pids = await asyncio.to_thread(container_pids, root, v.config)
    args = ps_args.split(" ")
    code, out, err = await ps([*args, "-q" + ",".join(str(p) for p in pids)])
    if code != 0:       # some options (f) cannot be combined with -q: again without it
        code, out, err = await ps(args)
        if code != 0:
            raise _ps_failed(code, err)
    doc = parse_ps_output(out.decode(errors="replace"), pids)
    return d.ContainerTopResponse(top_json=json.dumps(doc))


# ---- stats: the host ------------------------------------------------------------------------
def system_cpu_usage(root: Path) -> tuple[int, int]:
    """dockerd's getSystemCPUUsage: (the host's CPU time in ns, online CPUs) from /proc/stat."""
    text = _read(root, "/proc/stat")
    if text is None:
        raise StatsError("cannot read /proc/stat (the host's CPU time)")
    usage, cpus = 0, 0
    for line in text.split("\n"):
        if len(line) < 4 or not line.startswith("cpu"):
            break
        if line[3] == " ":
            parts = line.split()
            if len(parts) < 8:
                raise StatsError("invalid number of cpu fields in /proc/stat")
            try:
                ticks = sum(int(x) for x in parts[1:8])
            except ValueError as e:
                raise StatsError(f"/proc/stat: {e}") from None
            usage = ticks * NS // CLOCK_TICKS
        if line[3].isdigit():
            cpus += 1
    return usage, cpus


def machine_memory(root: Path) -> int:
    """The host's MemTotal in bytes (0 when unknown: no cap)."""
    for line in (_read(root, "/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return 0


def network_stats(root: Path, pid: int) -> dict[str, dict[str, int]]:
    """The interfaces of ``pid``'s network namespace but ``lo``, by name (sorted, as Go's map)."""
    out: dict[str, dict[str, int]] = {}
    if not pid:
        return out
    for line in (_read(root, f"/proc/{pid}/net/dev") or "").splitlines()[2:]:
        name, sep, rest = line.partition(":")
        cols = rest.split()
        if not sep or name.strip() == "lo" or len(cols) < 12 or not all(c.isdigit() for c in cols):
            continue
        vals = [int(c) for c in cols]
        rx, tx = vals[0:4], vals[8:12]        # bytes packets errs drop; fifo frame compressed multicast
        out[name.strip()] = dict(zip(NET_FIELDS, rx + tx, strict=True))
    return dict(sorted(out.items()))


# ---- stats: the container's cgroups ---------------------------------------------------------
def _blkio_lines(text: str | None) -> list[dict[str, Any]]:
    """v1 ``MAJ:MIN Op value`` lines (the ``Total`` line is not an entry)."""
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        if major.isdigit() and minor.isdigit() and parts[2].isdigit():
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def _empty_blkio() -> dict[str, Any]:
    return dict.fromkeys(BLKIO_KEYS)


def _empty_cpu() -> dict[str, Any]:
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def _cpu(total: int, kernel: int, user: int, percpu: list[int], throttle: dict[str, int],
         throttled_ns: int) -> dict[str, Any]:
    usage: dict[str, Any] = {"total_usage": total}
    if percpu:
        usage["percpu_usage"] = percpu
    usage.update(usage_in_kernelmode=kernel, usage_in_usermode=user)
    return {"cpu_usage": usage,
            "throttling_data": {"periods": throttle.get("nr_periods", 0),
                                "throttled_periods": throttle.get("nr_throttled", 0),
                                "throttled_time": throttled_ns}}


def _memory(usage: int, max_usage: int, stats: dict[str, int], failcnt: int, limit: int,
            machine: int) -> dict[str, Any]:
    if machine and limit > machine:
        limit = machine
    doc: dict[str, Any] = {}
    for k, val in (("usage", usage), ("max_usage", max_usage), ("stats", stats),
                   ("failcnt", failcnt), ("limit", limit)):
        if val:
            doc[k] = val
    return doc


def _pids(current: int, limit: int) -> dict[str, int]:
    return {k: val for k, val in (("current", current), ("limit", limit)) if val}


def _sample_v1(root: Path, dirs: dict[str, str], machine: int) -> dict[str, Any]:
    parts: dict[str, Any] = {"blkio_stats": _empty_blkio()}
    if "blkio" in dirs:
        b = dirs["blkio"]
        files = BLKIO_CFQ if _at(root, f"{b}/blkio.io_serviced_recursive").exists() else BLKIO_THROTTLE
        for key, name in files.items():
            entries = _blkio_lines(_read(root, f"{b}/{name}"))
            parts["blkio_stats"][key] = entries or None
    acct = dirs.get("cpuacct") or dirs.get("cpu")
    if acct:
        ticks = _keyed(_read(root, f"{acct}/cpuacct.stat"))
        percpu = [int(x) for x in (_read(root, f"{acct}/cpuacct.usage_percpu") or "").split() if x.isdigit()]
        throttle = _keyed(_read(root, f"{dirs['cpu']}/cpu.stat")) if "cpu" in dirs else {}
        parts["cpu_stats"] = _cpu(_int(_read(root, f"{acct}/cpuacct.usage")),
                                  ticks.get("system", 0) * NS // CLOCK_TICKS,
                                  ticks.get("user", 0) * NS // CLOCK_TICKS, percpu, throttle,
                                  throttle.get("throttled_time", 0))
    else:
        parts["cpu_stats"] = _empty_cpu()
    m = dirs.get("memory")
    if m:
        raw = _keyed(_read(root, f"{m}/memory.stat"))
        parts["memory_stats"] = _memory(
            _int(_read(root, f"{m}/memory.usage_in_bytes")),
            _int(_read(root, f"{m}/memory.max_usage_in_bytes")),
            {k: raw.get(k, 0) for k in V1_MEMORY_KEYS}, _int(_read(root, f"{m}/memory.failcnt")),
            _int(_read(root, f"{m}/memory.limit_in_bytes")), machine)
    else:
        parts["memory_stats"] = {}
    p = dirs.get("pids")
    parts["pids_stats"] = (_pids(_int(_read(root, f"{p}/pids.current")), _int(_read(root, f"{p}/pids.max")))
                           if p else {})
    return parts


def _io_stat(text: str | None) -> list[dict[str, Any]] | None:
    """``io.stat`` as dockerd answers it: a read and a write entry (bytes) per device."""
    out = []
    for line in (text or "").splitlines():
        dev, *kvs = line.split()
        major, _, minor = dev.partition(":")
        if not (major.isdigit() and minor.isdigit()):
            continue
        vals = {k: int(v) for k, _, v in (kv.partition("=") for kv in kvs) if v.isdigit()}
        for op, key in (("read", "rbytes"), ("write", "wbytes")):
            out.append({"major": int(major), "minor": int(minor), "op": op, "value": vals.get(key, 0)})
    return out or None


def _sample_v2(root: Path, u: str, machine: int) -> dict[str, Any]:
    cpu = _keyed(_read(root, f"{u}/cpu.stat"))
    raw = _keyed(_read(root, f"{u}/memory.stat"))
    limit_text = (_read(root, f"{u}/memory.max") or "").strip()
    limit = machine if limit_text == "max" else _int(limit_text)
    blkio = _empty_blkio()
    blkio["io_service_bytes_recursive"] = _io_stat(_read(root, f"{u}/io.stat"))
    memory = (_memory(_int(_read(root, f"{u}/memory.current")), 0, {k: raw.get(k, 0) for k in V2_MEMORY_KEYS},
                      _keyed(_read(root, f"{u}/memory.events")).get("oom", 0), limit, machine)
              if _at(root, f"{u}/memory.current").exists() else {})
    return {
        "pids_stats": _pids(_int(_read(root, f"{u}/pids.current")), _int(_read(root, f"{u}/pids.max"))),
        "blkio_stats": blkio,
        "cpu_stats": (_cpu(cpu.get("usage_usec", 0) * 1000, cpu.get("system_usec", 0) * 1000,
                           cpu.get("user_usec", 0) * 1000, [], cpu, cpu.get("throttled_usec", 0) * 1000)
                      if cpu else _empty_cpu()),
        "memory_stats": memory,
    }


def rfc3339(ns: int) -> str:
    """Go's time.Time JSON (RFC 3339 with nanoseconds, trailing zeros trimmed), in UTC."""
    secs, frac = divmod(ns, NS)
    head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    tail = f"{frac:09d}".rstrip("0")
    return f"{head}.{tail}Z" if tail else f"{head}Z"


def empty_stats(v: Any) -> dict[str, Any]:
    """Docker's answer for a container that is not running: its name and id, every count zero."""
    return render(v, {}, ZERO_TIME, None)


def sample(root: Path, v: Any, now_ns: int | None = None) -> tuple[str, dict[str, Any]]:
    """One sample of a running container: (its ``read`` time, its parts)."""
    cfg = v.config
    machine = machine_memory(root)
    dirs = _v1(cfg)
    if dirs:
        parts = _sample_v1(root, dirs, machine)
    elif _unified(cfg):
        parts = _sample_v2(root, _unified(cfg), machine)
    else:
        parts = {}
    system, cpus = system_cpu_usage(root)      # close to the container's, as dockerd samples it
    cpu = parts.setdefault("cpu_stats", _empty_cpu())
    if system:
        cpu["system_cpu_usage"] = system
    if cpus:
        cpu["online_cpus"] = cpus
    parts["networks"] = network_stats(root, v.state.pid or 0)
    return rfc3339(now_ns if now_ns is not None else time.time_ns()), parts


def render(v: Any, parts: dict[str, Any], read: str,
           previous: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Docker's StatsResponse, in its field order; ``previous`` is an earlier sample's (read,
    cpu_stats) for ``preread`` and ``precpu_stats``."""
    doc: dict[str, Any] = {
        "name": "/" + containers.container_name(v),
        "id": v.state.id,
        "read": read,
        "preread": previous[0] if previous else ZERO_TIME,
        "pids_stats": parts.get("pids_stats", {}),
        "blkio_stats": parts.get("blkio_stats") or _empty_blkio(),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": parts.get("cpu_stats") or _empty_cpu(),
        "precpu_stats": previous[1] if previous else _empty_cpu(),
        "memory_stats": parts.get("memory_stats", {}),
    }
    if parts.get("networks"):
        doc["networks"] = parts["networks"]
    return doc


async def _current(daemon: Any, cid: str) -> Any:
    for v in await containers.all_views(daemon):
        if v.state.id == cid:
            return v
    return None


async def stats(daemon: Any, req: d.ContainerStatsRequest, *, root: Path = ROOT,
                interval: float = INTERVAL) -> AsyncIterator[d.ContainerStatsResponse]:
    v = containers.find(await containers.all_views(daemon), req.id)

    def out(doc: dict[str, Any]) -> d.ContainerStatsResponse:
        return d.ContainerStatsResponse(stats_json=json.dumps(doc, separators=(",", ":")))

    if not req.stream:
        if v.state.status != "running":
            yield out(empty_stats(v))
            return
        if req.one_shot:
            read, parts = await asyncio.to_thread(sample, root, v)
            yield out(render(v, parts, read, None))
            return
    need_previous = not req.stream
    previous: tuple[str, dict[str, Any]] | None = None
    while True:
        if v.state.status == "running":
            read, parts = await asyncio.to_thread(sample, root, v)
        else:                       # dockerd's collector publishes the empty answer meanwhile
            read, parts = ZERO_TIME, {}
        if need_previous:
            need_previous = False
        else:
            yield out(render(v, parts, read, previous))
            if not req.stream:
                return
        previous = (read, parts.get("cpu_stats") or _empty_cpu())
        await asyncio.sleep(interval)
        if not req.stream:          # the answer's own sample, a second after its first: at once
            continue                # (the docker CLI gives up after 2 s)
        v = await _current(daemon, v.state.id)
        if v is None:               # removed: dockerd's collector stops with the container
            return
