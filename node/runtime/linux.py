"""Thin ctypes wrappers for the Linux calls Python 3.11 lacks (x86_64 numbers).

``mount``/``umount2``/``pivot_root``/``unshare``/``setns``/``prctl``/``capset`` and the raw
seccomp filter load. Every wrapper raises ``OSError`` with errno and what failed. This module
imports only stdlib and is safe to use in the forked, single-threaded shim and container
processes (it is imported by the zygote before any fork, so children pay nothing).
"""

from __future__ import annotations

import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

SYS_pivot_root = 155
SYS_capset = 126
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2

CAPS = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
    "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
    "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
    "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}
#: Docker's default capability set (14 capabilities; CapEff 0x00000000a80425fb)
DOCKER_DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
                       "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
                       "AUDIT_WRITE")


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _b(s: str | None) -> bytes | None:
    return s.encode() if s is not None else None


def mount(src: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(libc.mount(_b(src), _b(target), _b(fstype), flags, _b(data)), f"mount {fstype or src} on {target}")


def umount2(target: str, flags: int = 0) -> None:
    _check(libc.umount2(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(libc.syscall(SYS_pivot_root, _b(new_root), _b(put_old)), "pivot_root")


def unshare(flags: int) -> None:
    _check(libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(libc.setns(fd, nstype), "setns")


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> None:
    _check(libc.prctl(option, a2, a3, a4, a5), f"prctl({option})")


def cap_last() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def caps_mask(names: tuple[str, ...] | list[str]) -> int:
    mask = 0
    for n in names:
        key = n.upper().removeprefix("CAP_")
        if key not in CAPS:
            raise ValueError(f"unknown capability {n!r}")
        mask |= 1 << CAPS[key]
    return mask


def drop_bounding(keep_mask: int) -> None:
    for c in range(cap_last() + 1):
        if not keep_mask & (1 << c):
            prctl(PR_CAPBSET_DROP, c)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)          # _LINUX_CAPABILITY_VERSION_3, self
    lo, hi = 0xFFFFFFFF, 32
    data = (ctypes.c_uint32 * 6)(effective & lo, permitted & lo, inheritable & lo,
                                 effective >> hi, permitted >> hi, inheritable >> hi)
    _check(libc.syscall(SYS_capset, hdr, data), "capset")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp_bpf(blob: bytes) -> None:
    """Install a pre-compiled classic-BPF seccomp program (needs no_new_privs first)."""
    buf = ctypes.create_string_buffer(blob, len(blob))
    prog = _SockFprog(len(blob) // 8, ctypes.addressof(buf))
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "seccomp")


# clone3(2): fork straight into a cgroup2 directory (CLONE_INTO_CGROUP, Linux >= 5.7)
SYS_clone3 = 435
CLONE_INTO_CGROUP = 0x200000000
_pylibc = ctypes.PyDLL(None, use_errno=True)     # PyDLL: the GIL stays held, as in os.fork()


class _CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls",
        "set_tid", "set_tid_size", "cgroup")]


def fork_into_cgroup(cgroup_fd: int) -> int:
    """``fork()`` whose child starts life in the cgroup2 directory ``cgroup_fd``.

    Unlike writing a pid to ``cgroup.procs`` this never takes the global
    ``cgroup_threadgroup_rwsem`` for writing, so it never waits for an RCU grace period
    (5-9 ms on this host after a quiet spell). Returns 0 in the child, the pid in the parent;
    raises ``OSError`` (e.g. ``ENOSYS`` before 5.7) when the kernel cannot do it, in which case
    no child exists. Only for single-threaded callers: the child skips the interpreter's
    after-fork hooks, which matter only when other threads existed (the shim has none).
    """
    args = _CloneArgs(flags=CLONE_INTO_CGROUP, exit_signal=17, cgroup=cgroup_fd)   # SIGCHLD
    pid = _pylibc.syscall(ctypes.c_long(SYS_clone3), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"clone3(CLONE_INTO_CGROUP): {os.strerror(e)}")
    return int(pid)


# mount_setattr(2) (Linux >= 5.12): attributes of a whole mount tree at once
SYS_mount_setattr = 442
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def make_tree_read_only(fd: int) -> bool:
    """Make the mount at ``fd`` and every mount below it read-only (``mount_setattr`` with
    ``AT_RECURSIVE``). False when the kernel lacks the call (the caller's plain remount then
    covers the top mount only, as Docker before 25)."""
    attr = _MountAttr(attr_set=MOUNT_ATTR_RDONLY)
    ret = libc.syscall(ctypes.c_long(SYS_mount_setattr), ctypes.c_int(fd), b"",
                       ctypes.c_uint(AT_EMPTY_PATH | AT_RECURSIVE), ctypes.byref(attr),
                       ctypes.c_size_t(ctypes.sizeof(attr)))
    if ret != 0:
        e = ctypes.get_errno()
        if e in (errno.ENOSYS, errno.EPERM):
            return False
        raise OSError(e, f"mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY): {os.strerror(e)}")
    return True
