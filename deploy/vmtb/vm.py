"""qemu processes: one per VM, booted from a copy-on-write overlay of the built image.

Each VM has, in the run directory: NAME.qcow2 (overlay; its internal snapshot `clean` is what
the e2e backend restores between tests), NAME.pid, NAME-serial.log (the console; READY_MARK
there means sshd is up) and NAME-qmp.sock (QMP: savevm/loadvm through human-monitor-command,
set_link for a cut cable, quit for a power-off). `-device vmgenid` makes the guest kernel
reseed its RNG whenever a snapshot is restored, so two tests never share random numbers.

Accelerator: TCG (`-accel tcg,tb-size=256 -cpu max`, ~580 MB per qemu) unless KVM is asked
for or probed as working (`-cpu host,-arch-capabilities` avoids `failed to set MSR 0x10a`
here; see cli.cmd_probe_kvm).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from swtb.errors import TestbedError

from vmtb.config import NETNS, READY_MARK, VMSpec, run_dir
from vmtb.sh import in_netns, run

CPU_FOR = {"tcg": "max", "kvm": "host,-arch-capabilities"}


def overlay(name: str) -> Path:
    return run_dir() / f"{name}.qcow2"


def pidfile(name: str) -> Path:
    return run_dir() / f"{name}.pid"


def console(name: str) -> Path:
    return run_dir() / f"{name}-serial.log"


def qmp_socket(name: str) -> Path:
    return run_dir() / f"{name}-qmp.sock"


def qemu_argv(v: VMSpec, image: Path, accel: str, cpu: str, memory_mb: int, netns: bool = True,
              netmask: str = "255.255.255.0") -> list[str]:
    accel_opt = "tcg,tb-size=256" if accel == "tcg" else accel
    # the address on the kernel line (no DHCP, no gateway); the hostname is /etc/hostname's
    append = (f"root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet loglevel=3 panic=-1 "
              f"ip={v.address}:::{netmask}::eth0:off")
    argv = ["qemu-system-x86_64", "-name", v.name, "-accel", accel_opt, "-cpu", cpu,
            "-m", str(memory_mb), "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-daemonize", "-pidfile", str(pidfile(v.name)),
            "-serial", f"file:{console(v.name)}",
            "-qmp", f"unix:{qmp_socket(v.name)},server=on,wait=off",
            "-kernel", str(image / "vmlinuz"), "-initrd", str(image / "initrd.img"), "-append", append,
            "-drive", f"file={overlay(v.name)},if=virtio,cache=unsafe,discard=unmap",
            "-device", "virtio-rng-pci", "-device", "vmgenid"]
    if netns:
        argv += ["-netdev", f"tap,id=net0,ifname={v.tap},script=no,downscript=no",
                 "-device", f"virtio-net-pci,netdev=net0,mac={v.mac}"]
    else:
        argv += ["-nic", "none"]
    return in_netns(NETNS, argv) if netns else argv


def make_overlay(name: str, image: Path) -> None:
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image / "base.qcow2"),
         str(overlay(name))])


def start(v: VMSpec, image: Path, accel: str, cpu: str, memory_mb: int) -> None:
    console(v.name).write_text("")
    run(qemu_argv(v, image, accel, cpu, memory_mb))


def pid(name: str) -> int | None:
    try:
        p = int(pidfile(name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        comm = Path(f"/proc/{p}/comm").read_text().strip()
    except OSError:
        return None
    return p if comm.startswith("qemu") else None


def wait_ready(name: str, timeout: float, since: int = 0) -> float:
    """Wait for READY_MARK on the console (after byte offset since); returns seconds waited."""
    t0 = time.monotonic()
    while True:
        try:
            with console(name).open("rb") as f:
                f.seek(since)
                if READY_MARK.encode() in f.read():
                    return time.monotonic() - t0
        except OSError:
            pass
        if pid(name) is None:
            raise TestbedError(f"{name}: qemu exited while booting; console: {console(name)}")
        if time.monotonic() - t0 > timeout:
            raise TestbedError(f"{name}: not ready after {timeout:.0f}s; console: {console(name)}")
        time.sleep(0.5)


def qmp(name: str, command: str, arguments: dict[str, Any] | None = None, timeout: float = 300) -> Any:
    """One QMP command; returns its "return" value or raises TestbedError with QMP's error."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(qmp_socket(name)))
        except OSError as e:
            raise TestbedError(f"{name}: no QMP socket ({e.strerror}): is the VM running?") from None
        f = s.makefile("rw")

        def call(cmd: str, args: dict[str, Any]) -> Any:
            f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
            f.flush()
            while True:
                line = f.readline()
                if not line:
                    raise TestbedError(f"{name}: QMP closed during {cmd}")
                msg = json.loads(line)
                if "error" in msg:
                    raise TestbedError(f"{name}: QMP {cmd}: {msg['error'].get('desc')}")
                if "return" in msg:
                    return msg["return"]

        json.loads(f.readline())  # greeting
        call("qmp_capabilities", {})
        return call(command, arguments or {})


def hmp(name: str, line: str, timeout: float = 300) -> str:
    """A human monitor command (savevm, loadvm); its output, which is an error when not empty."""
    out = str(qmp(name, "human-monitor-command", {"command-line": line}, timeout=timeout))
    if out.strip():
        raise TestbedError(f"{name}: `{line}`: {out.strip()}")
    return out


def power_off(name: str) -> None:
    """Pull the plug: qemu stops at once, the guest gets no shutdown."""
    p = pid(name)
    if p is None:
        return
    os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{p}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pidfile(name).unlink(missing_ok=True)


def set_link(name: str, up: bool) -> None:
    qmp(name, "set_link", {"name": "net0", "up": up})
