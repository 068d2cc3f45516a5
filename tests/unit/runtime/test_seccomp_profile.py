"""Docker's default seccomp profile: condition evaluation, the compiled program, the cache.

The compiled program is checked by running it: a small classic-BPF interpreter (the subset
libseccomp and the -ENOSYS stub emit) evaluates it for a ``struct seccomp_data``, so no root
and no filter load are needed here (tests/integration/test_runtime_seccomp.py loads it).
"""

from __future__ import annotations

import errno
import json
import struct

import pytest

from node.runtime import seccomp
from node.runtime import seccomp_default as profile
from node.runtime.linux import CLONE_NEWNET, CLONE_NEWNS, DOCKER_DEFAULT_CAPS
from node.runtime.seccomp_gen import render
from node.runtime.seccomp_profile import Arg, Filter, Group, applies, evaluate

SYS_ADMIN = (*DOCKER_DEFAULT_CAPS, "SYS_ADMIN")
DEFAULT = frozenset(f"CAP_{c}" for c in DOCKER_DEFAULT_CAPS)
NEW = (6, 18)
X86_64, I386 = seccomp.AUDIT_ARCH_X86_64, seccomp.AUDIT_ARCH_I386
ALLOW, EPERM, ENOSYS = seccomp.SCMP_ACT_ALLOW, seccomp.scmp_act_errno(errno.EPERM), seccomp.scmp_act_errno(38)
NR = {"read": 0, "socket": 41, "clone": 56, "ptrace": 101, "personality": 135, "mount": 165, "umount2": 166,
      "setns": 308, "unshare": 272, "keyctl": 250, "add_key": 248, "request_key": 249, "clone3": 435,
      "fsopen": 430, "pivot_root": 155, "io_uring_setup": 425, "statmount": 457, "lsm_list_modules": 461,
      "getpid": 39}


def names(rules) -> set[str]:
    return {n for r in rules for n in r.names}


def rules_named(rules, name):
    return [r for r in rules if name in r.names]


# ---------------------------------------------------------------- condition evaluation
def test_sys_admin_group_only_with_sys_admin():
    default, admin = seccomp.rules_for(None), seccomp.rules_for(SYS_ADMIN)
    gated = {"mount", "umount2", "unshare", "setns", "fsopen", "fsmount", "fsconfig", "fspick", "move_mount",
             "open_tree", "mount_setattr", "bpf", "sethostname", "lsm_list_modules"}
    assert not gated & names(default)
    assert gated <= names(admin)
    assert [r.action for r in rules_named(admin, "mount")] == ["SCMP_ACT_ALLOW"]


def test_excludes_caps_clone_mask_and_clone3_enosys():
    default, admin = seccomp.rules_for(None), seccomp.rules_for(SYS_ADMIN)
    (clone,) = rules_named(default, "clone")                    # only the masked rule (not s390)
    assert clone.args == (Arg(0, 0x7E020000, "SCMP_CMP_MASKED_EQ"),)
    (clone3,) = rules_named(default, "clone3")
    assert (clone3.action, clone3.errno_ret) == ("SCMP_ACT_ERRNO", 38)
    # with SYS_ADMIN: the unconditional allow from the SYS_ADMIN group, no mask, no ENOSYS
    assert [(r.action, r.args) for r in rules_named(admin, "clone")] == [("SCMP_ACT_ALLOW", ())]
    assert [(r.action, r.errno_ret) for r in rules_named(admin, "clone3")] == [("SCMP_ACT_ALLOW", None)]


def test_min_kernel():
    old = evaluate(profile.GROUPS, DEFAULT, kernel=(4, 7))
    new = evaluate(profile.GROUPS, DEFAULT, kernel=(4, 8))
    assert "ptrace" not in names(old) and "process_vm_readv" not in names(old)
    assert "ptrace" in names(new) and "process_vm_writev" in names(new)
    assert "ptrace" in names(evaluate(profile.GROUPS, DEFAULT | {"CAP_SYS_PTRACE"}, kernel=(4, 7)))


def test_applies_semantics():
    g = Group(("x",), "SCMP_ACT_ALLOW", includes=Filter(caps=("CAP_A", "CAP_B")))
    assert applies(g, frozenset({"CAP_A", "CAP_B"}), NEW)
    assert not applies(g, frozenset({"CAP_A"}), NEW)                 # includes: all of them
    g = Group(("x",), "SCMP_ACT_ALLOW", excludes=Filter(caps=("CAP_A", "CAP_B")))
    assert not applies(g, frozenset({"CAP_B"}), NEW)                 # excludes: any of them
    assert applies(g, frozenset(), NEW)
    g = Group(("x",), "SCMP_ACT_ALLOW", excludes=Filter(min_kernel=(5, 10)))
    assert applies(g, frozenset(), (5, 9)) and not applies(g, frozenset(), (5, 10))
    g = Group(("x",), "SCMP_ACT_ALLOW", includes=Filter(arches=("s390x",)))
    assert not applies(g, frozenset(), NEW) and applies(g, frozenset(), NEW, arch="s390x")
    g = Group(("x",), "SCMP_ACT_ALLOW", excludes=Filter(arches=("amd64",)))
    assert not applies(g, frozenset(), NEW)


def test_arch_groups_for_x86_64_only():
    n = names(seccomp.rules_for(None))
    assert {"arch_prctl", "modify_ldt"} <= n
    assert not {"s390_runtime_instr", "riscv_flush_icache", "breakpoint", "cacheflush", "set_tls"} & n


def test_keyrings_never_allowed():
    every = frozenset(f"CAP_{c}" for c in seccomp.DOCKER_DEFAULT_CAPS) | {
        "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_SYS_BOOT", "CAP_BPF", "CAP_PERFMON"}
    for caps in (DEFAULT, every):
        assert not {"keyctl", "add_key", "request_key", "pivot_root", "io_uring_setup"} & names(
            evaluate(profile.GROUPS, caps, kernel=NEW))


def test_container_caps_normalised_like_the_container():
    default = seccomp.container_caps(None)
    assert default == seccomp.container_caps([]) == DEFAULT          # container.py: [] means default
    assert seccomp.container_caps(["sys_admin", "CAP_CHOWN"]) == {"CAP_SYS_ADMIN", "CAP_CHOWN"}


def test_oci_form():
    oci = seccomp.oci_seccomp(None)
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO" and oci["defaultErrnoRet"] == errno.EPERM
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    clone = [s for s in oci["syscalls"] if s["names"] == ["clone"]]
    assert clone == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]
    json.dumps(oci)


# ---------------------------------------------------------------- the compiled program
def run_bpf(prog: bytes, nr: int, args=(), arch: int = X86_64) -> int:
    """Classic BPF as the kernel runs a seccomp filter over ``struct seccomp_data``."""
    a6 = [*args, 0, 0, 0, 0, 0, 0][:6]
    data = struct.pack("<iIQ6Q", nr, arch, 0, *[x & (2**64 - 1) for x in a6])
    insns = [struct.unpack_from("<HBBI", prog, i) for i in range(0, len(prog), 8)]
    acc = x = pc = 0
    mem = [0] * 16
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:                                   # LD
            mode = code & 0xE0
            acc = struct.unpack_from("<I", data, k)[0] if mode == 0x20 else mem[k] if mode == 0x60 else k
        elif cls == 0x01:                                 # LDX
            x = mem[k] if code & 0xE0 == 0x60 else k
        elif cls == 0x02:
            mem[k] = acc
        elif cls == 0x03:
            mem[k] = x
        elif cls == 0x04:                                 # ALU (K or X operand)
            v = x if code & 0x08 else k
            op = code & 0xF0
            acc = {0x00: acc + v, 0x10: acc - v, 0x50: acc & v, 0x40: acc | v, 0xA0: acc ^ v,
                   0x60: acc << v, 0x70: acc >> v}[op] & 0xFFFFFFFF
        elif cls == 0x05:                                 # JMP
            op, v = code & 0xF0, (x if code & 0x08 else k)
            if op == 0x00:
                pc += k
                continue
            cond = {0x10: acc == v, 0x20: acc > v, 0x30: acc >= v, 0x40: bool(acc & v)}[op]
            pc += jt if cond else jf
        elif cls == 0x06:                                 # RET
            return acc if code & 0x18 == 0x10 else k
        elif cls == 0x07:
            if code == 0x07:
                x = acc
            else:
                acc = x


@pytest.fixture(scope="module")
def progs():
    return {"default": seccomp.compile_profile(None), "admin": seccomp.compile_profile(SYS_ADMIN)}


def test_program_default_caps(progs):
    p = progs["default"]
    for name in ("mount", "umount2", "setns", "unshare", "fsopen", "pivot_root", "keyctl", "add_key",
                 "request_key", "io_uring_setup", "lsm_list_modules"):
        assert run_bpf(p, NR[name]) == EPERM, name
    assert run_bpf(p, NR["read"]) == ALLOW
    assert run_bpf(p, NR["ptrace"]) == ALLOW                         # kernel >= 4.8, as Docker
    assert run_bpf(p, NR["clone"], [0x11]) == ALLOW                   # SIGCHLD... plain fork
    assert run_bpf(p, NR["clone"], [CLONE_NEWNET | 0x11]) == EPERM    # the namespace-flag mask
    assert run_bpf(p, NR["clone"], [CLONE_NEWNS | 0x11]) == EPERM
    assert run_bpf(p, NR["clone3"]) == ENOSYS
    assert run_bpf(p, NR["socket"], [2]) == ALLOW and run_bpf(p, NR["socket"], [39]) == ALLOW
    assert run_bpf(p, NR["socket"], [38]) == EPERM and run_bpf(p, NR["socket"], [40]) == EPERM   # ALG, VSOCK
    assert run_bpf(p, NR["personality"], [0xFFFFFFFF]) == ALLOW
    assert run_bpf(p, NR["personality"], [0x0040000]) == EPERM       # ADDR_NO_RANDOMIZE
    assert run_bpf(p, NR["statmount"]) == ALLOW                      # allowed by number (old libseccomp)
    assert run_bpf(p, 467) == ENOSYS and run_bpf(p, 1000) == ENOSYS  # beyond the profile
    assert run_bpf(p, 20, arch=I386) == ALLOW                        # i386 getpid
    assert run_bpf(p, 288, arch=I386) == EPERM                       # i386 keyctl
    assert run_bpf(p, NR["read"], arch=0xDEAD) == 0                  # unknown arch: KILL (libseccomp)


def test_program_with_sys_admin(progs):
    p = progs["admin"]
    for name in ("mount", "umount2", "setns", "unshare", "fsopen", "clone3", "lsm_list_modules"):
        assert run_bpf(p, NR[name]) == ALLOW, name
    assert run_bpf(p, NR["clone"], [CLONE_NEWNET | 0x11]) == ALLOW
    for name in ("keyctl", "add_key", "request_key", "pivot_root", "io_uring_setup"):
        assert run_bpf(p, NR[name]) == EPERM, name


def test_compile_default_is_default_caps(progs):
    assert seccomp.compile_default() == progs["default"]


# ---------------------------------------------------------------- cache
def test_cache_keys_differ_by_caps():
    k_default = seccomp.cache_key(seccomp.rules_for(None))
    assert seccomp.cache_key(seccomp.rules_for(SYS_ADMIN)) != k_default
    assert seccomp.cache_key(seccomp.rules_for((*DOCKER_DEFAULT_CAPS, "SYS_PTRACE"))) != k_default
    # a capability no condition mentions evaluates to the same rules: same program, same file
    assert seccomp.cache_key(seccomp.rules_for((*DOCKER_DEFAULT_CAPS, "NET_ADMIN"))) == k_default


def test_bpf_cache_compiles_once_per_set(tmp_path, monkeypatch):
    calls = []
    real = seccomp.compile_rules
    admin_prog = seccomp.compile_profile(SYS_ADMIN)
    monkeypatch.setattr(seccomp, "compile_rules", lambda rules: calls.append(rules) or real(rules))
    cache = seccomp.BpfCache(tmp_path)
    a = cache.path(None)
    assert cache.path(list(DOCKER_DEFAULT_CAPS)) == a and cache.path([]) == a
    b = cache.path(SYS_ADMIN)
    assert b != a and b.read_bytes() == admin_prog
    assert cache.path(SYS_ADMIN) == b and len(calls) == 2
    again = seccomp.BpfCache(tmp_path)                           # a restarted daemon: from disk
    assert again.path(SYS_ADMIN) == b and len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([a.name, b.name])


# ---------------------------------------------------------------- generator
def test_generator_round_trip():
    sample = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
              "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
              "syscalls": [
                  {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
                   "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390"]}},
                  {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                  {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "comment": "c"}]}
    ns: dict = {}
    exec(compile(render(sample, "test"), "gen", "exec"), ns)
    assert ns["SUBARCHES"] == ("SCMP_ARCH_X86",) and ns["DEFAULT_ERRNO_RET"] == 1
    assert ns["GROUPS"] == (
        Group(("read", "write"), "SCMP_ACT_ALLOW"),
        Group(("clone",), "SCMP_ACT_ALLOW", args=(Arg(0, 2114060288, "SCMP_CMP_MASKED_EQ"),),
              excludes=Filter(caps=("CAP_SYS_ADMIN",), arches=("s390",))),
        Group(("ptrace",), "SCMP_ACT_ALLOW", includes=Filter(min_kernel=(4, 8))),
        Group(("clone3",), "SCMP_ACT_ERRNO", errno_ret=38, comment="c"))


def test_data_is_dockers_default():
    assert profile.DEFAULT_ACTION == "SCMP_ACT_ERRNO" and profile.DEFAULT_ERRNO_RET == errno.EPERM
    assert profile.SOURCE.startswith("moby/profiles@")
    assert len(profile.GROUPS) == 33 and len(profile.GROUPS[0].names) == 361
