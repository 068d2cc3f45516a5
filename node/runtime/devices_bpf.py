"""cgroup v2 device allow-list: a ``BPF_PROG_TYPE_CGROUP_DEVICE`` program, via ctypes.

cgroup v2 has no ``devices.allow``; runc/crun attach an eBPF program to the container's
cgroup instead. This module assembles the same kind of program (runc's ``devicefilter``)
from the allow-list in :data:`node.runtime.cgroups.DEVICE_RULES`, loads it once per process
with ``bpf(BPF_PROG_LOAD)`` and attaches it to each container's cgroup2 directory with
``bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE)``. The kernel checks these programs for the
task's cgroup in the *default* (v2) hierarchy, so on hybrid hosts (this one) it works too and
adds a second layer to the v1 ``devices`` controller. The attachment goes away with the
cgroup directory.

Program, for ``ctx = {u32 access_type (type | access << 16), u32 major, u32 minor}``::

    r2 = type; r3 = access; r4 = major; r5 = minor
    for each rule:  if r2 != rule.type goto next          (skipped for type 'a')
                    if r3 & ~rule.access goto next
                    if r4 != rule.major goto next        (skipped for '*')
                    if r5 != rule.minor goto next        (skipped for '*')
                    return 1
    next: ...       return 0
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading

from node.runtime.linux import libc

SYS_bpf = 321
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
DEV_BLOCK, DEV_CHAR = 1, 2
ACC = {"m": 1, "r": 2, "w": 4}

_lock = threading.Lock()
_prog_fds: dict[tuple[str, ...], int] = {}


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


LDXW, AND64K, RSH64K, MOV64X, MOV64K, JNEK, EXIT = 0x61, 0x57, 0x77, 0xBF, 0xB7, 0x55, 0x95


def _parse(rule: str) -> tuple[int | None, int | None, int | None, int]:
    kind, numbers, access = rule.split()
    major, minor = numbers.split(":")
    typ = {"a": None, "b": DEV_BLOCK, "c": DEV_CHAR}[kind]
    acc = sum(ACC[c] for c in access)
    return typ, None if major == "*" else int(major), None if minor == "*" else int(minor), acc


def assemble(rules: tuple[str, ...] | list[str]) -> bytes:
    """The program bytes for an allow-list of ``devices.allow``-style rules."""
    prog = [_insn(LDXW, 2, 1, 0), _insn(AND64K, 2, imm=0xFFFF),
            _insn(LDXW, 3, 1, 0), _insn(RSH64K, 3, imm=16),
            _insn(LDXW, 4, 1, 4), _insn(LDXW, 5, 1, 8)]
    for rule in rules:
        typ, major, minor, acc = _parse(rule)
        # items: ready bytes, or ("skip", reg, imm) = "if reg != imm goto end of this block"
        block: list[bytes | tuple[str, int, int]] = []
        if typ is not None:
            block.append(("skip", 2, typ))
        block += [_insn(MOV64X, 1, 3), _insn(AND64K, 1, imm=~acc), ("skip", 1, 0)]
        if major is not None:
            block.append(("skip", 4, major))
        if minor is not None:
            block.append(("skip", 5, minor))
        block += [_insn(MOV64K, 0, imm=1), _insn(EXIT)]
        for i, item in enumerate(block):
            if isinstance(item, tuple):
                _, reg, imm = item
                prog.append(_insn(JNEK, reg, off=len(block) - i - 1, imm=imm))
            else:
                prog.append(item)
    prog += [_insn(MOV64K, 0, imm=0), _insn(EXIT)]
    return b"".join(prog)


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    ret = int(libc.syscall(SYS_bpf, cmd, attr, len(attr)))
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return ret


def load(rules: tuple[str, ...] | list[str]) -> int:
    """Load (once per process and rule set) and return the program fd."""
    key = tuple(rules)
    with _lock:
        if key in _prog_fds:
            return _prog_fds[key]
        code = assemble(rules)
        insns = ctypes.create_string_buffer(code, len(code))
        lic = ctypes.create_string_buffer(b"Apache-2.0")
        log = ctypes.create_string_buffer(65536)
        attr = ctypes.create_string_buffer(128)
        struct.pack_into("<IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                         ctypes.addressof(insns), ctypes.addressof(lic), 1, len(log), ctypes.addressof(log))
        struct.pack_into("<I", attr, 68, BPF_CGROUP_DEVICE)           # expected_attach_type
        try:
            fd = _bpf(BPF_PROG_LOAD, attr)
        except OSError as e:
            verifier = log.value.decode(errors="replace")[-300:]
            raise OSError(e.errno, f"{e.strerror}; verifier: {verifier}") from e
        os.set_inheritable(fd, False)
        _prog_fds[key] = fd
        return fd


def attach(cgroup_dir: str, rules: tuple[str, ...] | list[str]) -> None:
    """Attach the allow-list program to a cgroup2 directory."""
    prog = load(rules)
    cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        attr = ctypes.create_string_buffer(32)
        struct.pack_into("<IIII", attr, 0, cg, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
        _bpf(BPF_PROG_ATTACH, attr)
    finally:
        os.close(cg)
