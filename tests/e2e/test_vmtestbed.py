"""deploy/vmtestbed: the plan (no root), a one-VM smoke test, and the VM-only failure modes.

The smoke test boots a real VM (TCG here: about a minute alone, more on a loaded machine), so
it runs only with PYSWARM_VM_TESTS=1 and a built image (`sudo deploy/vmtestbed build`); CI
does not set it. The failure-mode tests run on the VMs of `deploy/vmtestbed up N` with
`pytest --testbed vm` and skip on the netns testbed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.testbed import Testbed, system_snapshot

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "vmtestbed"


@pytest.fixture
def vmtb() -> Iterator[Any]:
    sys.path.insert(0, str(REPO / "deploy"))
    try:
        import vmtb.config
        import vmtb.vm

        yield vmtb
    finally:
        sys.path.remove(str(REPO / "deploy"))


def test_plan_names_addresses_and_qemu_line(vmtb: Any) -> None:
    from swtb.errors import UsageError

    cfg, vm = vmtb.config, vmtb.vm
    assert cfg.vm_names(3) == ["vm1", "vm2", "vm3"]
    with pytest.raises(UsageError, match="between 1 and 9"):
        cfg.vm_names(0)
    assert cfg.address(cfg.SUBNET, 1) == "10.231.0.11" and cfg.address(cfg.SUBNET, -9) == "10.231.0.1"
    assert cfg.mac_for("10.231.0.11") == "52:54:00:e7:00:0b"
    v = cfg.VMSpec("vm1", 1, "10.231.0.11", "vmtb-t1", cfg.mac_for("10.231.0.11"))
    argv = vm.qemu_argv(v, Path("/img"), "tcg", vm.CPU_FOR["tcg"], 1024)
    # qemu runs inside the testbed's netns on its tap: nothing in the root namespace's network
    assert argv[:4] == ["ip", "netns", "exec", "vmtb"]
    assert "tap,id=net0,ifname=vmtb-t1,script=no,downscript=no" in argv
    assert argv[argv.index("-accel") + 1] == "tcg,tb-size=256" and argv[argv.index("-m") + 1] == "1024"
    assert argv[argv.index("-smp") + 1] == "1" and "vmgenid" in argv
    assert "ip=10.231.0.11:::255.255.255.0::eth0:off" in argv[argv.index("-append") + 1]
    kvm = vm.qemu_argv(v, Path("/img"), "kvm", vm.CPU_FOR["kvm"], 512)
    assert kvm[kvm.index("-cpu") + 1] == "host,-arch-capabilities"



# stands in for the guest's clock loop (vmtb.clock.GUEST): its clock is 2.2 s behind and each
# answer waits 3 ms before reading it, as a guest answering late would; a shift moves only its
# own offset, never this machine's clock
SKEWED_GUEST = (
    "import sys, time\n"
    "off = -2.2\n"
    "print('ready', flush=True)\n"
    "for line in sys.stdin:\n"
    "    if line.startswith('shift '):\n"
    "        off += float(line[6:])\n"
    "    time.sleep(0.003)\n"
    "    print(repr(time.time() + off), flush=True)\n"
)


def test_clock_settle_brings_a_skewed_guest_within_a_few_ms(vmtb: Any) -> None:
    import vmtb.clock

    p = subprocess.Popen([sys.executable, "-u", "-c", SKEWED_GUEST], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        offset, rtt = vmtb.clock.settle(p, "fake")
        assert abs(offset) < 0.05 and rtt < 1, (offset, rtt)   # 1-3 ms on a quiet machine
        assert p.stdin is not None and p.stdout is not None
        t1 = time.time()
        p.stdin.write("now\n")
        p.stdin.flush()
        guest = float(p.stdout.readline())
        assert abs(guest - t1) < 0.5, guest - t1   # was 2.2 s behind
    finally:
        p.kill()
        p.wait()


def test_clock_settle_names_a_guest_whose_helper_did_not_start(vmtb: Any) -> None:
    import vmtb.clock

    p = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        with pytest.raises(RuntimeError, match="vm7: the clock helper did not start"):
            vmtb.clock.settle(p, "vm7")
    finally:
        p.wait()


def _vm(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_smoke_one_vm_swarm_info_and_down_leaves_nothing(vmtb: Any) -> None:
    if os.environ.get("PYSWARM_VM_TESTS") != "1":
        pytest.skip("boots a real VM under TCG (123 s here on a loaded machine, after a 4 min image "
                    "build): not in CI; set PYSWARM_VM_TESTS=1 to run it")
    if os.geteuid() != 0:
        pytest.skip("the VM testbed needs root")
    if not (vmtb.config.cache_dir() / "current").exists():
        pytest.skip("no VM image: run `sudo deploy/vmtestbed build` first")
    if _vm("ls").returncode == 0:
        pytest.skip("the VM testbed is already up (someone's run): not touching it")
    before = system_snapshot()
    try:
        up = _vm("up", "1")
        assert up.returncode == 0, up.stderr
        rows = [json.loads(x) for x in _vm("ls", "--format", "json").stdout.splitlines()]
        assert [(r["name"], r["address"], r["status"]) for r in rows] == [("vm1", "10.231.0.11", "running")]
        qemu_pid = rows[0]["pid"]
        info = _vm("ssh", "vm1", "--", "swarm", "info", "-f", "{{.Swarm.LocalNodeState}}", timeout=120)
        assert info.returncode == 0 and info.stdout.strip() == "inactive", info.stdout + info.stderr
        kernel = _vm("ssh", "vm1", "--", "uname", "-r").stdout
        assert kernel.strip() != os.uname().release  # its own kernel, not this machine's
        # no route out of the testbed: the VM reaches the bridge but nothing beyond it
        assert _vm("ssh", "vm1", "--", "ping", "-c1", "-W2", "10.231.0.1").returncode == 0
        assert "unreachable" in _vm("ssh", "vm1", "--", "ip", "route", "get", "1.1.1.1").stderr
    finally:
        down = _vm("down")
    assert down.returncode == 0, down.stderr
    after = system_snapshot()
    assert "vmtb" not in after["netns"]
    assert not Path(f"/proc/{qemu_pid}").exists()
    assert after["routes"] == before["routes"] or set(after["routes"]) <= set(before["routes"])
    cache = str(vmtb.config.cache_dir())
    assert [m for m in after["mounts"] if cache in m] == []
    assert not vmtb.config.run_dir().exists()


# ---- VM-only failure modes (pytest --testbed vm, on `deploy/vmtestbed up 2` or more) ---------

@pytest.fixture
def vm_bed(request: pytest.FixtureRequest, testbed: Callable[..., Testbed]) -> Callable[..., Any]:
    if request.config.getoption("--testbed") != "vm":
        pytest.skip("power-off and link cut exist only on VMs (pytest --testbed vm)")
    return testbed


def _node_status(tb: Any, node: str) -> str:
    cp = tb.cli("mgr1", "node", "inspect", node, "-f", "{{.Status.State}}")
    return str(cp.stdout.strip()) if cp.returncode == 0 else ""


def test_link_cut_makes_the_node_down_and_back(vm_bed: Callable[..., Any]) -> None:
    tb = vm_bed(1, 1, form_swarm=True)
    tb.cut_link("wkr1")
    tb.wait_for(lambda: _node_status(tb, "wkr1") == "down", timeout=120, what="wkr1 down")
    # its daemon never stopped: the cable was cut, not the process
    assert tb.host("wkr1").status == "down"  # no ssh either: the link is gone
    tb.restore_link("wkr1")
    tb.wait_for(lambda: _node_status(tb, "wkr1") == "ready", timeout=120, what="wkr1 ready again")
    assert tb.host("wkr1").status == "running"


def test_power_off_then_cold_boot_rejoins(vm_bed: Callable[..., Any]) -> None:
    tb = vm_bed(1, 1, form_swarm=True)
    tb.power_off("wkr1")
    tb.wait_for(lambda: _node_status(tb, "wkr1") == "down", timeout=120, what="wkr1 down")
    tb.power_on("wkr1")  # a cold boot of the same disk: swarmd starts from systemd, same node
    tb.wait_for(lambda: _node_status(tb, "wkr1") == "ready", timeout=300, what="wkr1 ready after boot")
