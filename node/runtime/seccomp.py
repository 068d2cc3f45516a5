"""Compile the default seccomp profile to classic BPF once, with libseccomp through ctypes.

Why this way (and not pyseccomp or hand-written BPF): libseccomp2 is already on every host
that has runc/crun (it is their dependency), it knows every architecture's syscall numbers
and emits an optimised filter; calling its five C functions through ctypes is ~40 lines and
needs no PyPI package. Compiling costs a few ms, so :func:`ensure_bpf` does it once per
profile and caches the program under the runtime root (``seccomp/<sha>.bpf``); a container
start only reads those bytes and calls ``prctl(PR_SET_SECCOMP)`` (lab: <1 ms vs ~9 ms when
building the filter per start).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from node.runtime.errors import RuntimeSetupError
from node.runtime.seccomp_profile import DEFAULT_ERRNO, RULES

log = logging.getLogger(__name__)

SCMP_ACT_ALLOW = 0x7FFF0000


def scmp_act_errno(e: int) -> int:
    return 0x00050000 | (e & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as e:
        raise RuntimeSetupError(f"libseccomp not found ({e}); install libseccomp2") from e
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def profile_hash() -> str:
    return hashlib.sha256(repr((DEFAULT_ERRNO, RULES)).encode()).hexdigest()[:16]


def compile_default() -> bytes:
    """Build the default profile and return the BPF program bytes."""
    lib = _lib()
    ctx = lib.seccomp_init(scmp_act_errno(DEFAULT_ERRNO))
    if not ctx:
        raise RuntimeSetupError("seccomp_init failed")
    try:
        skipped = 0
        for action, errno, names, args in RULES:
            act = SCMP_ACT_ALLOW if action == "allow" else scmp_act_errno(errno)
            arr = (_ArgCmp * max(1, len(args)))(*[_ArgCmp(i, op, a, b) for i, op, a, b in args])
            for name in names:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr < 0:
                    skipped += 1
                    continue
                rc = lib.seccomp_rule_add_array(ctx, act, nr, len(args), arr)
                if rc < 0 and rc != -17:  # -EEXIST: same rule twice
                    raise RuntimeSetupError(f"seccomp rule {name}: {os.strerror(-rc)}")
        with tempfile.TemporaryFile() as f:
            rc = lib.seccomp_export_bpf(ctx, f.fileno())
            if rc < 0:
                raise RuntimeSetupError(f"seccomp_export_bpf: {os.strerror(-rc)}")
            f.seek(0)
            blob = f.read()
        log.debug("seccomp profile compiled: %d insns, %d unknown syscalls skipped", len(blob) // 8, skipped)
        return blob
    finally:
        lib.seccomp_release(ctx)


def ensure_bpf(directory: Path) -> Path:
    """Return the cached BPF file for the default profile, compiling it if needed."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"default-{profile_hash()}.bpf"
    if not path.exists():
        blob = compile_default()
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    return path
