"""Docker's default seccomp profile for a container's capabilities, compiled to classic BPF.

:mod:`node.runtime.seccomp_default` is moby's ``default.json`` as data; moby's conditions
(``includes``/``excludes``: caps, minKernel, arches; see :mod:`node.runtime.seccomp_profile`)
are evaluated for the container's *bounding set* and the running kernel, so
``--cap-add SYS_ADMIN`` opens exactly what Docker opens (mount, unshare, setns, clone
without the namespace-flag mask, clone3, ...). The result is what dockerd hands runc, and it
is compiled the way runc compiles it:

* libseccomp (through ctypes: it is on every host that has runc/crun) with the profile's
  architectures: x86_64 plus its sub-arches x86 and x32, so 32-bit code is filtered by the
  same names instead of being killed; names libseccomp does not know are skipped, rules with
  the default action are skipped, two comparisons of one argument become separate rules;
  the binary-tree optimisation (runc uses it beyond 32 rules);
* runc's ``-ENOSYS`` stub in front of the program: a syscall numbered above the last one the
  profile names (per arch) fails with ENOSYS instead of the default EPERM, so libc falls back
  from syscalls newer than the profile instead of failing;
* one addition: names in the profile that this host's libseccomp is too old to know (it
  cannot emit them) are allowed by their x86_64 number in that stub when their rule is a
  plain allow (Docker with a current libseccomp allows them; runc on such a host returns
  ENOSYS or EPERM for them).

Compiling costs ~25 ms, so :class:`BpfCache` does it once per distinct rule set and keeps
the program under the runtime root (``seccomp/default-<sha>.bpf``, the hash covers the rules
after evaluation, the libseccomp version and this compiler's format); a container start only
reads those bytes and calls ``prctl(PR_SET_SECCOMP)``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import logging
import os
import struct
import tempfile
import threading
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from node.runtime import seccomp_default as profile
from node.runtime.errors import RuntimeSetupError
from node.runtime.linux import DOCKER_DEFAULT_CAPS
from node.runtime.seccomp_profile import Arg, Rule, cap_name, evaluate

log = logging.getLogger(__name__)

FORMAT = 2                       # bump when the compiled program changes for the same rules
SCMP_ACT_ALLOW = 0x7FFF0000
_NR_SCMP_ERROR = -1              # libseccomp: unknown name (other negatives are pseudo-numbers)
_SCMP_FLTATR_CTL_OPTIMIZE = 8
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
X32_SYSCALL_BIT = 0x40000000
#: x86_64 numbers of syscalls in Docker's profile that libseccomp 2.5.4 (Debian 12) cannot name
X86_64_NUMBERS = {"uretprobe": 335, "statmount": 457, "listmount": 458, "lsm_get_self_attr": 459,
                  "lsm_set_self_attr": 460, "lsm_list_modules": 461, "mseal": 462, "setxattrat": 463,
                  "getxattrat": 464, "listxattrat": 465, "removexattrat": 466}


def scmp_act_errno(e: int) -> int:
    return 0x00050000 | (e & 0xFFFF)


def _action(action: str, errno_ret: int | None) -> int:
    if action == "SCMP_ACT_ALLOW":
        return SCMP_ACT_ALLOW
    if action == "SCMP_ACT_ERRNO":
        return scmp_act_errno(errno.EPERM if errno_ret is None else errno_ret)
    raise RuntimeSetupError(f"seccomp action {action} not supported")


DEFAULT_ACT = _action(profile.DEFAULT_ACTION, profile.DEFAULT_ERRNO_RET)
ARCHES = (profile.ARCH, *profile.SUBARCHES)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


@cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as e:
        raise RuntimeSetupError(f"libseccomp not found ({e}); install libseccomp2") from e
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
    return lib


def _arch_token(arch: str) -> int:
    """``SCMP_ARCH_X86_64`` -> libseccomp's token for ``x86_64``."""
    tok = int(_lib().seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode()))
    if not tok:
        raise RuntimeSetupError(f"libseccomp does not know architecture {arch}")
    return tok


def libseccomp_version() -> str:
    return ".".join(str(v) for v in _lib().seccomp_version().contents)


def container_caps(caps: Iterable[str] | None) -> frozenset[str]:
    """The bounding set a container gets (``CAP_*`` names): as the container process applies
    it, no list or an empty one means Docker's default 14."""
    names = list(caps or ()) or list(DOCKER_DEFAULT_CAPS)
    return frozenset(cap_name(c) for c in names)


def rules_for(caps: Iterable[str] | None) -> tuple[Rule, ...]:
    """Docker's default profile evaluated for a container with ``caps`` on this kernel."""
    return evaluate(profile.GROUPS, container_caps(caps))


def oci_seccomp(caps: Iterable[str] | None) -> dict[str, Any]:
    """The same rules as runtime-spec ``linux.seccomp`` (what dockerd hands runc)."""
    def arg(a: Arg) -> dict[str, Any]:
        return {"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}

    return {"defaultAction": profile.DEFAULT_ACTION, "defaultErrnoRet": profile.DEFAULT_ERRNO_RET,
            "architectures": list(ARCHES),
            "syscalls": [{"names": list(r.names), "action": r.action,
                          **({"errnoRet": r.errno_ret} if r.errno_ret is not None else {}),
                          **({"args": [arg(a) for a in r.args]} if r.args else {})}
                         for r in rules_for(caps)]}


def _arg_sets(args: Sequence[Arg]) -> list[tuple[Arg, ...]]:
    """runc's matchCall: all comparisons in one rule (AND), unless one argument is compared
    more than once -- then each comparison is a rule of its own."""
    idx = [a.index for a in args]
    if len(set(idx)) == len(idx):
        return [tuple(args)]
    return [(a,) for a in args]


def _compile_libseccomp(rules: Sequence[Rule]) -> tuple[bytes, list[str]]:
    """The libseccomp program for ``rules`` and the allowed names it could not resolve."""
    lib = _lib()
    ctx = lib.seccomp_init(DEFAULT_ACT)
    if not ctx:
        raise RuntimeSetupError("seccomp_init failed")
    unknown: list[str] = []
    try:
        for arch in profile.SUBARCHES:
            rc = lib.seccomp_arch_add(ctx, _arch_token(arch))
            if rc < 0 and rc != -errno.EEXIST:
                raise RuntimeSetupError(f"seccomp_arch_add {arch}: {os.strerror(-rc)}")
        if sum(len(r.names) for r in rules) > 32:
            lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_OPTIMIZE, 2)     # binary tree, as runc
        for rule in rules:
            act = _action(rule.action, rule.errno_ret)
            if act == DEFAULT_ACT:
                continue
            for args in _arg_sets(rule.args):
                arr = (_ArgCmp * max(1, len(args)))(
                    *[_ArgCmp(a.index, _OPS[a.op], a.value, a.value_two) for a in args])
                for name in rule.names:
                    nr = lib.seccomp_syscall_resolve_name(name.encode())
                    if nr == _NR_SCMP_ERROR:
                        if act == SCMP_ACT_ALLOW and not args:
                            unknown.append(name)
                        continue
                    rc = lib.seccomp_rule_add_array(ctx, act, nr, len(args), arr)
                    if rc < 0 and rc != -errno.EEXIST:
                        raise RuntimeSetupError(f"seccomp rule {name}: {os.strerror(-rc)}")
        with tempfile.TemporaryFile() as f:
            rc = lib.seccomp_export_bpf(ctx, f.fileno())
            if rc < 0:
                raise RuntimeSetupError(f"seccomp_export_bpf: {os.strerror(-rc)}")
            f.seek(0)
            return f.read(), unknown
    finally:
        lib.seccomp_release(ctx)


def _last_syscall(rules: Sequence[Rule], arch: str, extra: Iterable[int] = ()) -> int:
    """The highest number (on ``arch``) of any name in ``rules`` (runc's findLastSyscalls)."""
    lib, tok = _lib(), _arch_token(arch)
    nrs = [lib.seccomp_syscall_resolve_name_arch(tok, n.encode()) for r in rules for n in r.names]
    return max([n for n in nrs if n >= 0] + list(extra) + [0])


# classic BPF opcodes and struct seccomp_data offsets
_LD_W_ABS, _JEQ, _JGT, _JSET, _RET = 0x20, 0x15, 0x25, 0x45, 0x06
_OFF_NR, _OFF_ARCH = 0, 4


def _stub(max64: int, maxx32: int, max86: int, allow64: Sequence[int]) -> bytes:
    """runc's -ENOSYS stub (x86_64 / x32 / i386), plus plain allows by number on x86_64.

    Jumps are forward only; every branch ends in ENOSYS, ALLOW or the libseccomp program,
    which follows the stub directly (its own first instruction loads the arch again)."""
    # (code, jt label, jf label, k); labels: "next", a section name or "filter"
    prog: list[tuple[str, tuple[int, str, str, int]]] = [
        ("", (_LD_W_ABS, "next", "next", _OFF_ARCH)),
        ("", (_JEQ, "x64", "next", AUDIT_ARCH_X86_64)),
        ("", (_JEQ, "i386", "filter", AUDIT_ARCH_I386)),
        ("x64", (_LD_W_ABS, "next", "next", _OFF_NR)),
        ("", (_JSET, "x32", "next", X32_SYSCALL_BIT)),
        *[("", (_JEQ, "allow", "next", n)) for n in allow64],
        ("", (_JGT, "enosys", "filter", max64)),
        ("x32", (_JGT, "enosys", "filter", maxx32)),
        ("i386", (_LD_W_ABS, "next", "next", _OFF_NR)),
        ("", (_JGT, "enosys", "filter", max86)),
        ("enosys", (_RET, "next", "next", scmp_act_errno(errno.ENOSYS))),
        ("allow", (_RET, "next", "next", SCMP_ACT_ALLOW)),
    ]
    where = {label: i for i, (label, _) in enumerate(prog) if label}
    where["filter"] = len(prog)
    out = bytearray()
    for i, (_, (code, jt, jf, k)) in enumerate(prog):
        t, f = (0 if lb == "next" else where[lb] - i - 1 for lb in (jt, jf))
        out += struct.pack("<HBBI", code, t, f, k)
    return bytes(out)


def compile_rules(rules: Sequence[Rule]) -> bytes:
    """The complete BPF program (stub + libseccomp's) for already evaluated ``rules``."""
    blob, unknown = _compile_libseccomp(rules)
    if DEFAULT_ACT in (scmp_act_errno(errno.ENOSYS), SCMP_ACT_ALLOW):
        return blob                                          # runc adds no stub then either
    allow64 = sorted({X86_64_NUMBERS[n] for n in unknown if n in X86_64_NUMBERS})
    max64 = _last_syscall(rules, "SCMP_ARCH_X86_64", allow64)
    stub = _stub(max64, _last_syscall(rules, "SCMP_ARCH_X32"), _last_syscall(rules, "SCMP_ARCH_X86"), allow64)
    prog = stub + blob
    if len(prog) // 8 > 4096:
        raise RuntimeSetupError(f"seccomp program too long ({len(prog) // 8} instructions)")
    log.debug("seccomp profile compiled: %d insns (stub %d), allowed by number: %s", len(prog) // 8,
              len(stub) // 8, allow64)
    return prog


def compile_profile(caps: Iterable[str] | None) -> bytes:
    """Docker's default profile for a container with bounding set ``caps`` (``None``: Docker's
    default 14), as BPF program bytes."""
    return compile_rules(rules_for(caps))


def compile_default() -> bytes:
    """The program for Docker's default capabilities."""
    return compile_profile(None)


def cache_key(rules: Sequence[Rule]) -> str:
    material = (FORMAT, libseccomp_version(), profile.DEFAULT_ACTION, profile.DEFAULT_ERRNO_RET, ARCHES,
                tuple(rules))
    return hashlib.sha256(repr(material).encode()).hexdigest()[:16]


def ensure_bpf(directory: Path, caps: Iterable[str] | None = None) -> Path:
    """The cached BPF file for a container with ``caps``, compiled first if it is missing."""
    rules = rules_for(caps)
    path = Path(directory) / f"default-{cache_key(rules)}.bpf"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = compile_rules(rules)
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    return path


class BpfCache:
    """The BPF file for each capability set seen, under ``directory``: a set is evaluated,
    hashed and (if no file has that hash yet) compiled once; later containers with the same
    set get the path from memory. Thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._paths: dict[frozenset[str], Path] = {}
        self._lock = threading.Lock()

    def path(self, caps: Iterable[str] | None) -> Path:
        key = container_caps(caps)
        p = self._paths.get(key)
        if p is None or not p.exists():
            with self._lock:
                p = self._paths[key] = ensure_bpf(self.directory, key)
        return p
