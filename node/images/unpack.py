"""Unpack one image layer into an overlayfs-ready directory, verifying its digests.

Design notes:
* **One pass.** The raw (usually gzip) stream is hashed as it is read (the blob digest) and
  the decompressed stream is hashed too (the ``diff_id`` the image config lists); the tar is
  read in streaming mode. Both digests are checked at the end; the caller unpacks into a
  temporary directory and renames it into place only when everything matched, so a failure
  leaves nothing half-written behind.
* **Whiteouts.** OCI/Docker whiteouts become overlayfs ones: ``.wh.NAME`` -> a 0/0 character
  device ``NAME``; ``.wh..wh..opq`` -> the ``trusted.overlay.opaque=y`` xattr on its dir.
* **Safety** (Python 3.11.2 here has no ``tarfile`` extraction filters): member names are
  normalized (leading ``/`` and ``./`` dropped); ``..`` components, parents that resolve
  outside the layer dir (through a symlink in the layer) and hard links pointing outside are
  refused. An existing entry is unlinked before a non-directory is written over it, so a
  symlink planted earlier in the same tar is never followed. Absolute symlinks are kept (they
  are resolved inside the container).
* Compression: gzip or none (detected by magic); zstd is reported as unsupported.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from pathlib import Path
from typing import IO

from node.images.errors import DigestMismatchError, ImageError, UnsupportedImageError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class _HashReader:
    """A read-only file wrapper that hashes everything read through it."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.h = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        self.size += len(data)
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


def _safe_name(name: str) -> str:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ImageError(f"layer member {name!r} escapes the layer directory")
    return "/".join(parts)


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def _prepare_target(root: str, rel: str) -> str:
    target = os.path.join(root, rel)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    if not _inside(root, parent):
        raise ImageError(f"layer member {rel!r} goes through a symlink out of the layer")
    return target


def unpack_layer(raw: IO[bytes], dest: Path, *, digest: str | None = None,
                 diff_id: str | None = None) -> tuple[str, str, int]:
    """Unpack the layer stream ``raw`` into the (new, empty) directory ``dest``.

    Return ``(blob digest, diff_id, uncompressed size)``. Raise :class:`DigestMismatchError`
    when ``digest``/``diff_id`` are given and do not match. ``dest`` is left as is on error:
    the caller owns (and removes) it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(dest)
    outer = _HashReader(raw)
    peek = _Peek(outer)
    if peek.head.startswith(b"\x1f\x8b"):
        inner_src: IO[bytes] = gzip.GzipFile(fileobj=peek, mode="rb")  # type: ignore[call-overload]
    elif peek.head.startswith(b"\x28\xb5\x2f\xfd"):
        raise UnsupportedImageError("zstd-compressed layers are not supported")
    else:
        inner_src = peek  # type: ignore[assignment]
    inner = _HashReader(inner_src)
    try:
        with tarfile.open(fileobj=inner, mode="r|") as tar:  # type: ignore[call-overload]
            for m in tar:
                _extract_member(tar, m, root)
        inner.drain()
        outer.drain()
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ImageError(f"layer {digest or ''} is not a valid tar stream: {e}") from e
    got_digest = "sha256:" + outer.h.hexdigest()
    got_diff = "sha256:" + inner.h.hexdigest()
    if digest and digest != got_digest:
        raise DigestMismatchError(f"layer blob {digest}: content hashes to {got_digest}")
    if diff_id and diff_id != got_diff:
        raise DigestMismatchError(f"layer diff_id {diff_id}: uncompressed content hashes to {got_diff}")
    return got_digest, got_diff, inner.size


def _extract_member(tar: tarfile.TarFile, m: tarfile.TarInfo, root: str) -> None:
    rel = _safe_name(m.name)
    if not rel:
        return
    base = os.path.basename(rel)
    if base == OPAQUE:
        d = _prepare_target(root, os.path.dirname(rel) + "/x")
        os.setxattr(os.path.dirname(d), "trusted.overlay.opaque", b"y")
        return
    if base.startswith(WHITEOUT):
        target = _prepare_target(root, os.path.join(os.path.dirname(rel), base[len(WHITEOUT):]))
        _remove(target)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return
    target = _prepare_target(root, rel)
    if m.islnk():
        link = _safe_name(m.linkname)
        src = os.path.join(root, link)
        if not _inside(root, os.path.dirname(src)) or not os.path.lexists(src):
            raise ImageError(f"hard link {rel!r} -> {m.linkname!r} points outside the layer")
        _remove(target)
        os.link(src, target, follow_symlinks=False)
        return
    if m.isdir():
        if os.path.lexists(target) and not os.path.isdir(target):
            _remove(target)
    else:
        _remove(target)
    m.name = rel
    tar.extract(m, root, set_attrs=True, numeric_owner=True)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
