"""Command-line front end of deploy/vmtestbed. Errors are one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from swtb.errors import TestbedError, UsageError

from vmtb import clock, image, net, ssh, vm
from vmtb.config import (
    MEMORY_MB,
    NETNS,
    OVERLAY_POOLS,
    SUBNET,
    BedState,
    VMSpec,
    address,
    cache_dir,
    mac_for,
    route_metric,
    run_dir,
    vm_names,
)

# what `up` does to each VM once it has booted, before the `clean` snapshot is taken
PREPARE = """set -e
hostname {name}; echo {name} > /etc/hostname
systemctl stop swarmd.service
rm -rf /var/lib/swarm/* /etc/default/swarmd
mkdir -p /etc/systemd/system/swarmd.service.d
# a killed daemon stays down until `start`, as on the netns testbed (the unit restarts it otherwise)
printf '[Service]\\nRestart=no\\n' > /etc/systemd/system/swarmd.service.d/vmtb.conf
systemctl daemon-reload
sync
"""


WAIT_SOCKET = ("for i in $(seq 1000); do test -S /run/swarm/swarmd.sock && exit 0; "
               "systemctl is-active -q swarmd.service || break; sleep 0.25; done; "
               "journalctl -u swarmd -n 20 --no-pager -o cat; exit 1")


def _say(msg: str) -> None:
    print(f"vmtestbed: {msg}", file=sys.stderr, flush=True)


def _key(state: BedState) -> Path:
    return Path(state.image) / "id_ed25519"


def _ssh_ok(state: BedState, v: VMSpec, script: str, timeout: float = 120) -> str:
    if not ssh.ensure_master(_key(state), v.name, v.address):
        raise TestbedError(f"{v.name}: ssh to {v.address} failed")
    cp = ssh.run(_key(state), v.name, v.address, ["/bin/sh", "-c", script], timeout=timeout)
    if cp.returncode != 0:
        raise TestbedError(f"{v.name}: {(cp.stderr or cp.stdout).strip()}")
    return cp.stdout


def pick_accel(asked: str) -> tuple[str, str]:
    if asked == "tcg":
        return "tcg", vm.CPU_FOR["tcg"]
    if asked == "kvm":
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            raise UsageError("--accel kvm: /dev/kvm is not usable here")
        return "kvm", vm.CPU_FOR["kvm"]
    probe = cache_dir() / "kvm-probe.json"
    if probe.exists() and json.loads(probe.read_text()).get("works"):
        return "kvm", vm.CPU_FOR["kvm"]
    return "tcg", vm.CPU_FOR["tcg"]


# ---- subcommands ----------------------------------------------------------------------------

def cmd_build(a: argparse.Namespace) -> int:
    image.build(force=a.force, say=_say)
    return 0


def cmd_probe_kvm(a: argparse.Namespace) -> int:
    """Boot the image once under KVM without a network; KVM 'works' if it is ready in time."""
    img = image.current_image()
    if img is None:
        raise TestbedError("no image: run `deploy/vmtestbed build` first")
    run_dir().mkdir(parents=True, exist_ok=True)
    v = VMSpec("kvmprobe", 0, "10.231.0.250", "none", mac_for("10.231.0.250"))
    vm.make_overlay(v.name, img)
    result: dict[str, object] = {"cpu": vm.CPU_FOR["kvm"], "timeout_s": a.timeout}
    if Path("/sys/module/kvm_pvm").exists():
        # /dev/kvm of a machine that is itself a VM without nested VMX: PVM (pagetable-based
        # virtual machine) runs a PVM-enabled guest kernel; a stock kernel's ring-0 code goes
        # through its instruction emulator, which stops on cmpxchg16b, xsaves/xrstors, int3 ...
        result["kvm_module"] = "kvm_pvm"
        result["note"] = ("KVM here is PVM (kvm_pvm): a stock Debian kernel is not a PVM guest; "
                          "it needs a kernel built with CONFIG_PVM_GUEST")
    t0 = time.monotonic()
    try:
        vm.console(v.name).write_text("")
        cp = subprocess.run(vm.qemu_argv(v, img, "kvm", vm.CPU_FOR["kvm"], MEMORY_MB, netns=False),
                            capture_output=True, text=True, timeout=60)
        if cp.returncode != 0:
            result.update(works=False, error=cp.stderr.strip().splitlines()[-1:])
        else:
            try:
                result.update(works=True, ready_s=round(vm.wait_ready(v.name, a.timeout), 1))
            except TestbedError as e:
                result.update(works=False, error=str(e))
    finally:
        vm.power_off(v.name)
        result["console_tail"] = vm.console(v.name).read_text(errors="replace")[-400:]
        for f in (vm.overlay(v.name), vm.console(v.name), vm.qmp_socket(v.name)):
            f.unlink(missing_ok=True)
    result["elapsed_s"] = round(time.monotonic() - t0, 1)
    (cache_dir() / "kvm-probe.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def cmd_up(a: argparse.Namespace) -> int:
    if BedState.load() is not None or net.exists():
        raise TestbedError("the VM testbed is already up: `deploy/vmtestbed down` first")
    img = image.current_image()
    if img is None:
        raise TestbedError("no image: run `deploy/vmtestbed build` first")
    if not 128 <= a.memory <= 1024:
        raise UsageError(f"--memory must be 128..1024 MB, got {a.memory}")
    accel, cpu = pick_accel(a.accel)
    names = vm_names(a.n)
    vms = [VMSpec(n, i, address(SUBNET, i), f"vmtb-t{i}", mac_for(address(SUBNET, i)))
           for i, n in enumerate(names, start=1)]
    state = BedState(image=str(img), accel=accel, cpu=cpu, memory_mb=a.memory, subnet=SUBNET,
                     infra_address=address(SUBNET, -9), vms=vms,
                     routes=[SUBNET, *OVERLAY_POOLS], route_metric=route_metric())
    run_dir().mkdir(parents=True, exist_ok=True)
    state.save()  # first, so `down` finds whatever a failed `up` leaves
    try:
        net.create(state)
        t0 = time.monotonic()
        for v in vms:
            vm.make_overlay(v.name, img)
            vm.start(v, img, accel, cpu, a.memory)
        _say(f"booting {len(vms)} VM(s) ({accel}, -cpu {cpu}, {a.memory} MB each)")
        for v in vms:
            vm.wait_ready(v.name, a.timeout)
            state.boot_seconds[v.name] = round(time.monotonic() - t0, 1)
        for v in vms:
            _ssh_ok(state, v, PREPARE.format(name=v.name))
            ssh.close(v.name)
            t1 = time.monotonic()
            vm.hmp(v.name, "savevm clean")
            state.boot_seconds[f"{v.name}-savevm"] = round(time.monotonic() - t1, 1)
        t2 = time.monotonic()
        for v in vms:
            _ssh_ok(state, v, "systemctl start swarmd.service")
        for v in vms:  # swarmd listening (its socket bound) is part of `up`
            _ssh_ok(state, v, WAIT_SOCKET, timeout=300)
        state.boot_seconds["swarmd"] = round(time.monotonic() - t2, 1)
        state.save()
    except BaseException:
        if not a.keep_on_error:
            _down()
        raise
    _say("up: " + ", ".join(f"{v.name} {v.address}" for v in vms) + "; ready after "
         + ", ".join(f"{k} {s}s" for k, s in state.boot_seconds.items()))
    return 0


def cmd_reset(a: argparse.Namespace) -> int:
    """Restore each VM to its `clean` snapshot (qemu restarted if powered off), fix clock and RNG."""
    state = BedState.require()
    for name in a.names or [v.name for v in state.vms]:
        v = state.vm(name)
        ssh.close(v.name)
        if vm.pid(v.name) is None:
            vm.start(v, Path(state.image), state.accel, state.cpu, state.memory_mb)
        vm.hmp(v.name, "loadvm clean")
        vm.set_link(v.name, True)
        seed = secrets.token_hex(64)
        _ssh_ok(state, v, f"echo {seed} > /dev/urandom")
        offset, rtt = clock.sync(_key(state), v.name, v.address)
        print(f"vmtestbed: {v.name}: clock set, {offset * 1000:+.1f} ms from this machine's "
              f"(round trip {rtt * 1000:.1f} ms)", file=sys.stderr)
    return 0


def cmd_ls(a: argparse.Namespace) -> int:
    state = BedState.require()
    rows = []
    for v in state.vms:
        p = vm.pid(v.name)
        rows.append({"name": v.name, "address": v.address, "pid": p, "status": "running" if p else "off",
                     "accel": state.accel, "memory_mb": state.memory_mb,
                     "key": str(_key(state)), "control_path": str(ssh.control_path(v.name)),
                     "swarmd_socket": str(ssh.swarmd_socket(v.name)),
                     "docker_socket": str(ssh.docker_socket(v.name))})
    if a.format == "json":
        for r in rows:
            print(json.dumps(r))
    else:
        print(f"{'NAME':<6} {'ADDRESS':<14} {'PID':<8} {'STATUS':<8} ACCEL MEMORY")
        for r in rows:
            print(f"{r['name']:<6} {r['address']:<14} {r['pid'] or '-'!s:<8} {r['status']:<8} "
                  f"{r['accel']:<5} {r['memory_mb']} MB")
    return 0


def cmd_ssh(a: argparse.Namespace) -> int:
    state = BedState.require()
    v = state.vm(a.name)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    ssh.ensure_master(_key(state), v.name, v.address)
    argv = ssh.argv(_key(state), v.name, v.address, cmd, tty=not cmd and sys.stdin.isatty())
    return subprocess.run(argv).returncode


def cmd_power(a: argparse.Namespace) -> int:
    state = BedState.require()
    v = state.vm(a.name)
    ssh.close(v.name)
    if a.what == "off":
        vm.power_off(v.name)
        return 0
    if vm.pid(v.name) is not None:
        raise UsageError(f"{v.name} is running")
    vm.start(v, Path(state.image), state.accel, state.cpu, state.memory_mb)  # a fresh console
    _say(f"{v.name} ready after {vm.wait_ready(v.name, a.timeout):.1f}s (cold boot)")
    return 0


def cmd_link(a: argparse.Namespace) -> int:
    BedState.require().vm(a.name)
    vm.set_link(a.name, a.state == "up")
    return 0


def cmd_infra(a: argparse.Namespace) -> int:
    """Start CMD in the background in the testbed's netns (address .1); print its PID."""
    BedState.require()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        raise UsageError("missing command after --")
    n = len(list(run_dir().glob("infra-*.pid"))) + 1
    with (run_dir() / f"infra-{n}.log").open("ab") as log:
        p = subprocess.Popen(["ip", "netns", "exec", NETNS, *cmd], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    (run_dir() / f"infra-{n}.pid").write_text(f"{p.pid}\n")
    print(p.pid)
    return 0


def _netns_pids() -> list[int]:
    cp = subprocess.run(["ip", "netns", "pids", NETNS], capture_output=True, text=True)
    return [int(x) for x in cp.stdout.split()] if cp.returncode == 0 else []


def _down() -> None:
    state = BedState.load()
    for v in state.vms if state else []:
        ssh.close(v.name)
        vm.power_off(v.name)
    # everything left in our netns is ours: qemu, ssh masters, infra commands
    for _ in range(50):
        pids = _netns_pids()
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    routes = state.routes if state else [SUBNET, *OVERLAY_POOLS]
    net.delete(routes, state.route_metric if state else route_metric())
    shutil.rmtree(run_dir(), ignore_errors=True)


def cmd_down(a: argparse.Namespace) -> int:
    _down()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deploy/vmtestbed", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or find cached) the Debian 12 image")
    b.add_argument("--force", action="store_true")
    b.set_defaults(fn=cmd_build)
    k = sub.add_parser("probe-kvm", help="boot once under KVM; `up --accel auto` uses KVM if it worked")
    k.add_argument("--timeout", type=float, default=120)
    k.set_defaults(fn=cmd_probe_kvm)
    u = sub.add_parser("up", help="boot N VMs")
    u.add_argument("n", type=int)
    u.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    u.add_argument("--memory", type=int, default=MEMORY_MB, help="MB per VM (<= 1024)")
    u.add_argument("--timeout", type=float, default=400, help="seconds for each VM to be ready")
    u.add_argument("--keep-on-error", action="store_true")
    u.set_defaults(fn=cmd_up)
    r = sub.add_parser("reset", help="restore VMs to their clean snapshot (what e2e tests start from)")
    r.add_argument("names", nargs="*")
    r.set_defaults(fn=cmd_reset)
    s = sub.add_parser("ssh", help="ssh NAME [-- CMD...]")
    s.add_argument("name")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_ssh)
    pw = sub.add_parser("power", help="power NAME off|on (off: the plug pulled; on: a cold boot)")
    pw.add_argument("name")
    pw.add_argument("what", choices=("off", "on"))
    pw.add_argument("--timeout", type=float, default=400)
    pw.set_defaults(fn=cmd_power)
    lk = sub.add_parser("link", help="link NAME up|down (the VM's cable)")
    lk.add_argument("name")
    lk.add_argument("state", choices=("up", "down"))
    lk.set_defaults(fn=cmd_link)
    inf = sub.add_parser("infra", help="infra -- CMD: background command in the testbed netns")
    inf.add_argument("cmd", nargs=argparse.REMAINDER)
    inf.set_defaults(fn=cmd_infra)
    ls = sub.add_parser("ls")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(fn=cmd_ls)
    d = sub.add_parser("down", help="stop every VM; remove taps, bridge, netns, routes, run dir")
    d.set_defaults(fn=cmd_down)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if os.geteuid() != 0:
        print("vmtestbed: run as root", file=sys.stderr)
        return 1
    try:
        return int(a.fn(a))
    except TestbedError as e:
        print(f"vmtestbed: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
