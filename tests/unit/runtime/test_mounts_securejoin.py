"""Path resolution inside a rootfs: openat2(RESOLVE_IN_ROOT) and the component walk agree,
and neither ever leaves the root (absolute links rooted at it, '..' stopped at it)."""

from __future__ import annotations

import errno
import os

import pytest

from node.runtime import securejoin as sj


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "rootfs"
    for d in ("etc", "usr/lib", "var", "data2"):
        (r / d).mkdir(parents=True)
    (r / "etc/passwd").write_text("inside\n")
    (r / "var/run").symlink_to("/run")                 # Debian's absolute link, dangling here
    (r / "data").symlink_to("/etc")                    # absolute: the host's /etc if followed naively
    (r / "up").symlink_to("../../../../../../..")      # climbs far above the root
    (r / "usr/rel").symlink_to("../etc")               # relative, inside
    (r / "loop1").symlink_to("loop2")
    (r / "loop2").symlink_to("loop1")
    (r / "file").write_text("f")
    fd = os.open(r, os.O_PATH | os.O_DIRECTORY)
    yield r, fd
    os.close(fd)


def where(fd: int) -> str:
    try:
        return os.readlink(sj.procfd(fd))
    finally:
        os.close(fd)


CASES = [("/data/passwd", "etc/passwd"), ("/up/etc/passwd", "etc/passwd"), ("/up", ""),
         ("/usr/rel/passwd", "etc/passwd"), ("/../../etc", "etc"), ("usr/lib", "usr/lib"),
         ("/data/../usr", "usr"), ("/", ""), ("/up/data/../data2", "data2")]


@pytest.mark.parametrize(("path", "inside"), CASES)
def test_walk_stays_inside(root, path, inside):
    r, fd = root
    assert where(sj.walk(fd, path)) == str(r / inside).rstrip("/")


@pytest.mark.parametrize(("path", "inside"), CASES)
def test_openat2_agrees_with_the_walk(root, path, inside):
    if not sj.have_openat2():
        pytest.skip("no openat2 on this kernel")
    r, fd = root
    assert where(sj.openat2_in_root(fd, path.lstrip("/") or ".")) == str(r / inside).rstrip("/")
    assert where(sj.open_in_root(fd, path)) == str(r / inside).rstrip("/")


def test_errors(root):
    _, fd = root
    with pytest.raises(FileNotFoundError):
        sj.walk(fd, "/nope/x")
    with pytest.raises(NotADirectoryError):
        sj.walk(fd, "/file/x")
    with pytest.raises(OSError) as e:
        sj.walk(fd, "/loop1")
    assert e.value.errno == errno.ELOOP


def test_create_makes_mount_points_inside(root):
    r, fd = root
    assert where(sj.walk(fd, "/data/newdir/sub", create="dir")) == str(r / "etc/newdir/sub")
    assert (r / "etc/newdir/sub").is_dir()
    assert where(sj.walk(fd, "/var/run/secrets/token", create="file")) == str(r / "run/secrets/token")
    assert (r / "run/secrets/token").is_file() and (r / "run/secrets/token").stat().st_size == 0
    assert where(sj.walk(fd, "/up/x/y", create="dir")) == str(r / "x/y")
    assert not (r.parent / "x").exists()


def test_dangling_leaf_link_is_created_inside(root):
    r, fd = root
    (r / "dangling").symlink_to("/made/by/link")
    assert where(sj.walk(fd, "/dangling", create="dir")) == str(r / "made/by/link")


def test_escaping_leaf_is_refused_when_asked(root):
    _, fd = root
    for path in ("/data", "/up", "/var/run"):
        with pytest.raises(sj.EscapeError, match="resolves outside the container rootfs"):
            sj.walk(fd, path, create="dir", refuse_escaping_leaf=True)
    sj_fd = sj.walk(fd, "/usr/rel", create="dir", refuse_escaping_leaf=True)   # ../etc from /usr: inside
    os.close(sj_fd)
    os.close(sj.walk(fd, "/data/passwd", create="file", refuse_escaping_leaf=True))  # link on the way
