"""cgroup limit files on v1 and v2, against a fake cgroupfs tree (this host is hybrid v1)."""

from pathlib import Path

import pytest

from node.runtime import cgroups
from node.runtime.spec import Limits


@pytest.fixture
def fake_v2(tmp_path, monkeypatch):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    monkeypatch.setattr(cgroups, "mode", lambda: "v2")
    return tmp_path


@pytest.fixture
def fake_v1(tmp_path, monkeypatch):
    mps = {c: tmp_path / c for c in ("memory", "cpu", "cpuacct", "pids", "devices", "freezer")}
    for d in mps.values():
        d.mkdir()
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    monkeypatch.setattr(cgroups, "mode", lambda: "v1")
    monkeypatch.setattr(cgroups, "v1_mountpoints", lambda: dict(mps))
    return tmp_path


def test_v2_limits(fake_v2, monkeypatch):
    attached = []
    monkeypatch.setattr(cgroups.devices_bpf, "attach", lambda d, rules: attached.append((d, rules)))
    cg = cgroups.Cgroup("proj", "c1")
    cg.create(Limits(memory_bytes=64 << 20, nano_cpus=1_500_000_000, pids=10))
    d = fake_v2 / "proj/c1"
    assert (fake_v2 / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (fake_v2 / "proj/cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (d / "memory.max").read_text() == str(64 << 20)
    assert (d / "cpu.max").read_text() == "150000 100000"
    assert (d / "pids.max").read_text() == "10"
    assert attached == [(str(d), cgroups.DEVICE_RULES)]
    assert cg.procs_files == [str(d / "cgroup.procs")]
    assert cg.unified_dir == d and cg.v1_tasks_files == []
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cg.oom_killed()


def test_v1_limits_and_devices(fake_v1):
    cg = cgroups.Cgroup("proj", "c1")
    cg.create(Limits(memory_bytes=32 << 20, nano_cpus=250_000_000, pids=5))
    assert (fake_v1 / "memory/proj/c1/memory.limit_in_bytes").read_text() == str(32 << 20)
    assert (fake_v1 / "cpu/proj/c1/cpu.cfs_quota_us").read_text() == "25000"
    assert (fake_v1 / "cpu/proj/c1/cpu.cfs_period_us").read_text() == "100000"
    assert (fake_v1 / "pids/proj/c1/pids.max").read_text() == "5"
    # each write replaces the fake file; the last allow rule is what stays
    assert (fake_v1 / "devices/proj/c1/devices.deny").read_text() == "a"
    assert (fake_v1 / "devices/proj/c1/devices.allow").read_text() == cgroups.DEVICE_RULES[-1]
    assert len(cg.procs_files) == 6
    assert cg.unified_dir is None
    assert sorted(cg.v1_tasks_files) == sorted(str(fake_v1 / c / "proj/c1/tasks") for c in
                                               ("memory", "cpu", "cpuacct", "pids", "devices", "freezer"))
    oom = fake_v1 / "memory/proj/c1/memory.oom_control"
    oom.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert not cg.oom_killed()


def test_real_host_mode_detected():
    assert cgroups.mode() in ("v1", "hybrid", "v2")
    if cgroups.mode() != "v2" and Path("/sys/fs/cgroup/memory").is_dir():
        assert "memory" in cgroups.v1_mountpoints()


def test_device_filter_program_shape():
    from node.runtime.devices_bpf import assemble

    prog = assemble(["c 1:3 rwm", "c 136:* rwm", "b *:* m", "a *:* r"])
    assert len(prog) % 8 == 0
    # prologue 6 + (type, and x2, acc-jump, major, minor, ret x2) ... + final "return 0"
    assert len(prog) // 8 == 6 + 8 + 7 + 6 + 5 + 2
    assert prog[-16:] == bytes([0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])
