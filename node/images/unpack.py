"""Unpack one image layer into an overlayfs-ready directory, verifying its digests.

Design notes:
* **One pass.** The raw (usually gzip) stream is hashed as it is read (the blob digest) and
  the decompressed stream is hashed too (the ``diff_id`` the image config lists); the tar is
  read in streaming mode. Both digests are checked at the end; the caller unpacks into a
  temporary directory and renames it into place only when everything matched, so a failure
  leaves nothing half-written behind (``pull``/``archive`` remove their ``tmp/`` directory,
  this one included, whatever happened).
* **Whiteouts.** OCI/Docker whiteouts become overlayfs ones: ``.wh.NAME`` -> a 0/0 character
  device ``NAME``; ``.wh..wh..opq`` -> the ``trusted.overlay.opaque=y`` xattr on its dir.
* **Safety.** Python 3.11.2 here has no ``tarfile`` extraction filters, and ``tarfile.extract``
  follows symlinks, so members are written by this module, through directory file
  descriptors:

  - A member name is split on ``/``; empty and ``.`` components are dropped (so is a leading
    ``/`` or ``./``, as Docker does). A ``..`` component, a NUL byte, a name of more than
    :data:`MAX_DEPTH` components and a non-directory naming the layer root itself are refused.
  - Every parent is reached from the layer root one component at a time with
    ``openat(O_PATH|O_NOFOLLOW|O_DIRECTORY)``, and a missing one is created with ``mkdirat``
    in the parent already opened. A component that is a symlink (even one pointing inside the
    layer: tars of a file system never list a path through a symlink) or not a directory is
    refused *before* anything is created, so nothing is ever written, created, chmod'ed or
    deleted through a symlink, inside the layer or out of it. The last component is acted on
    with ``*at`` calls relative to that parent: an existing entry is unlinked (a directory
    removed, fd-relative) before a non-directory replaces it, files are created
    ``O_CREAT|O_EXCL|O_NOFOLLOW`` and their owner, mode and times set on the open file.
  - Symlink members are stored as they are (absolute targets too: they are resolved inside
    the container). Hard links must name a regular file already in the layer, reached the
    same way (no ``..``, no symlink on the way).
  - Whiteouts of ``""``, ``.`` or ``..`` (``.wh.``, ``.wh..``, ``.wh...``) are refused;
    every other whiteout is created in its (safely reached) directory only.
  - Limits per layer, against decompression bombs (each a keyword of :func:`unpack_layer`):
    :data:`MAX_BYTES` of uncompressed tar stream and of file data written (a sparse member
    could otherwise expand beyond its stored size), :data:`MAX_ENTRIES` members, and
    :data:`MAX_HEADER_BYTES` for one pax / GNU long-name header (Go's ``archive/tar`` limit;
    ``tarfile`` reads those into memory). Going over one raises :class:`ImageError` naming
    the layer and the limit, as soon as it is passed.

  Errors name the layer and the offending member; an ``OSError`` while writing becomes an
  :class:`ImageError` too (``temporary`` when the disk is full).
* Compression: gzip or none (detected by magic); zstd is reported as unsupported.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from node.images.errors import DigestMismatchError, ImageError, UnsupportedImageError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

MAX_BYTES = 32 << 30            # uncompressed tar bytes and file bytes written, per layer
MAX_ENTRIES = 1_000_000         # tar members per layer
MAX_HEADER_BYTES = 1 << 20      # one pax / GNU long name header
MAX_DEPTH = 512                 # components of one member name (keeps rmtree's recursion safe)

_CHUNK = 1 << 20
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_META_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
               tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class _HashReader:
    """A read-only file wrapper that hashes everything read through it, up to ``limit``."""

    def __init__(self, f: IO[bytes], limit: int | None = None, what: str = "") -> None:
        self.f = f
        self.h = hashlib.sha256()
        self.size = 0
        self.limit = limit
        self.what = what

    def read(self, n: int = -1) -> bytes:
        if self.limit is not None:
            room = self.limit - self.size
            if n < 0 or n > room:
                n = room + 1    # just enough to tell "over the limit" without reading it all
        data = self.f.read(n)
        self.h.update(data)
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            raise ImageError(f"{self.what}: uncompressed size exceeds the limit of "
                             f"{self.limit} bytes")
        return data

    def drain(self) -> None:
        while self.read(1 << 16):
            pass


class _Peek:
    """Lets us sniff the compression magic of a non-seekable stream."""

    def __init__(self, f: _HashReader) -> None:
        self.f = f
        self.head = f.read(4)

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                data, self.head = self.head + self.f.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            if len(data) < n:
                data += self.f.read(n - len(data))
            return data
        return self.f.read(n)


class _HeaderTooBig(ImageError):
    """Raised by :class:`_TarInfo` (which does not know the layer's name)."""


class _TarInfo(tarfile.TarInfo):
    """Refuses a pax / GNU long-name header too big to read into memory."""

    def _proc_member(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:  # noqa: F402
        if self.type in _META_TYPES and self.size > MAX_HEADER_BYTES:
            raise _HeaderTooBig(f"a tar header of {self.size} bytes (type {self.type!r}) exceeds "
                                f"the limit of {MAX_HEADER_BYTES} bytes")
        return super()._proc_member(tarfile)  # type: ignore[misc, no-any-return]


def unpack_layer(raw: IO[bytes], dest: Path, *, digest: str | None = None,
                 diff_id: str | None = None, max_bytes: int = MAX_BYTES,
                 max_entries: int = MAX_ENTRIES) -> tuple[str, str, int]:
    """Unpack the layer stream ``raw`` into the (new, empty) directory ``dest``.

    Return ``(blob digest, diff_id, uncompressed size)``. Raise :class:`DigestMismatchError`
    when ``digest``/``diff_id`` are given and do not match, :class:`ImageError` for a member
    that would leave ``dest`` (see the module notes) or a layer over ``max_bytes`` (of
    uncompressed tar, or of file data) or ``max_entries`` (members). ``dest`` is left as is
    on error: the caller owns (and removes) it.
    """
    label = f"layer {digest or diff_id or '(no digest)'}"
    dest.mkdir(parents=True, exist_ok=True)
    outer = _HashReader(raw)
    peek = _Peek(outer)
    if peek.head.startswith(b"\x1f\x8b"):
        inner_src: IO[bytes] = gzip.GzipFile(fileobj=peek, mode="rb")  # type: ignore[call-overload]
    elif peek.head.startswith(b"\x28\xb5\x2f\xfd"):
        raise UnsupportedImageError("zstd-compressed layers are not supported")
    else:
        inner_src = peek  # type: ignore[assignment]
    inner = _HashReader(inner_src, max_bytes, label)
    layer = _Layer(dest, label, max_bytes)
    try:
        with tarfile.open(fileobj=inner, mode="r|", tarinfo=_TarInfo) as tar:  # type: ignore[call-overload]
            entries = 0
            while (m := tar.next()) is not None:
                tar.members.clear()     # streaming: nothing looks back; keep memory flat
                entries += 1
                if entries > max_entries:
                    raise ImageError(f"{label}: more than the limit of {max_entries} entries "
                                     f"(at {m.name!r})")
                layer.member(tar, m)
        inner.drain()
        outer.drain()
    except _HeaderTooBig as e:
        raise ImageError(f"{label}: {e}") from None
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, RecursionError) as e:
        raise ImageError(f"{label} is not a valid tar stream: {e}") from e
    finally:
        layer.close()
    got_digest = "sha256:" + outer.h.hexdigest()
    got_diff = "sha256:" + inner.h.hexdigest()
    if digest and digest != got_digest:
        raise DigestMismatchError(f"layer blob {digest}: content hashes to {got_digest}")
    if diff_id and diff_id != got_diff:
        raise DigestMismatchError(f"layer diff_id {diff_id}: uncompressed content hashes to {got_diff}")
    return got_digest, got_diff, inner.size


class _Layer:
    """Writes members under one root, only through directory fds (see the module notes)."""

    def __init__(self, dest: Path, label: str, max_bytes: int) -> None:
        self.label = label
        self.max_bytes = max_bytes
        self.written = 0
        self.root_fd = os.open(dest, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.as_root = os.geteuid() == 0
        # The last parent directory opened (members come grouped by directory). Dropped
        # when it or a directory above it is removed, so it always is what its path names.
        self._key: tuple[str, ...] | None = None
        self._fd = -1

    def close(self) -> None:
        self._forget()
        os.close(self.root_fd)

    def _forget(self) -> None:
        if self._key is not None:
            os.close(self._fd)
            self._key, self._fd = None, -1

    def _refuse(self, name: str, why: str) -> ImageError:
        return ImageError(f"{self.label}: member {name!r} {why}")

    # ----------------------------------------------------------------- paths
    def _parts(self, name: str, member: str, what: str = "") -> tuple[str, ...]:
        if "\x00" in name:
            raise self._refuse(member, f"has a NUL byte in its {what or 'name'}")
        parts = tuple(p for p in name.split("/") if p and p != ".")
        if ".." in parts:
            raise self._refuse(member, f"has a '..' component{' in its ' + what if what else ''}"
                                       " (it would escape the layer directory)")
        if len(parts) > MAX_DEPTH:
            raise self._refuse(member[:200] + "...", f"is more than {MAX_DEPTH} directories deep")
        return parts

    def _walk(self, parts: tuple[str, ...], member: str, create: bool) -> int:
        """An O_PATH fd of directory ``parts`` under the root (the root fd itself for ``()``),
        reached without following any symlink; missing directories are created (0755) when
        ``create``. The caller closes it unless it is :attr:`root_fd`."""
        fd = self.root_fd
        try:
            for i, p in enumerate(parts):
                try:
                    nfd = os.open(p, _DIR, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise self._refuse(member, f"needs {'/'.join(parts[:i + 1])!r}, which is "
                                                   "not in the layer") from None
                    os.mkdir(p, 0o755, dir_fd=fd)
                    nfd = os.open(p, _DIR, dir_fd=fd)
                except OSError as e:
                    if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    at = "/".join(parts[:i + 1])
                    if stat.S_ISLNK(os.stat(p, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise self._refuse(member, f"goes through the symlink {at!r} "
                                                   "(nothing is written through a symlink)") from None
                    raise self._refuse(member, f"goes through {at!r}, which is not a "
                                               "directory") from None
                if fd != self.root_fd:
                    os.close(fd)
                fd = nfd
        except BaseException:
            if fd != self.root_fd:
                os.close(fd)
            raise
        return fd

    def _dir(self, parts: tuple[str, ...], member: str) -> int:
        """:meth:`_walk` (creating), cached: the fd is borrowed, not to be closed."""
        if not parts:
            return self.root_fd
        if parts == self._key:
            return self._fd
        fd = self._walk(parts, member, create=True)
        self._forget()
        self._key, self._fd = parts, fd
        return fd

    def _remove(self, pfd: int, parts: tuple[str, ...]) -> None:
        """Remove ``parts`` (its last component, in directory ``pfd``) if it exists; a
        directory with its contents."""
        name = parts[-1]
        try:
            os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        except (IsADirectoryError, PermissionError):
            if not stat.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                raise
            if self._key is not None and self._key[:len(parts)] == parts:
                self._forget()      # never pfd: that is parts[:-1]
            shutil.rmtree(name, dir_fd=pfd)     # fd-based: never follows a symlink

    # --------------------------------------------------------------- members
    def member(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        try:
            self._member(tar, m)
        except OSError as e:
            err = ImageError(f"{self.label}: cannot unpack member {m.name!r}: "
                             f"{e.strerror or e}")
            err.temporary = e.errno in (errno.ENOSPC, errno.EDQUOT)
            raise err from e

    def _member(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = self._parts(m.name, m.name)
        if not parts:
            if m.isdir():           # "./": the layer root itself, kept as it is
                return
            raise self._refuse(m.name, "names the layer directory itself")
        base = parts[-1]
        if base == OPAQUE:
            pfd = self._dir(parts[:-1], m.name)
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
            try:
                os.setxattr(fd, "trusted.overlay.opaque", b"y")
            finally:
                os.close(fd)
            return
        if base.startswith(WHITEOUT):
            gone = base[len(WHITEOUT):]
            if gone in ("", ".", ".."):
                raise self._refuse(m.name, f"is a whiteout of {gone!r}, which is not a name")
            pfd = self._dir(parts[:-1], m.name)
            self._remove(pfd, (*parts[:-1], gone))
            os.mknod(gone, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
            return
        if m.islnk():
            self._hardlink(m, parts)
            return
        pfd = self._dir(parts[:-1], m.name)
        if m.isdir():
            self._mkdir(pfd, parts, m)
        elif m.issym():
            if "\x00" in m.linkname:
                raise self._refuse(m.name, "has a NUL byte in its link target")
            self._create(pfd, parts, lambda: os.symlink(m.linkname, base, dir_fd=pfd))
            self._path_attrs(pfd, base, m, mode=False)
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            dev = os.makedev(m.devmajor, m.devminor) if kind != stat.S_IFIFO else 0
            self._create(pfd, parts, lambda: os.mknod(base, kind | 0o600, dev, dir_fd=pfd))
            self._path_attrs(pfd, base, m)
        else:                       # regular, contiguous, sparse, or unknown (as tarfile does)
            self._file(tar, pfd, parts, m)

    def _create(self, pfd: int, parts: tuple[str, ...], make: Callable[[], None]) -> None:
        try:
            make()
        except FileExistsError:
            self._remove(pfd, parts)
            make()

    def _mkdir(self, pfd: int, parts: tuple[str, ...], m: tarfile.TarInfo) -> None:
        name = parts[-1]
        try:
            os.mkdir(name, 0o700, dir_fd=pfd)
        except FileExistsError:
            if not stat.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                self._remove(pfd, parts)
                os.mkdir(name, 0o700, dir_fd=pfd)
        self._path_attrs(pfd, name, m)

    def _hardlink(self, m: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        target = self._parts(m.linkname, m.name, "link target")
        if not target:
            raise self._refuse(m.name, "is a hard link to the layer directory itself")
        sfd = self._walk(target[:-1], m.name, create=False)
        try:
            try:
                src = os.stat(target[-1], dir_fd=sfd, follow_symlinks=False)
            except FileNotFoundError:
                raise self._refuse(m.name, f"is a hard link to {m.linkname!r}, which is not in "
                                           "the layer") from None
            if not stat.S_ISREG(src.st_mode):
                raise self._refuse(m.name, f"is a hard link to {m.linkname!r}, which is not a "
                                           "regular file")
            pfd = self._dir(parts[:-1], m.name)
            try:
                os.link(target[-1], parts[-1], src_dir_fd=sfd, dst_dir_fd=pfd,
                        follow_symlinks=False)
            except FileExistsError:
                there = os.stat(parts[-1], dir_fd=pfd, follow_symlinks=False)
                if (there.st_dev, there.st_ino) == (src.st_dev, src.st_ino):
                    return          # a link to itself, or a repeat
                self._remove(pfd, parts)
                os.link(target[-1], parts[-1], src_dir_fd=sfd, dst_dir_fd=pfd,
                        follow_symlinks=False)
        finally:
            if sfd != self.root_fd:
                os.close(sfd)

    def _file(self, tar: tarfile.TarFile, pfd: int, parts: tuple[str, ...],
              m: tarfile.TarInfo) -> None:
        name = parts[-1]
        try:
            fd = os.open(name, _NEW_FILE, 0o600, dir_fd=pfd)
        except FileExistsError:
            self._remove(pfd, parts)
            fd = os.open(name, _NEW_FILE, 0o600, dir_fd=pfd)
        try:
            src = tar.extractfile(m)
            if src is not None:
                while chunk := src.read(_CHUNK):
                    self.written += len(chunk)
                    if self.written > self.max_bytes:
                        raise ImageError(f"{self.label}: file data exceeds the limit of "
                                         f"{self.max_bytes} bytes (at {m.name!r})")
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
            if self.as_root:
                try:
                    os.fchown(fd, m.uid, m.gid)
                except (OSError, OverflowError):
                    pass            # as tarfile: ownership is best effort
            os.fchmod(fd, m.mode & 0o7777)
            _utime(fd, m)
        finally:
            os.close(fd)

    def _path_attrs(self, pfd: int, name: str, m: tarfile.TarInfo, mode: bool = True) -> None:
        """Owner, mode, times of ``name`` in ``pfd``: never through a symlink (``name`` was
        just made by us, or checked to be a directory; only symlinks skip the mode)."""
        if self.as_root:
            try:
                os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            except (OSError, OverflowError):
                pass                # as tarfile: ownership is best effort
        if mode:
            os.chmod(name, m.mode & 0o7777, dir_fd=pfd)
        _utime(name, m, pfd)


def _utime(target: int | str, m: tarfile.TarInfo, pfd: int | None = None) -> None:
    try:
        if pfd is None:
            os.utime(target, (m.mtime, m.mtime))
        else:
            os.utime(target, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)
    except (OSError, OverflowError, ValueError):
        pass                        # as tarfile: times are best effort
