"""Layer unpacking: whiteouts, digests, and refusal of escaping members (root for mknod/xattr)."""

import gzip
import hashlib
import io
import os
import stat
import tarfile

import pytest

from node.images.errors import DigestMismatchError, ImageError, UnsupportedImageError
from node.images.unpack import unpack_layer

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts need mknod + trusted xattrs")


def make_tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for e in entries:
            name, kind = e[0], e[1]
            ti = tarfile.TarInfo(name)
            if kind == "file":
                data = e[2]
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e[2]
                t.addfile(ti)
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = e[2]
                t.addfile(ti)
    return buf.getvalue()


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def test_gzip_digests_and_content(tmp_path):
    raw = make_tar([("etc", "dir"), ("etc/version", "file", b"2\n"), ("bin/sh", "symlink", "/bin/busybox"),
                    ("etc/v2", "hardlink", "etc/version")])
    gz = gzip.compress(raw)
    d, diff, size = unpack_layer(io.BytesIO(gz), tmp_path / "l", digest=sha(gz), diff_id=sha(raw))
    assert (d, diff, size) == (sha(gz), sha(raw), len(raw))
    assert (tmp_path / "l/etc/version").read_bytes() == b"2\n"
    assert os.readlink(tmp_path / "l/bin/sh") == "/bin/busybox"
    assert os.stat(tmp_path / "l/etc/v2").st_ino == os.stat(tmp_path / "l/etc/version").st_ino


def test_uncompressed_diff_id_mismatch(tmp_path):
    raw = make_tar([("a", "file", b"x")])
    with pytest.raises(DigestMismatchError, match="diff_id"):
        unpack_layer(io.BytesIO(raw), tmp_path / "l", diff_id=sha(b"other"))


def test_blob_digest_mismatch(tmp_path):
    gz = gzip.compress(make_tar([("a", "file", b"x")]))
    with pytest.raises(DigestMismatchError):
        unpack_layer(io.BytesIO(gz), tmp_path / "l", digest=sha(gz + b"x"))


@needs_root
def test_whiteouts(tmp_path):
    raw = make_tar([("www", "dir"), ("www/.wh.index.html", "file", b""), ("opt/.wh..wh..opq", "file", b""),
                    ("opt/new", "file", b"n")])
    unpack_layer(io.BytesIO(raw), tmp_path / "l")
    st = os.lstat(tmp_path / "l/www/index.html")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(tmp_path / "l/opt", "trusted.overlay.opaque") == b"y"
    assert not (tmp_path / "l/opt/.wh..wh..opq").exists()


@pytest.mark.parametrize("entries", [
    [("../evil", "file", b"x")],
    [("a/../../evil", "file", b"x")],
    [("link", "symlink", "/tmp"), ("link/evil", "file", b"x")],
    [("h", "hardlink", "../../etc/passwd")],
])
def test_escapes_refused(tmp_path, entries):
    with pytest.raises(ImageError):
        unpack_layer(io.BytesIO(make_tar(entries)), tmp_path / "l")
    assert not (tmp_path / "evil").exists()


def test_symlink_replaced_not_followed(tmp_path):
    target = tmp_path / "outside"
    target.write_bytes(b"keep")
    raw = make_tar([("f", "symlink", str(target)), ("f", "file", b"new")])
    unpack_layer(io.BytesIO(raw), tmp_path / "l")
    assert target.read_bytes() == b"keep"
    assert (tmp_path / "l/f").read_bytes() == b"new"


def test_truncated_tar(tmp_path):
    raw = make_tar([("a", "file", b"x" * 5000)])[:1000]
    with pytest.raises(ImageError, match="not a valid tar"):
        unpack_layer(io.BytesIO(raw), tmp_path / "l")


def test_zstd_unsupported(tmp_path):
    with pytest.raises(UnsupportedImageError):
        unpack_layer(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 100), tmp_path / "l")
