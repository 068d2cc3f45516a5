"""swarm.daemon.containerstats: `docker top` and `docker stats` of a task container from a fake
cgroup and /proc tree in tmp_path (the real cgroups, ps and docker CLI are proven in
tests/e2e/test_engineapi_e2e.py::test_docker_top_and_stats_of_a_task_container)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import grpc
import pytest

from node.exec.runtime import ContainerView
from swarm.api import daemon_pb2 as d
from swarm.daemon import containerstats as cs
from swarm.daemon.containers import NoSuchContainerError
from swarm.engineapi.errors import http_status
from swarm.rpc.errors import status_for
from tests.unit.daemon.test_containers import daemon_with, view

CID = "c" * 64
NAME = "web.1.abc"
PID = 4242
MEM_TOTAL_KB = 2_000_000          # /proc/meminfo: 2 048 000 000 bytes
PROC_STAT = ("cpu  100 2 30 4000 5 6 7 8 0 0\ncpu0 50 1 15 2000 2 3 3 4 0 0\n"
             "cpu1 50 1 15 2000 3 3 4 4 0 0\nintr 12345\nctxt 999\n")
NET_DEV = ("Inter-|   Receive                                                |  Transmit\n"
           " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo"
           " colls carrier compressed\n"
           "    lo:     500       5    0    0    0     0          0         0      500       5    0    0"
           "    0     0       0          0\n"
           "  eth0:    1400      12    1    2    0     0          0         0      2800      20    3    4"
           "    0     0       0          0\n"
           "  eth1:      10       1    0    0    0     0          0         0        20       2    0    0"
           "    0     0       0          0\n")


def write(root: Path, path: str, text: str) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def host(root: Path) -> None:
    write(root, "/proc/stat", PROC_STAT)
    write(root, "/proc/meminfo", f"MemTotal:       {MEM_TOTAL_KB} kB\nMemFree:        1000 kB\n")
    write(root, f"/proc/{PID}/net/dev", NET_DEV)


def hybrid(root: Path, status: str = "running") -> ContainerView:
    """A container on a hybrid host, as the runtime's config.json names its cgroups."""
    host(root)
    cg = "/sys/fs/cgroup"
    v1 = {c: f"{cg}/{c}/pyswarm/{CID}" for c in ("memory", "cpu", "cpuacct", "pids", "devices")}
    unified = f"{cg}/unified/pyswarm/{CID}"
    write(root, f"{unified}/cgroup.procs", f"{PID}\n4300\n")
    write(root, f"{unified}/sub/cgroup.procs", "4301\n")        # a nested cgroup counts too
    write(root, f"{unified}/cpu.stat", "usage_usec 1\nuser_usec 1\nsystem_usec 0\n")
    write(root, f"{v1['cpuacct']}/cpuacct.usage", "2500000000\n")
    write(root, f"{v1['cpuacct']}/cpuacct.stat", "user 200\nsystem 50\n")
    write(root, f"{v1['cpuacct']}/cpuacct.usage_percpu", "1500000000 1000000000 \n")
    write(root, f"{v1['cpu']}/cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n")
    write(root, f"{v1['memory']}/memory.usage_in_bytes", "10485760\n")
    write(root, f"{v1['memory']}/memory.max_usage_in_bytes", "20971520\n")
    write(root, f"{v1['memory']}/memory.limit_in_bytes", "9223372036854771712\n")   # no limit
    write(root, f"{v1['memory']}/memory.failcnt", "0\n")
    write(root, f"{v1['memory']}/memory.stat",
          "cache 4096\nrss 8192\ntotal_inactive_file 1048576\ntotal_rss 8192\nunknown_key 7\n")
    write(root, f"{v1['pids']}/pids.current", "3\n")
    write(root, f"{v1['pids']}/pids.max", "max\n")
    v = view(CID, NAME, status)
    st = dataclasses.replace(v.state, pid=PID if status == "running" else None)
    return ContainerView(st, {**v.config, "cgroup_v1": v1, "cgroup_unified": unified})


def pure_v2(root: Path) -> ContainerView:
    host(root)
    u = f"/sys/fs/cgroup/pyswarm/{CID}"
    write(root, f"{u}/cgroup.procs", f"{PID}\n")
    write(root, f"{u}/cpu.stat", "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\nnr_periods 4\n"
                                 "nr_throttled 1\nthrottled_usec 7\n")
    write(root, f"{u}/memory.current", "5242880\n")
    write(root, f"{u}/memory.max", "max\n")
    write(root, f"{u}/memory.stat", "anon 4096\nfile 8192\ninactive_file 1024\n")
    write(root, f"{u}/memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n")
    write(root, f"{u}/pids.current", "2\n")
    write(root, f"{u}/pids.max", "100\n")
    write(root, f"{u}/io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n")
    v = view(CID, NAME)
    return ContainerView(dataclasses.replace(v.state, pid=PID),
                         {**v.config, "cgroup_v1": {}, "cgroup_unified": u})


def epoch(rfc3339: str) -> float:
    from swarm.daemon.containers import _epoch

    t = _epoch(rfc3339)
    assert t is not None, rfc3339
    return t


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---- top ------------------------------------------------------------------------------------
PS_EF = ("UID          PID    PPID  C STIME TTY          TIME CMD\n"
         "root           1       0  0 10:00 ?        00:00:01 /sbin/init\n"
         "root        4242    4200  0 10:01 ?        00:00:00 /bin/httpd -f -p 80\n"
         "root        4300    4242  0 10:02 ?        00:00:00 sleep 1000\n"
         "root        4999       1  0 10:03 ?        00:00:00 other\n")


def test_pids_are_every_cgroup_procs_below_the_container(tmp_path: Path) -> None:
    v = hybrid(tmp_path)
    assert sorted(cs.container_pids(tmp_path, v.config)) == [PID, 4300, 4301]
    # a v1-only host: the memory hierarchy's directory
    only_v1 = {**v.config, "cgroup_unified": None}
    write(tmp_path, f"{v.config['cgroup_v1']['memory']}/cgroup.procs", "77\n")
    assert cs.container_pids(tmp_path, only_v1) == [77]
    assert cs.container_pids(tmp_path, {}) == []


def test_ps_output_keeps_the_header_and_the_containers_rows() -> None:
    doc = cs.parse_ps_output(PS_EF, [4242, 4300])
    assert doc["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    # the command's words are merged into the last column, as dockerd merges them
    assert doc["Processes"] == [
        ["root", "4242", "4200", "0", "10:01", "?", "00:00:00", "/bin/httpd -f -p 80"],
        ["root", "4300", "4242", "0", "10:02", "?", "00:00:00", "sleep 1000"]]
    assert cs.parse_ps_output(PS_EF, [])["Processes"] == []
    # `ps m`: a thread row ("-" PID) goes with the row above it
    threads = "PID TTY STAT TIME COMMAND\n4242 ? - 0:00 httpd\n- - Ss 0:00 -\n9 ? - 0:00 x\n- - S 0:00 -\n"
    assert cs.parse_ps_output(threads, [4242])["Processes"] == [
        ["4242", "?", "-", "0:00", "httpd"], ["-", "-", "Ss", "0:00", "-"]]


def test_ps_output_errors_are_dockerds() -> None:
    with pytest.raises(cs.TopError, match=r"^Couldn't find PID field in ps output$"):
        cs.parse_ps_output("USER COMMAND\nroot init\n", [1])
    with pytest.raises(cs.TopError, match=r"^Unexpected pid 'x1'"):
        cs.parse_ps_output("PID CMD\nx1 init\n", [1])


def test_ps_args_with_another_column_named_pid_are_refused() -> None:
    cs.validate_ps_args("-o pid=PID,comm")
    cs.validate_ps_args("-ef")
    with pytest.raises(cs.TopError, match=r'^specifying "user=PID" is not allowed$'):
        cs.validate_ps_args("-o user=PID")


class FakePs:
    def __init__(self, *answers: tuple[int, bytes, bytes]) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    async def __call__(self, args: list[str]) -> tuple[int, bytes, bytes]:
        self.calls.append(args)
        return self.answers.pop(0)


def test_top_runs_ps_with_the_containers_pids(tmp_path: Path) -> None:
    dm = daemon_with([hybrid(tmp_path)])
    ps = FakePs((0, PS_EF.encode(), b""))
    r = run(cs.top(dm, d.ContainerTopRequest(id=NAME), root=tmp_path, ps=ps))
    doc = json.loads(r.top_json)
    assert [p[1] for p in doc["Processes"]] == ["4242", "4300"]
    assert ps.calls == [["-ef", f"-q{PID},4300,4301"]]            # dockerd's default and -q
    # ps refuses -q with some options: run again without it, rows filtered all the same
    ps = FakePs((1, b"", b"error: conflicting"), (0, PS_EF.encode(), b""))
    r = run(cs.top(dm, d.ContainerTopRequest(id=CID[:6], ps_args="aux f"), root=tmp_path, ps=ps))
    assert [p[1] for p in json.loads(r.top_json)["Processes"]] == ["4242", "4300"]
    assert ps.calls == [["aux", "f", f"-q{PID},4300,4301"], ["aux", "f"]]


def test_top_errors_are_dockerds(tmp_path: Path) -> None:
    dm = daemon_with([hybrid(tmp_path)])
    bad = FakePs((1, b"", b"x"), (1, b"", b"error: unsupported option (BSD syntax)\nUsage: ...\n"))
    with pytest.raises(cs.TopError, match=r"^ps: error: unsupported option \(BSD syntax\)$"):
        run(cs.top(dm, d.ContainerTopRequest(id=NAME, ps_args="-Z9"), root=tmp_path, ps=bad))
    silent = FakePs((1, b"", b""), (2, b"", b""))
    with pytest.raises(cs.TopError, match=r"^ps: exit status 2$"):
        run(cs.top(dm, d.ContainerTopRequest(id=NAME, ps_args="9"), root=tmp_path, ps=silent))
    no_pid = FakePs((0, b"USER COMMAND\nroot init\n", b""))
    with pytest.raises(cs.TopError, match=r"^Couldn't find PID field in ps output$"):
        run(cs.top(dm, d.ContainerTopRequest(id=NAME, ps_args="-o user,comm"), root=tmp_path, ps=no_pid))
    with pytest.raises(cs.TopError, match='specifying "user=PID"'):
        run(cs.top(dm, d.ContainerTopRequest(id=NAME, ps_args="-o user=PID"), root=tmp_path, ps=FakePs()))
    with pytest.raises(NoSuchContainerError, match=r"^No such container: nosuch$"):
        run(cs.top(dm, d.ContainerTopRequest(id="nosuch"), root=tmp_path, ps=FakePs()))
    stopped = daemon_with([hybrid(tmp_path, "exited")])
    with pytest.raises(cs.ContainerNotRunningError, match=f"^container {CID} is not running$"):
        run(cs.top(stopped, d.ContainerTopRequest(id=NAME), root=tmp_path, ps=FakePs()))


def test_the_errors_reach_http_as_dockerds_statuses() -> None:
    def http(e: Exception) -> int:
        code = status_for(e)
        assert code is not None
        return http_status(code, str(e))

    assert http(NoSuchContainerError("x")) == 404
    assert http(cs.ContainerNotRunningError(CID)) == 409
    assert http(cs.TopError("Couldn't find PID field in ps output")) == 500
    assert status_for(cs.StatsError("x")) == grpc.StatusCode.INTERNAL


def test_top_with_the_real_ps_finds_this_process(tmp_path: Path) -> None:
    """The host's own ps: a cgroup.procs naming this test's process gives its row, and only it."""
    v = hybrid(tmp_path)
    write(tmp_path, f"{v.config['cgroup_unified']}/cgroup.procs", f"{os.getpid()}\n")
    write(tmp_path, f"{v.config['cgroup_unified']}/sub/cgroup.procs", "")
    r = run(cs.top(daemon_with([v]), d.ContainerTopRequest(id=NAME), root=tmp_path))
    doc = json.loads(r.top_json)
    assert doc["Titles"][:2] == ["UID", "PID"] and doc["Titles"][-1] == "CMD"
    assert [p[1] for p in doc["Processes"]] == [str(os.getpid())]
    r = run(cs.top(daemon_with([v]), d.ContainerTopRequest(id=NAME, ps_args="-o pid,comm"), root=tmp_path))
    assert json.loads(r.top_json)["Titles"] == ["PID", "COMMAND"]
    with pytest.raises(cs.TopError, match=r"^ps: "):
        run(cs.top(daemon_with([v]), d.ContainerTopRequest(id=NAME, ps_args="--no-such-option"),
                   root=tmp_path))


# ---- stats ----------------------------------------------------------------------------------
def test_system_cpu_usage_is_dockerds(tmp_path: Path) -> None:
    host(tmp_path)
    # the cpu line's first seven fields: 100+2+30+4000+5+6+7 ticks of 10 ms, in ns; two cpuN lines
    assert cs.system_cpu_usage(tmp_path) == (4150 * 10_000_000, 2)
    write(tmp_path, "/proc/stat", "cpu  1 2 3\n")
    with pytest.raises(cs.StatsError, match="invalid number of cpu fields"):
        cs.system_cpu_usage(tmp_path)
    with pytest.raises(cs.StatsError, match="/proc/stat"):
        cs.system_cpu_usage(tmp_path / "nowhere")


def test_a_hybrid_hosts_sample_is_read_from_the_v1_files(tmp_path: Path) -> None:
    v = hybrid(tmp_path)
    read, parts = cs.sample(tmp_path, v, now_ns=1_800_000_000_123_000_000)
    assert read == "2027-01-15T08:00:00.123Z"
    doc = cs.render(v, parts, read, None)
    assert list(doc) == ["name", "id", "read", "preread", "pids_stats", "blkio_stats", "num_procs",
                         "storage_stats", "cpu_stats", "precpu_stats", "memory_stats", "networks"]
    assert doc["name"] == "/" + NAME and doc["id"] == CID and doc["preread"] == cs.ZERO_TIME
    assert doc["cpu_stats"] == {
        "cpu_usage": {"total_usage": 2_500_000_000, "percpu_usage": [1_500_000_000, 1_000_000_000],
                      "usage_in_kernelmode": 500_000_000, "usage_in_usermode": 2_000_000_000},
        "throttling_data": {"periods": 10, "throttled_periods": 2, "throttled_time": 3000},
        "system_cpu_usage": 41_500_000_000, "online_cpus": 2}
    mem = doc["memory_stats"]
    assert mem["usage"] == 10485760 and mem["max_usage"] == 20971520
    assert mem["limit"] == MEM_TOTAL_KB * 1024                  # no limit: the host's memory
    assert "failcnt" not in mem                                   # zero: omitted, as Go's omitempty
    assert mem["stats"]["total_inactive_file"] == 1048576 and mem["stats"]["cache"] == 4096
    assert mem["stats"]["dirty"] == 0 and "unknown_key" not in mem["stats"]
    assert list(mem["stats"]) == list(cs.V1_MEMORY_KEYS)
    assert doc["pids_stats"] == {"current": 3}                    # pids.max "max": no limit
    assert doc["blkio_stats"] == dict.fromkeys(cs.BLKIO_KEYS)     # no blkio cgroup: empty lists
    assert doc["networks"] == {
        "eth0": {"rx_bytes": 1400, "rx_packets": 12, "rx_errors": 1, "rx_dropped": 2,
                 "tx_bytes": 2800, "tx_packets": 20, "tx_errors": 3, "tx_dropped": 4},
        "eth1": {"rx_bytes": 10, "rx_packets": 1, "rx_errors": 0, "rx_dropped": 0,
                 "tx_bytes": 20, "tx_packets": 2, "tx_errors": 0, "tx_dropped": 0}}
    # a memory limit under the host's memory is the limit
    write(tmp_path, f"{v.config['cgroup_v1']['memory']}/memory.limit_in_bytes", "67108864\n")
    assert cs.sample(tmp_path, v)[1]["memory_stats"]["limit"] == 64 << 20


def test_a_v1_blkio_cgroup_is_read_as_containerd_reads_it(tmp_path: Path) -> None:
    v = hybrid(tmp_path)
    b = "/sys/fs/cgroup/blkio/pyswarm/" + CID
    write(tmp_path, f"{b}/blkio.throttle.io_service_bytes",
          "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n")
    write(tmp_path, f"{b}/blkio.throttle.io_serviced", "8:0 Read 1\n8:0 Write 2\nTotal 3\n")
    v = ContainerView(v.state, {**v.config, "cgroup_v1": {**v.config["cgroup_v1"], "blkio": b}})
    blk = cs.sample(tmp_path, v)[1]["blkio_stats"]
    assert blk["io_service_bytes_recursive"][:2] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 8192}]
    assert len(blk["io_service_bytes_recursive"]) == 5 and len(blk["io_serviced_recursive"]) == 2
    assert blk["io_queue_recursive"] is None


def test_a_v2_hosts_sample_is_read_from_the_unified_files(tmp_path: Path) -> None:
    v = pure_v2(tmp_path)
    doc = cs.render(v, cs.sample(tmp_path, v)[1], "r", ("p", cs._empty_cpu()))
    assert doc["preread"] == "p" and doc["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert doc["cpu_stats"]["cpu_usage"] == {"total_usage": 3_000_000, "usage_in_kernelmode": 1_000_000,
                                             "usage_in_usermode": 2_000_000}
    assert doc["cpu_stats"]["throttling_data"] == {"periods": 4, "throttled_periods": 1,
                                                   "throttled_time": 7000}
    mem = doc["memory_stats"]
    assert (mem["usage"], mem["limit"], mem["failcnt"]) == (5242880, MEM_TOTAL_KB * 1024, 1)
    assert mem["stats"]["inactive_file"] == 1024 and list(mem["stats"]) == list(cs.V2_MEMORY_KEYS)
    assert "max_usage" not in mem
    assert doc["pids_stats"] == {"current": 2, "limit": 100}
    assert doc["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 4096},
        {"major": 8, "minor": 0, "op": "write", "value": 8192}]
    assert doc["blkio_stats"]["io_serviced_recursive"] is None


def test_a_container_without_counters_is_answered_empty_not_invented(tmp_path: Path) -> None:
    host(tmp_path)
    v = view(CID, NAME)
    doc = cs.render(v, cs.sample(tmp_path, ContainerView(dataclasses.replace(v.state, pid=None),
                                                          {**v.config}))[1], "r", None)
    assert doc["memory_stats"] == {} and doc["pids_stats"] == {} and "networks" not in doc
    assert doc["cpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert doc["cpu_stats"]["system_cpu_usage"] == 41_500_000_000


def stats(dm: Any, root: Path, **kw: Any) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        out = []
        async for m in cs.stats(dm, d.ContainerStatsRequest(**kw), root=root, interval=0.01):
            out.append(json.loads(m.stats_json))
        return out

    return run(collect())


def ticking(views: list[ContainerView], root: Path, usage_file: str, gone_after: int = 10**9) -> Any:
    """A daemon whose container burns 1 s of CPU between two looks (and goes after some)."""
    looks = [0]

    async def container_views() -> list[ContainerView]:
        looks[0] += 1
        write(root, usage_file, f"{2_500_000_000 + looks[0] * 1_000_000_000}\n")
        return views if looks[0] <= gone_after else []

    from types import SimpleNamespace

    return SimpleNamespace(agent=SimpleNamespace(executor=SimpleNamespace(container_views=container_views)))


def test_stats_without_stream_carry_the_previous_sample(tmp_path: Path, monkeypatch: Any) -> None:
    v = hybrid(tmp_path)
    usage = f"{v.config['cgroup_v1']['cpuacct']}/cpuacct.usage"
    real, taken = cs.sample, [0]

    def burning(root: Path, view: Any) -> Any:         # 1 s of CPU more at each sample
        taken[0] += 1
        write(root, usage, f"{2_500_000_000 + taken[0] * 1_000_000_000}\n")
        return real(root, view)

    monkeypatch.setattr(cs, "sample", burning)
    docs = stats(daemon_with([v]), tmp_path, id=NAME, stream=False)
    assert len(docs) == 1 and taken[0] == 2
    doc = docs[0]
    assert doc["precpu_stats"]["cpu_usage"]["total_usage"] == 3_500_000_000
    assert doc["cpu_stats"]["cpu_usage"]["total_usage"] == 4_500_000_000
    assert doc["preread"] != cs.ZERO_TIME and epoch(doc["preread"]) < epoch(doc["read"])
    # one-shot: a single sample at once, without precpu
    doc, = stats(daemon_with([v]), tmp_path, id=NAME, stream=False, one_shot=True)
    assert taken[0] == 3
    assert doc["preread"] == cs.ZERO_TIME and doc["precpu_stats"] == cs._empty_cpu()
    assert doc["cpu_stats"]["cpu_usage"]["total_usage"] == 5_500_000_000


def test_stats_stream_until_the_container_is_removed(tmp_path: Path) -> None:
    v = hybrid(tmp_path)
    usage = f"{v.config['cgroup_v1']['cpuacct']}/cpuacct.usage"
    docs = stats(ticking([v], tmp_path, usage, gone_after=3), tmp_path, id=NAME, stream=True)
    assert len(docs) == 3
    assert docs[0]["preread"] == cs.ZERO_TIME                       # the first has no previous
    assert [x["cpu_stats"]["cpu_usage"]["total_usage"] for x in docs] == [
        3_500_000_000, 4_500_000_000, 5_500_000_000]
    assert [x["precpu_stats"]["cpu_usage"]["total_usage"] for x in docs[1:]] == [3_500_000_000, 4_500_000_000]
    assert docs[1]["preread"] == docs[0]["read"]


def test_stats_of_a_stopped_or_unknown_container(tmp_path: Path) -> None:
    stopped = hybrid(tmp_path, "exited")
    doc, = stats(daemon_with([stopped]), tmp_path, id=NAME, stream=False)
    assert doc == {"name": "/" + NAME, "id": CID, "read": cs.ZERO_TIME, "preread": cs.ZERO_TIME,
                   "pids_stats": {}, "blkio_stats": dict.fromkeys(cs.BLKIO_KEYS), "num_procs": 0,
                   "storage_stats": {}, "cpu_stats": cs._empty_cpu(), "precpu_stats": cs._empty_cpu(),
                   "memory_stats": {}}
    with pytest.raises(NoSuchContainerError, match=r"^No such container: nosuch$"):
        stats(daemon_with([stopped]), tmp_path, id="nosuch", stream=False)


def test_stats_of_this_hosts_real_proc(tmp_path: Path) -> None:
    """/proc/stat and this process's /proc/<pid>/net/dev of the real host read as they are."""
    system, cpus = cs.system_cpu_usage(Path("/"))
    assert system > 0 and cpus == len([ln for ln in Path("/proc/stat").read_text().splitlines()
                                       if ln[:3] == "cpu" and ln[3:4].isdigit()])
    assert cs.machine_memory(Path("/")) > 0
    assert "lo" not in cs.network_stats(Path("/"), os.getpid())
