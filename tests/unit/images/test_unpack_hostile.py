"""Hostile layers: nothing outside the layer's directory is created, changed or removed.

Every test builds its tar here, unpacks it into ``<tmp>/pulls/layer`` next to a sentinel tree
(``<tmp>/outside``, a sibling pull ``<tmp>/pulls/other``), and compares a listing of
everything but the layer directory before and after. Run as root (CI does) the whiteouts
are real character devices; otherwise they fail with an ImageError, which the properties
allow.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.images import ImageStore
from node.images.errors import ImageError
from node.images.unpack import MAX_HEADER_BYTES, unpack_layer

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts need mknod")


# ------------------------------------------------------------------ helpers
def make_tar(entries) -> bytes:
    """``(name, kind[, arg])``: file (bytes), dir, symlink / hardlink (target), raw (a TarInfo)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            name, kind = e[0], e[1]
            if kind == "raw":
                ti, data = e[2]
                t.addfile(ti, io.BytesIO(data) if data else None)
                continue
            ti = tarfile.TarInfo(name)
            ti.mode = 0o644
            if kind == "file":
                data = e[2] if len(e) > 2 else b"x"
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
                continue
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, e[2] if len(e) > 2 else 0o755
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e[2]
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e[2]
            else:
                raise AssertionError(kind)
            t.addfile(ti)
    return buf.getvalue()


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def sandbox(base: Path) -> Path:
    """The sentinel tree around the (empty) layer dir ``base/pulls/layer``, returned."""
    (base / "outside/sub").mkdir(parents=True)
    (base / "outside/file").write_bytes(b"keep")
    (base / "outside/sub/file").write_bytes(b"keep2")
    os.symlink("file", base / "outside/lnk")
    (base / "pulls/other").mkdir(parents=True)
    (base / "pulls/other/in-progress").write_bytes(b"another pull")
    (base / "pulls/layer").mkdir()
    return base / "pulls/layer"


def listing(base: Path, layer: Path) -> dict[str, tuple]:
    """Everything under ``base`` except ``layer``: type, mode, owner, size, times, content."""
    out: dict[str, tuple] = {}
    st0 = os.lstat(base)
    out["."] = (st0.st_mode, st0.st_uid, st0.st_gid)
    for dp, dns, fns in os.walk(base):
        if Path(dp) == layer.parent and layer.name in dns:
            dns.remove(layer.name)
        for n in dns + fns:
            p = os.path.join(dp, n)
            s = os.lstat(p)
            ent: tuple = (s.st_mode, s.st_uid, s.st_gid, s.st_nlink, s.st_mtime_ns)
            if stat.S_ISLNK(s.st_mode):
                ent += (os.readlink(p),)
            elif stat.S_ISREG(s.st_mode):
                ent += (Path(p).read_bytes(),)
            out[os.path.relpath(p, base)] = ent
    return out


def unpack_hostile(tmp_path: Path, entries, match: str, **kw) -> ImageError:
    """Unpack ``entries``: assert an ImageError matching ``match`` naming the layer, and that
    nothing outside the layer dir changed."""
    layer = sandbox(tmp_path)
    before = listing(tmp_path, layer)
    raw = make_tar(entries)
    with pytest.raises(ImageError, match=match) as ei:
        unpack_layer(io.BytesIO(raw), layer, digest=sha(raw), **kw)
    assert sha(raw) in str(ei.value)
    assert listing(tmp_path, layer) == before
    assert layer.is_dir() and not layer.is_symlink()
    return ei.value


OUT = "{tmp}/outside"           # replaced by the absolute sentinel path


def _abs(tmp_path: Path, entries):
    return [tuple(x.replace("{tmp}", str(tmp_path)) if isinstance(x, str) else x for x in e)
            for e in entries]


# ------------------------------------------------- writing through a symlink
# a link to the host's "/" only with the member that the old code refused before writing: the
# others would, on a regression, write into the host's / itself
@pytest.mark.parametrize(("target", "member"), [
    *[(t, m) for t in [OUT, OUT + "/sub", "../../outside", "../../x", "../other"]
      for m in ["evil/a/b/f", "evil/f", "evil/sub/new"]],
    ("/", "evil/f"),
])
def test_symlink_then_write_through(tmp_path, target, member):
    entries = _abs(tmp_path, [("evil", "symlink", target), (member, "file", b"pwned")])
    unpack_hostile(tmp_path, entries, r"'evil/.*' goes through the symlink 'evil'")


@pytest.mark.parametrize("kind", ["dir", "symlink", "hardlink"])
def test_other_member_types_through_symlink(tmp_path, kind):
    arg = {"dir": 0o777, "symlink": "/etc/passwd", "hardlink": "f"}[kind]
    entries = _abs(tmp_path, [("f", "file"), ("evil", "symlink", OUT), ("evil/new/m", kind, arg)])
    unpack_hostile(tmp_path, entries, "goes through the symlink 'evil'")


def test_symlink_inside_layer_is_not_followed_either(tmp_path):
    """Tars of a file system never list a path through a symlink: refused even when it
    would stay inside."""
    entries = [("real", "dir"), ("alias", "symlink", "real"), ("alias/f", "file")]
    unpack_hostile(tmp_path, entries, "goes through the symlink 'alias'")


def test_dir_replaced_by_symlink_then_written_under(tmp_path):
    entries = _abs(tmp_path, [("d", "dir"), ("d/f", "file"), ("d", "symlink", OUT),
                              ("d/x/y", "file", b"pwned")])
    unpack_hostile(tmp_path, entries, "'d/x/y' goes through the symlink 'd'")


def test_dir_member_over_symlink_does_not_chmod_target(tmp_path):
    """A directory entry over a symlink replaces the symlink: its target is not chmod'ed
    (or chown'ed, or given the entry's times)."""
    layer = sandbox(tmp_path)
    before = listing(tmp_path, layer)
    raw = make_tar(_abs(tmp_path, [("d", "symlink", OUT), ("d", "dir", 0o777)]))
    unpack_layer(io.BytesIO(raw), layer)
    assert listing(tmp_path, layer) == before
    st_ = os.lstat(layer / "d")
    assert stat.S_ISDIR(st_.st_mode) and stat.S_IMODE(st_.st_mode) == 0o777


def test_replaced_directory_is_written_fresh(tmp_path):
    """A directory replaced (by a file, then a directory again) is the one written into
    afterwards, not the removed one an open descriptor might still point at."""
    layer = sandbox(tmp_path)
    raw = make_tar([("d/e/f", "file"), ("d", "file", b"now a file"), ("d", "dir"), ("d/e/g", "file"),
                    ("x/y", "file"), ("x", "symlink", "d"), ("x", "dir"), ("x/z", "file")])
    unpack_layer(io.BytesIO(raw), layer)
    assert sorted(os.listdir(layer / "d")) == ["e"] and os.listdir(layer / "d/e") == ["g"]
    assert os.listdir(layer / "x") == ["z"] and not (layer / "x").is_symlink()


# ------------------------------------------------------------------ hard links
@pytest.mark.parametrize("entries, match", [
    ([("d", "symlink", OUT), ("h", "hardlink", "d/file")], "'h' goes through the symlink 'd'"),
    ([("d", "symlink", "../../outside"), ("h", "hardlink", "d/sub/file")],
     "'h' goes through the symlink 'd'"),
    ([("s", "symlink", OUT + "/file"), ("h", "hardlink", "s")], "'s', which is not a regular file"),
    ([("sub", "dir"), ("h", "hardlink", "sub")], "'sub', which is not a regular file"),
    ([("h", "hardlink", "../../outside/file")], "'h' has a '..' component in its link target"),
    ([("h", "hardlink", "missing")], "'missing', which is not in the layer"),
    ([("h", "hardlink", "nodir/missing")], "needs 'nodir', which is not in the layer"),
    ([("h", "hardlink", "/")], "hard link to the layer directory itself"),
])
def test_hardlinks_refused(tmp_path, entries, match):
    unpack_hostile(tmp_path, _abs(tmp_path, entries), match)


def test_hardlink_with_absolute_name_stays_inside(tmp_path):
    layer = sandbox(tmp_path)
    raw = make_tar([("f", "file", b"data"), ("/g", "hardlink", "/f"), ("g", "hardlink", "f")])
    unpack_layer(io.BytesIO(raw), layer)
    assert os.stat(layer / "g").st_ino == os.stat(layer / "f").st_ino


# ------------------------------------------------------------------ names
@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "a/..", "..", "./../pulls/other/x",
                                  "/../outside/file"])
def test_dotdot_members_refused(tmp_path, name):
    unpack_hostile(tmp_path, [(name, "file", b"pwned")], "has a '..' component")


@pytest.mark.parametrize("kind", ["dir", "symlink"])
def test_dotdot_other_kinds_refused(tmp_path, kind):
    unpack_hostile(tmp_path, [("a/../../x", kind, "t")] if kind == "symlink"
                   else [("a/../../x", kind)], "has a '..' component")


def test_nul_bytes_refused(tmp_path):
    ti = tarfile.TarInfo("ab")
    ti.pax_headers = {"path": "a\x00b"}
    unpack_hostile(tmp_path, [("", "raw", (ti, b""))], "NUL byte in its name")
    ti = tarfile.TarInfo("l")
    ti.type, ti.linkname, ti.pax_headers = tarfile.SYMTYPE, "xy", {"linkpath": "/x\x00y"}
    unpack_hostile(tmp_path / "2", [("", "raw", (ti, b""))], "NUL byte in its link target")


@pytest.mark.parametrize("name", [".", "./", "/", ""])
def test_root_itself_as_a_file_refused(tmp_path, name):
    ti = tarfile.TarInfo("x")
    ti.pax_headers = {"path": name}
    unpack_hostile(tmp_path, [("", "raw", (ti, b""))], "names the layer directory itself")


def test_normal_names_normalized(tmp_path):
    """Docker's leniency stays: leading '/', './', doubled slashes, a './' root entry."""
    layer = sandbox(tmp_path)
    raw = make_tar([("./", "dir"), ("/etc", "dir"), ("./etc//os-release", "file", b"d"),
                    ("usr/./bin/sh", "symlink", "/bin/busybox"), ("bin/", "dir"),
                    ("etc/.hidden..name", "file", b"h"), ("etc/...", "file", b"3")])
    unpack_layer(io.BytesIO(raw), layer)
    assert (layer / "etc/os-release").read_bytes() == b"d"
    assert os.readlink(layer / "usr/bin/sh") == "/bin/busybox"
    assert (layer / "etc/...").read_bytes() == b"3"
    assert (layer / "etc/.hidden..name").is_file()


# ------------------------------------------------------------------ whiteouts
@pytest.mark.parametrize("name", [".wh..", ".wh.", ".wh...", "sub/.wh...", "sub/.wh..",
                                  "sub/.wh.", "/.wh...", "./.wh...", "a/b/.wh..."])
def test_whiteouts_of_non_names_refused(tmp_path, name):
    entries = [("sub", "dir"), ("sub/keep", "file"), ("a/b", "dir"), (name, "file", b"")]
    unpack_hostile(tmp_path, entries, "is a whiteout of")


@pytest.mark.parametrize("name", ["d/.wh.file", "d/sub/.wh.file", "d/new/.wh.x", "d/.wh..wh..opq",
                                  "d/new/.wh..wh..opq", "d/sub/.wh..wh..opq"])
def test_whiteout_inside_symlinked_dir_refused(tmp_path, name):
    entries = _abs(tmp_path, [("d", "symlink", OUT), (name, "file", b"")])
    unpack_hostile(tmp_path, entries, "goes through the symlink 'd'")


@needs_root
def test_whiteout_replaces_symlink_not_its_target(tmp_path):
    layer = sandbox(tmp_path)
    before = listing(tmp_path, layer)
    raw = make_tar(_abs(tmp_path, [("d", "symlink", OUT), ("s", "dir"), ("s/x", "file"),
                                   (".wh.d", "file", b""), (".wh.s", "file", b"")]))
    unpack_layer(io.BytesIO(raw), layer)
    assert listing(tmp_path, layer) == before
    for n in ("d", "s"):
        st_ = os.lstat(layer / n)
        assert stat.S_ISCHR(st_.st_mode) and st_.st_rdev == os.makedev(0, 0)


# ------------------------------------------------------------------ limits
def test_entry_count_limit(tmp_path):
    entries = [(f"f{i}", "file") for i in range(51)]
    err = unpack_hostile(tmp_path, entries, "more than the limit of 50 entries", max_entries=50)
    assert "'f50'" in str(err)


def test_entry_count_at_limit_ok(tmp_path):
    layer = sandbox(tmp_path)
    raw = make_tar([(f"f{i}", "file") for i in range(50)])
    unpack_layer(io.BytesIO(raw), layer, max_entries=50)
    assert len(os.listdir(layer)) == 50


def test_size_bomb_gzip(tmp_path):
    """32 MiB of zeros (about 32 KiB of gzip) against a 1 MiB cap: stops at the cap."""
    layer = sandbox(tmp_path)
    before = listing(tmp_path, layer)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("zeros")
        ti.size = 32 << 20
        t.addfile(ti, io.BytesIO(bytes(ti.size)))
    gz = gzip.compress(buf.getvalue(), 9)
    with pytest.raises(ImageError, match=r"uncompressed size exceeds the limit of 1048576 bytes") as ei:
        unpack_layer(io.BytesIO(gz), layer, digest=sha(gz), max_bytes=1 << 20)
    assert sha(gz) in str(ei.value)
    assert listing(tmp_path, layer) == before
    assert os.path.getsize(layer / "zeros") <= 1 << 20


def test_size_limit_counts_trailing_data(tmp_path):
    """Data after the end of the archive is hashed (diff_id), so it is counted too."""
    raw = make_tar([("f", "file", b"small")]) + bytes(2 << 20)
    layer = sandbox(tmp_path)
    with pytest.raises(ImageError, match="exceeds the limit of 1048576 bytes"):
        unpack_layer(io.BytesIO(gzip.compress(raw)), layer, max_bytes=1 << 20)


def test_size_at_limit_ok(tmp_path):
    raw = make_tar([("f", "file", b"y" * 4000)])
    layer = sandbox(tmp_path)
    _, _, size = unpack_layer(io.BytesIO(raw), layer, max_bytes=len(raw))
    assert size == len(raw)


def test_sparse_file_data_counted(tmp_path):
    """A sparse member (GNU pax 1.0) stores 3 bytes but expands to 4 MiB: the bytes written
    are capped too, not only the tar stream."""
    smap = b"1\n%d\n3\n" % (4 << 20)
    data = smap.ljust(512, b"\0") + b"end"
    ti = tarfile.TarInfo("GNUSparseFile.0/sparse")
    ti.size = len(data)
    ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                      "GNU.sparse.name": "sparse", "GNU.sparse.realsize": str((4 << 20) + 3)}
    err = unpack_hostile(tmp_path, [("", "raw", (ti, data))],
                         "file data exceeds the limit of 1048576 bytes", max_bytes=1 << 20)
    assert "'sparse'" in str(err)
    assert os.path.getsize(tmp_path / "pulls/layer/sparse") <= 1 << 20


def test_sparse_file_unpacks(tmp_path):
    smap = b"1\n%d\n3\n" % (1 << 16)
    data = smap.ljust(512, b"\0") + b"end"
    ti = tarfile.TarInfo("GNUSparseFile.0/sparse")
    ti.size = len(data)
    ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                      "GNU.sparse.name": "sparse", "GNU.sparse.realsize": str((1 << 16) + 3)}
    layer = sandbox(tmp_path)
    unpack_layer(io.BytesIO(make_tar([("", "raw", (ti, data))])), layer)
    assert (layer / "sparse").read_bytes() == bytes(1 << 16) + b"end"


def test_pax_header_bomb(tmp_path):
    ti = tarfile.TarInfo("f")
    ti.pax_headers = {"comment": "x" * (MAX_HEADER_BYTES + 1)}
    unpack_hostile(tmp_path, [("", "raw", (ti, b""))], f"exceeds the limit of {MAX_HEADER_BYTES} bytes")


def test_pax_header_recursion_is_an_image_error(tmp_path):
    buf = io.BytesIO()
    for _ in range(3000):           # a chain of global headers, each read recursively
        buf.write(tarfile.TarInfo("g").create_pax_global_header({"comment": "c"}))
    buf.write(make_tar([("f", "file")]))
    layer = sandbox(tmp_path)
    with pytest.raises(ImageError):
        unpack_layer(io.BytesIO(buf.getvalue()), layer)


def test_too_deep_refused(tmp_path):
    unpack_hostile(tmp_path, [("a/" * 600 + "f", "file")], "directories deep")


# --------------------------------------------- the caller leaves nothing behind
def test_failed_import_leaves_nothing(tmp_path):
    layer = make_tar([("ok", "file"), ("../evil", "file")])
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    arc = tmp_path / "img.tar"
    with tarfile.open(arc, "w") as t:
        for name, data in [("l.tar", layer), ("config.json", cfg),
                           ("manifest.json", json.dumps([{"Config": "config.json",
                                                          "RepoTags": ["hostile:1"],
                                                          "Layers": ["l.tar"]}]).encode())]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    store = ImageStore(tmp_path / "store")
    with pytest.raises(ImageError, match=r"'\.\./evil'"):
        store.import_archive(arc)
    assert list((store.root / "tmp").iterdir()) == []
    assert list((store.root / "layers").iterdir()) == []
    assert not (tmp_path / "store/evil").exists()


# ------------------------------------------------------------------ property
_COMPONENTS = ["a", "b", "f", "..", ".", "", ".wh.a", ".wh.f", ".wh..", ".wh...", ".wh.",
               ".wh..wh..opq", "s", "t"]
_names = st.lists(st.sampled_from(_COMPONENTS), min_size=1, max_size=4).map("/".join) \
    | st.sampled_from(["/", "/a", "./a", "a/", "../x", "s/x", "s/a/f", "t/f"])
# {S} is the sandbox: absolute targets stay in it (the old code followed them); relative
# ones climb at most three levels from a member at most four deep: <S>/w1/w2/pulls/layer
_targets = st.sampled_from(["{S}/outside", "{S}/outside/file", "{S}", "{S}/w1", "..", "../..",
                            "../../..", "../other", "a", "a/b", ".", "f", "s", "../../outside"])
_member = st.one_of(
    st.tuples(_names, st.just("file"), st.binary(max_size=8)),
    st.tuples(_names, st.just("dir")),
    st.tuples(_names, st.just("symlink"), _targets),
    st.tuples(_names, st.just("hardlink"), _names),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_member, min_size=1, max_size=8))
def test_property_nothing_outside_changes(members):
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        layer = sandbox(base / "w1/w2")
        (base / "outside").mkdir()
        (base / "outside/file").write_bytes(b"top")
        before = listing(base, layer)
        entries = [tuple(x.replace("{S}", str(base)) if isinstance(x, str) else x for x in m)
                   for m in members]
        raw = make_tar(entries)
        try:
            unpack_layer(io.BytesIO(raw), layer)
        except ImageError:
            pass
        assert listing(base, layer) == before
        assert layer.is_dir() and not layer.is_symlink()
