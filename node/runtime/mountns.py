"""The user's mounts, made by the container's first process in its own mount namespace.

Called between the overlay mount and ``pivot_root`` (see :mod:`node.runtime.container`),
with the entries of :func:`node.runtime.mounts.runtime_entries` (parents first). For each:

1. the target is resolved inside the rootfs (:mod:`node.runtime.securejoin`), the mount
   point made where missing (a directory for a directory or tmpfs, an empty file for a file);
   a target that is itself a symlink leading out of the rootfs is refused ("resolves outside
   the container rootfs"), as the runtime always did -- a symlink *on the way* is followed
   inside the rootfs, as runc does;
2. the kernel mounts on ``/proc/self/fd/<fd>`` -- exactly what was resolved;
3. the target is resolved once more (now the new mount's root) and, for a bind, checked to be
   the source (same device and inode): then the propagation (``rprivate`` by default) and,
   read-only, ``MS_BIND|MS_REMOUNT|MS_RDONLY`` keeping the flags the source mount had
   (``nosuid``, ``nodev``, ``noexec``, atime: a bare remount would clear them), and for the
   mounts below a recursive bind ``mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY)`` where the
   kernel has it (>= 5.12; Docker 25's recursive read-only).

Tmpfs mounts are ``nosuid,nodev,noexec``. A volume entry (a bind with ``populate``) whose
directory is empty first gets a copy of what the image has at the target (files, links,
devices, owners, modes, times, hard links; Docker copies that and the directory's owner and
mode), unless the volume was mounted ``nocopy``.

Files (secrets, configs; their bytes came through the zygote, never from disk) are written
to a tmpfs mounted on ``stage`` (a directory of the container's own, visible only in its
mount namespace), each bound read-only at its target; the stage mount is then detached, so
only the file binds keep that tmpfs alive.

Stdlib only (+ :mod:`node.runtime.linux`): this runs in the container's first process.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from node.runtime import linux as L
from node.runtime import securejoin as sj

PROPAGATION = {"private": L.MS_PRIVATE, "rprivate": L.MS_PRIVATE | L.MS_REC,
               "shared": L.MS_SHARED, "rshared": L.MS_SHARED | L.MS_REC,
               "slave": L.MS_SLAVE, "rslave": L.MS_SLAVE | L.MS_REC}
#: statvfs f_flag bit -> the MS_ flag a bind remount must repeat to keep it
_KEEP = ((os.ST_NOSUID, L.MS_NOSUID), (os.ST_NODEV, L.MS_NODEV), (os.ST_NOEXEC, L.MS_NOEXEC),
         (os.ST_NOATIME, L.MS_NOATIME), (os.ST_NODIRATIME, L.MS_NODIRATIME),
         (os.ST_RELATIME, L.MS_RELATIME))
TMPFS_FLAGS = L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC
#: what may be mounted over inside /proc (runc's list: lxcfs-style replacements)
PROC_ALLOWED = ("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
                "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
                "/proc/sys/kernel/ns_last_pid")


class TargetRefused(OSError):
    """A mount target the runtime never mounts on (inside /proc)."""


def mount_point(root: int, target: str, kind: str) -> int:
    """The ``O_PATH`` fd of ``target``'s mount point, made if missing (``kind``: dir/file);
    refused when it resolves into ``/proc`` (runc's rule: masked and read-only paths there
    must stay so), but for ``PROC_ALLOWED``."""
    t = sj.walk(root, target, create=kind)   # symlinks followed inside the rootfs, as runc
    top = os.readlink(sj.procfd(root)).rstrip("/")
    rel = os.readlink(sj.procfd(t))[len(top):] or "/"
    if rel == "/":
        os.close(t)
        raise TargetRefused(errno.EPERM, f"{target!r} resolves to the container's root: cannot mount over it")
    if (rel == "/proc" or rel.startswith("/proc/")) and rel not in PROC_ALLOWED:
        os.close(t)
        raise TargetRefused(errno.EPERM, f"{target!r} cannot be mounted because it is inside /proc")
    return t


def mount_all(rootfs: str, mounts: list[dict[str, Any]], files: list[dict[str, Any]] | None = None,
              stage: str = "") -> None:
    root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in mounts:
            mount_one(root, m)
        if files:
            mount_files(root, files, stage)
    finally:
        os.close(root)


def mount_one(root: int, m: dict[str, Any]) -> None:
    try:
        _mount_one(root, m)
    except (sj.EscapeError, TargetRefused):
        raise
    except OSError as e:
        what = "tmpfs" if m["type"] == "tmpfs" else m["source"]
        raise OSError(e.errno, f"mounting {what} on {m['target']}: {e.strerror or e}") from None


def _mount_one(root: int, m: dict[str, Any]) -> None:
    target = m["target"]
    ro = L.MS_RDONLY if m.get("read_only") else 0
    if m["type"] == "tmpfs":
        t = mount_point(root, target, "dir")
        try:
            L.mount("tmpfs", sj.procfd(t), "tmpfs", TMPFS_FLAGS | ro, m.get("options") or "mode=1777")
        finally:
            os.close(t)
        return
    src = os.open(m["source"], os.O_PATH | os.O_CLOEXEC)
    try:
        st = os.fstat(src)
        is_dir = stat.S_ISDIR(st.st_mode)
        if m.get("populate") and is_dir:
            populate(root, target, m["source"])
        bind(root, target, src, is_dir, ro, m.get("propagation") or "rprivate", recursive=True)
    finally:
        os.close(src)


def bind(root: int, target: str, src: int, is_dir: bool, ro: int, propagation: str = "rprivate",
         recursive: bool = True, extra: int = 0) -> None:
    """Bind ``src`` (an fd) at ``target`` in ``root``: mount, re-resolve, check, then
    propagation and the read-only remount (``extra``: more flags for it, e.g. nosuid)."""
    st = os.fstat(src)
    t = mount_point(root, target, "dir" if is_dir else "file")
    try:
        L.mount(sj.procfd(src), sj.procfd(t), None, L.MS_BIND | (L.MS_REC if recursive else 0))
    finally:
        os.close(t)
    t = sj.open_in_root(root, target)          # the new mount's root now
    try:
        now = os.fstat(t)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise OSError(errno.EXDEV, f"mount target {target} changed while it was mounted")
        p = sj.procfd(t)
        if propagation:
            L.mount(None, p, None, PROPAGATION[propagation])
        if ro or extra:
            f = os.statvfs(p).f_flag
            keep = sum(ms for st_bit, ms in _KEEP if f & st_bit)
            L.mount(None, p, None, L.MS_BIND | L.MS_REMOUNT | ro | keep | extra)
        if ro and recursive:
            L.make_tree_read_only(t)         # the mounts below a read-only rbind too (Docker 25)
    finally:
        os.close(t)


# ---------------------------------------------------------------- files (secrets, configs)
def mount_files(root: int, files: list[dict[str, Any]], stage: str) -> None:
    """Each file's bytes onto a tmpfs at ``stage``, bound read-only at its target."""
    os.makedirs(stage, 0o700, exist_ok=True)
    size = sum(len(f["data"]) + 4096 for f in files) + 4096
    L.mount("tmpfs", stage, "tmpfs", TMPFS_FLAGS, f"mode=0700,size={-(-size // 4096) * 4}k")
    try:
        sfd = os.open(stage, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for i, f in enumerate(files):
                name = str(i)
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o600, dir_fd=sfd)
                try:
                    _write_all(fd, f["data"])
                    os.fchown(fd, int(f.get("uid", 0)), int(f.get("gid", 0)))
                    os.fchmod(fd, int(f.get("mode", 0o444)))     # after chown (it clears set-id bits)
                finally:
                    os.close(fd)
                src = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
                try:
                    bind(root, f["target"], src, False, L.MS_RDONLY, propagation="rprivate",
                         recursive=False, extra=TMPFS_FLAGS)
                except (sj.EscapeError, TargetRefused):
                    raise
                except OSError as e:
                    raise OSError(e.errno, f"mounting a file on {f['target']}: {e.strerror or e}") from None
                finally:
                    os.close(src)
        finally:
            os.close(sfd)
    finally:
        L.umount2(stage, L.MNT_DETACH)             # the binds keep the tmpfs alive


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---------------------------------------------------------------- volume copy-up
def populate(root: int, target: str, volume_dir: str) -> None:
    """Docker's copy of the image's content at ``target`` into an empty new volume."""
    if os.listdir(volume_dir):
        return
    try:
        t = sj.open_in_root(root, target)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        if not stat.S_ISDIR(os.fstat(t).st_mode):
            return
        src = os.open(sj.procfd(t), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(t)
    dst = os.open(volume_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    links: dict[tuple[int, int], tuple[int, str]] = {}
    try:
        copy_tree(src, dst, links)
        st = os.fstat(src)
        os.fchown(dst, st.st_uid, st.st_gid)
        os.fchmod(dst, stat.S_IMODE(st.st_mode))
    finally:
        os.close(src)
        os.close(dst)
        for fd, _ in links.values():
            os.close(fd)


def copy_tree(src: int, dst: int, links: dict[tuple[int, int], tuple[int, str]]) -> None:
    """Copy the directory ``src`` into ``dst`` (both fds); symlinks are copied, never followed.
    ``links`` maps (dev, ino) of files with several links to the first copy (hard links)."""
    for e in os.scandir(src):
        name = e.name
        st = e.stat(follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            s2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
            try:
                copy_tree(s2, d2, links)
            finally:
                os.close(s2)
                os.close(d2)
        elif stat.S_ISREG(mode) and st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
            first_dir, first = links[(st.st_dev, st.st_ino)]
            os.link(first, name, src_dir_fd=first_dir, dst_dir_fd=dst)
            continue
        elif stat.S_ISREG(mode):
            _copy_file(src, dst, name, st.st_size)
            if st.st_nlink > 1:
                links[(st.st_dev, st.st_ino)] = (os.dup(dst), name)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            os.mknod(name, mode, st.st_rdev, dir_fd=dst)
        else:
            continue                                # sockets: nothing to copy
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(mode):
            os.chmod(name, stat.S_IMODE(mode), dir_fd=dst)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)


def _copy_file(src_dir: int, dst_dir: int, name: str, size: int) -> None:
    i = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
    try:
        o = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                    dir_fd=dst_dir)
        try:
            while os.sendfile(o, i, None, 1 << 30):
                pass
        finally:
            os.close(o)
    finally:
        os.close(i)
