"""Resolve a path *inside* a container rootfs, never leaving it (runc's securejoin, crun's openat2).

Mounts are made before ``pivot_root``, while the host's root is still ``/``. An image is
untrusted input: with ``/data -> /etc`` in it, a mount at ``/data/conf`` must land on
``<rootfs>/etc/conf``, never on the host's ``/etc/conf``. The rule, as the kernel's
``RESOLVE_IN_ROOT``: every component is looked up under the rootfs, an absolute symlink
restarts at the rootfs, ``..`` stops at it, magic links (``/proc/self/...``) are not followed.

Two implementations of the one rule, both returning an ``O_PATH`` file descriptor (mount on
``/proc/self/fd/N`` so the kernel mounts on exactly what was resolved, no second lookup):

* :func:`openat2_in_root`: ``openat2(2)`` with ``RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS``
  (Linux >= 5.6), called through ctypes;
* :func:`walk`: one ``openat(O_PATH | O_NOFOLLOW)`` per component, symlinks read with
  ``readlinkat`` and spliced into the rest of the path; it can also *create* what is missing
  (directories on the way, a directory or an empty file at the end: mount points). Used for
  mount points, and for plain look-ups when the kernel has no ``openat2``.

Stdlib only: imported by the container's first process (through the zygote).
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections import deque

from node.runtime.linux import libc as _libc

O_PATH_FLAGS = os.O_PATH | os.O_CLOEXEC
MAXSYMLINKS = 40                 # the kernel's limit (ELOOP beyond it)
SYS_openat2 = 437                # x86_64 and aarch64
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10

_openat2_ok: bool | None = None  # None: not tried yet


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class EscapeError(OSError):
    """A mount target that is itself a symlink leading out of the rootfs."""


def procfd(fd: int) -> str:
    """The path through which the kernel reaches exactly the object behind ``fd``."""
    return f"/proc/self/fd/{fd}"


def have_openat2() -> bool:
    global _openat2_ok
    if _openat2_ok is None:
        try:
            os.close(openat2_in_root(os.open("/", O_PATH_FLAGS | os.O_DIRECTORY), ".", close_root=True))
            _openat2_ok = True
        except OSError as e:
            _openat2_ok = e.errno not in (errno.ENOSYS, errno.EPERM)   # EPERM: a seccomp filter
    return _openat2_ok


def openat2_in_root(root_fd: int, path: str, flags: int = O_PATH_FLAGS, close_root: bool = False) -> int:
    """``openat2(root_fd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``; raises OSError."""
    how = _OpenHow(flags=flags, mode=0, resolve=RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    try:
        fd = _libc.syscall(ctypes.c_long(SYS_openat2), ctypes.c_int(root_fd), path.encode(),
                           ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"openat2 {path} in root: {os.strerror(e)}")
        return int(fd)
    finally:
        if close_root:
            os.close(root_fd)


def open_in_root(root_fd: int, path: str) -> int:
    """An ``O_PATH`` fd for ``path`` resolved inside ``root_fd`` (final symlink followed)."""
    if have_openat2():
        return openat2_in_root(root_fd, path.lstrip("/") or ".")
    return walk(root_fd, path)


def walk(root_fd: int, path: str, create: str | None = None, mode: int = 0o755,
         refuse_escaping_leaf: bool = False) -> int:
    """Resolve ``path`` under ``root_fd`` one component at a time; return an ``O_PATH`` fd.

    ``create``: ``None`` (a missing component is ``FileNotFoundError``), ``"dir"`` or
    ``"file"``: create what is missing, directories on the way (``mode``) and the last
    component as a directory or an empty file (0644) -- including the target of a dangling
    symlink, inside the root, as runc's ``MkdirAllInRoot`` does.

    ``refuse_escaping_leaf``: raise :class:`EscapeError` when the *last* component is a
    symlink whose text leaves the rootfs as the host would read it (absolute, or climbing
    above the root with ``..``). The scoped resolution would keep it inside; the runtime
    refuses such a mount point instead (the rule it has always had, see mountns).
    """
    stack = [os.dup(root_fd)]
    parts = deque(path.split("/"))
    links = 0
    try:
        while parts:
            name = parts.popleft()
            if name in ("", "."):
                continue
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not any(p not in ("", ".") for p in parts)
            cur = stack[-1]
            try:
                fd = os.open(name, O_PATH_FLAGS | os.O_NOFOLLOW, dir_fd=cur)
            except FileNotFoundError:
                if create is None:
                    raise FileNotFoundError(errno.ENOENT, f"{path}: no such file or directory "
                                            "in the container rootfs") from None
                _make(cur, name, "dir" if not last else create, mode)
                parts.appendleft(name)
                continue
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink("", dir_fd=fd)
                os.close(fd)
                links += 1
                if links > MAXSYMLINKS:
                    raise OSError(errno.ELOOP, f"{path}: too many levels of symbolic links")
                if last and refuse_escaping_leaf and _leaves_root(len(stack) - 1, target):
                    raise EscapeError(errno.EPERM, f"mount target {path} resolves outside the container "
                                      f"rootfs (symlink to {target})")
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts.extendleft(reversed(target.split("/")))
                continue
            if not last and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise NotADirectoryError(errno.ENOTDIR, f"{path}: {name} is not a directory")
            stack.append(fd)
        return os.dup(stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def _make(dir_fd: int, name: str, kind: str, mode: int) -> None:
    try:
        if kind == "dir":
            os.mkdir(name, mode, dir_fd=dir_fd)
        else:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644, dir_fd=dir_fd))
    except FileExistsError:      # made meanwhile (or a symlink appeared): the loop looks again
        pass


def _leaves_root(depth: int, target: str) -> bool:
    """Whether a symlink ``depth`` levels below the root, read lexically, points above it."""
    if target.startswith("/"):
        return True
    for p in target.split("/"):
        if p == "..":
            depth -= 1
            if depth < 0:
                return True
        elif p not in ("", "."):
            depth += 1
    return False
