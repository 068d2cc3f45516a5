"""Mounts for real: binds, tmpfs, volumes, secret/config files; symlink attacks on targets.

Root only. Two kinds of test:

* attacks, with real mounts in a forked child's private mount namespace (the code the
  container's first process runs, :mod:`node.runtime.mountns`, on a hand-made rootfs): a
  target through a symlink to the host's ``/etc`` or through ``../../..`` lands inside the
  rootfs, and nothing appears on the host;
* real containers from the test registry's busybox images (the runtime's own start path):
  read-only binds (EROFS), tmpfs mode/size/flags, a volume whose content outlives its
  container, the image's content copied into a new volume, secrets on a tmpfs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from node.images import ImageStore
from node.images.model import ImageConfig
from node.runtime import ContainerConfig, Mount, Runtime, mountns
from node.runtime import cgroups as cg
from node.runtime import linux as L
from node.runtime import securejoin as sj
from node.runtime.errors import ContainerStartError
from node.runtime.mounts import VolumeOptions, config_file, secret_file
from node.volumes import VolumeInUseError, VolumeStore
from tests.support.registry import registry_fixture

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

PARENT = f"pyswarm-test-mounts-{os.getpid()}"


# ---------------------------------------------------------------- attacks (private mount ns)
def in_private_ns(fn) -> str:
    """Run ``fn`` in a forked child with its own (private) mount namespace; return what it
    returned, or raise RuntimeError with the child's error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                      # pragma: no cover - the child
        os.close(r)
        try:
            L.unshare(L.CLONE_NEWNS)
            L.mount(None, "/", None, L.MS_REC | L.MS_PRIVATE)
            os.write(w, b"OK" + (fn() or "").encode())
        except BaseException as e:
            os.write(w, f"ERR{type(e).__name__}: {e}".encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    out = b"".join(chunks).decode()
    if not out.startswith("OK"):
        raise RuntimeError(out[3:])
    return out[2:]


def mount_points() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def mount_options(point: str) -> set[str]:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        if f[4] == point:
            return set(f[5].split(",")) | set(f[f.index("-") + 3].split(","))
    raise AssertionError(f"{point} not mounted")


@pytest.fixture
def evil_root(tmp_path):
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "tmp").mkdir()
    (r / "data").symlink_to("/etc")                          # the host's /etc, read naively
    (r / "up").symlink_to("../../../../../../../..")         # far above the rootfs
    return r


def entry(**kw):
    return {"type": "bind", "source": "", "target": "", "read_only": False, "propagation": "rprivate",
            "options": "", "populate": False, "volume": None, **kw}


@pytest.fixture(params=["openat2", "walk"])
def resolver(request):
    """Both ways of resolving inside the rootfs (the child of in_private_ns inherits it)."""
    if request.param == "openat2" and not sj.have_openat2():
        pytest.skip("no openat2 on this kernel")
    saved = sj._openat2_ok
    sj._openat2_ok = request.param == "openat2"
    yield request.param
    sj._openat2_ok = saved


def test_bind_through_symlink_to_host_etc_lands_inside(evil_root, tmp_path, resolver):
    name = f"pyswarm-attack-{uuid.uuid4().hex[:8]}"
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("from the bind\n")

    def child() -> str:
        mountns.mount_all(str(evil_root), [entry(source=str(src), target=f"/data/{name}", read_only=True)])
        inside = evil_root / "etc" / name
        return f"{inside in map(Path, mount_points())} {(inside / 'marker').read_text().strip()} " \
               f"{'ro' in mount_options(str(inside))} {os.path.exists('/etc/' + name)}"

    assert in_private_ns(child) == "True from the bind True False"
    assert not os.path.exists(f"/etc/{name}")                 # nothing made on the host either
    assert (evil_root / "etc" / name).is_dir()                 # the mount point, in the rootfs


def test_tmpfs_and_file_through_dotdot_land_inside(evil_root, tmp_path, resolver):
    name = f"pyswarm-attack-{uuid.uuid4().hex[:8]}"
    f = tmp_path / "file.txt"
    f.write_text("a file\n")

    def child() -> str:
        mountns.mount_all(str(evil_root), [
            entry(type="tmpfs", target=f"/up/tmp/{name}", options="mode=700,size=64k"),
            entry(source=str(f), target=f"/up/up/etc/{name}.txt")])
        pts = set(mount_points())
        return " ".join(str(p in pts) for p in (
            str(evil_root / "tmp" / name), str(evil_root / "etc" / f"{name}.txt"),
            f"/tmp/{name}", f"/etc/{name}.txt"))

    assert in_private_ns(child) == "True True False False"
    assert not os.path.exists(f"/tmp/{name}") and not os.path.exists(f"/etc/{name}.txt")
    assert (evil_root / "etc" / f"{name}.txt").is_file()       # an empty file as mount point


def test_target_that_is_an_escaping_symlink_lands_inside_or_is_refused(evil_root, tmp_path, resolver):
    """A target that is itself an absolute symlink is followed inside the rootfs (runc's
    securejoin, so Docker's behaviour: ``/var/run -> /run`` works); one that climbs to the
    container's root is refused rather than mounted over it."""
    before = mount_points()
    (tmp_path / "src").mkdir()
    ((tmp_path / "src") / "marker").write_text("bound\n")

    def child() -> str:
        mountns.mount_all(str(evil_root), [entry(source=str(tmp_path / "src"), target="/data")])
        return f"{(evil_root / 'etc' / 'marker').read_text().strip()} {os.path.exists('/etc/marker')}"

    assert in_private_ns(child) == "bound False"
    with pytest.raises(RuntimeError, match="container's root"):
        in_private_ns(lambda: mountns.mount_all(str(evil_root), [entry(source=str(tmp_path), target="/up")]))
    assert mount_points() == before


def test_nothing_is_mounted_inside_proc(evil_root, tmp_path):
    def child() -> str:
        (evil_root / "proc").mkdir()
        L.mount("proc", str(evil_root / "proc"), "proc", L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC)
        (evil_root / "p").symlink_to("proc/sys")
        out = []
        for target in ("/proc/sys", "/p/kernel", "/proc"):
            try:
                mountns.mount_all(str(evil_root), [entry(source=str(tmp_path), target=target)])
                out.append("mounted")
            except OSError as e:
                out.append("refused" if "inside /proc" in str(e) else str(e))
        f = tmp_path / "meminfo"
        f.write_text("MemTotal: 1 kB\n")
        mountns.mount_all(str(evil_root), [entry(source=str(f), target="/proc/meminfo")])   # lxcfs-style
        out.append((evil_root / "proc/meminfo").read_text().split()[1])
        return " ".join(out)

    assert in_private_ns(child) == "refused refused refused 1"


def test_read_only_bind_keeps_the_source_flags(evil_root, tmp_path):
    src = tmp_path / "nosuid"
    src.mkdir()

    def child() -> str:
        L.mount("tmpfs", str(src), "tmpfs", L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC, "size=64k")
        (src / "sub").mkdir()
        L.mount("tmpfs", str(src / "sub"), "tmpfs", 0, "size=64k")     # a mount below the source
        mountns.mount_all(str(evil_root), [entry(source=str(src), target="/ro", read_only=True),
                                           entry(source=str(src), target="/shared", propagation="rshared")])
        ro, shared = (Path(evil_root) / "ro", Path(evil_root) / "shared")
        opts = mount_options(str(ro))
        info = {line.split()[4]: line for line in Path("/proc/self/mountinfo").read_text().splitlines()}
        try:
            (ro / "sub/x").write_text("x")
            sub = "sub=rw"
        except OSError as e:
            sub = f"sub={os.strerror(e.errno)}"
        (shared / "sub/y").write_text("y")                    # the rw bind's submount stays rw
        return " ".join([*sorted(opts & {"ro", "nosuid", "nodev", "noexec"}),
                         str("shared:" in info[str(shared)]), str("shared:" in info[str(ro)]), sub])

    assert in_private_ns(child) == "nodev noexec nosuid ro True False sub=Read-only file system"


def test_secret_files_on_a_tmpfs_bound_read_only(evil_root, tmp_path, resolver):
    stage = tmp_path / "files"

    def child() -> str:
        files = [{"target": "/run/secrets/db", "uid": 0, "gid": 33, "mode": 0o440, "data": b"s3cret\n"},
                 {"target": "/data/app.conf", "uid": 33, "gid": 33, "mode": 0o444, "data": b"conf\n"}]
        mountns.mount_all(str(evil_root), [], files, str(stage))
        db = evil_root / "run/secrets/db"
        conf = evil_root / "etc/app.conf"                     # /data -> /etc, inside the rootfs
        st, st2 = os.stat(db), os.stat(conf)
        try:
            with open(db, "w"):
                pass
            write = "rw"
        except OSError as e:
            write = os.strerror(e.errno)
        fs = {line.split()[4]: line.split(" - ")[1].split()[0]
              for line in Path("/proc/self/mountinfo").read_text().splitlines()}
        return (f"{db.read_text().strip()} {oct(st.st_mode & 0o7777)} {st.st_uid}:{st.st_gid} "
                f"{conf.read_text().strip()} {oct(st2.st_mode & 0o7777)} {st2.st_uid} {write} "
                f"{fs[str(db)]} {str(stage) in fs} {sorted(mount_options(str(db)) & {'ro', 'noexec'})}")

    assert in_private_ns(child) == ("s3cret 0o440 0:33 conf 0o444 33 Read-only file system tmpfs False "
                                    "['noexec', 'ro']")
    assert os.listdir(stage) == []                            # nothing ever on disk
    assert (evil_root / "run/secrets/db").stat().st_size == 0  # the mount point only


def test_copy_up_keeps_owners_modes_links(tmp_path):
    root = tmp_path / "rootfs"
    seed = root / "seed"
    (seed / "sub").mkdir(parents=True)
    (seed / "a.txt").write_text("a\n")
    (seed / "sub/b").write_text("b\n")
    os.chown(seed / "sub/b", 33, 33)
    os.chmod(seed / "sub/b", 0o640)
    os.chmod(seed, 0o750)
    os.chown(seed, 33, 0)
    (seed / "link").symlink_to("/etc/passwd")                 # copied as a link, never followed
    os.link(seed / "a.txt", seed / "hard")
    os.mkfifo(seed / "fifo")
    vol = tmp_path / "vol"
    vol.mkdir()
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        mountns.populate(fd, "/seed", str(vol))
    finally:
        os.close(fd)
    assert sorted(os.listdir(vol)) == ["a.txt", "fifo", "hard", "link", "sub"]
    assert os.readlink(vol / "link") == "/etc/passwd"
    st = os.stat(vol / "sub/b")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (33, 33, 0o640)
    assert os.stat(vol / "a.txt").st_ino == os.stat(vol / "hard").st_ino
    top = os.stat(vol)
    assert (top.st_uid, top.st_gid, top.st_mode & 0o7777) == (33, 0, 0o750)
    (vol / "a.txt").write_text("changed\n")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        mountns.populate(fd, "/seed", str(vol))                # not empty: left alone
    finally:
        os.close(fd)
    assert (vol / "a.txt").read_text() == "changed\n"


def test_securejoin_refuses_magic_links(tmp_path):
    if not sj.have_openat2():
        pytest.skip("no openat2")
    r = tmp_path / "r"
    r.mkdir()
    (r / "self").symlink_to("/proc/self/root")                # absolute: /proc inside the rootfs
    fd = os.open(r, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(FileNotFoundError):
            sj.open_in_root(fd, "/self/etc/passwd")
    finally:
        os.close(fd)


# ---------------------------------------------------------------- real containers
needs_images = pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                                  reason="umoci/skopeo/docker-registry not installed")
registry = registry_fixture()


@pytest.fixture(scope="module")
def image(registry, tmp_path_factory):
    return ImageStore(tmp_path_factory.mktemp("images")).pull(registry.refs["demo/web:1"])


@pytest.fixture
def vols(tmp_path):
    return VolumeStore(tmp_path / "volumes")


@pytest.fixture
def rt(tmp_path, vols):
    runtime = Runtime(tmp_path / "rt", cgroup_parent=PARENT, volumes=vols)
    yield runtime
    for c in runtime.list():
        runtime.remove(c.id, force=True)
    runtime.close()
    cg.remove_parent(PARENT)


def cid() -> str:
    return "m" + uuid.uuid4().hex[:11]


def run(rt, image, script, **kw):
    c = rt.create(ContainerConfig(id=kw.pop("id", cid()), image=image,
                                  command=["/bin/sh", "-c", textwrap.dedent(script)], **kw))
    rt.start(c.id)
    code = rt.wait(c.id, timeout=30)
    out = "".join(line.data for line in rt.logs(c.id) if line.stream == "stdout")
    err = "".join(line.data for line in rt.logs(c.id) if line.stream == "stderr")
    return c.id, code, out, err


@needs_images
def test_bind_read_only_is_enforced_and_tmpfs_has_mode_size_flags(rt, image, tmp_path):
    src = tmp_path / "ro"
    src.mkdir()
    (src / "in.txt").write_text("from host\n")
    rw = tmp_path / "rw"
    rw.mkdir()
    _, code, out, err = run(rt, image, """
        cat /ro/in.txt
        echo x > /ro/new || true
        echo written > /rw/out
        stat -c 'mode=%a' /t
        grep ' /t ' /proc/mounts | cut -d' ' -f4
        dd if=/dev/zero of=/t/fill bs=1024 count=2048 2>/dev/null && echo fill=ok || echo fill=full
        grep ' /dev/shm ' /proc/mounts | tail -1 | grep -o 'size=[0-9]*k'
        """, mounts=[Mount(target="/ro", source=str(src), read_only=True),
                     Mount(target="/rw", source=str(rw)),
                     Mount(target="/t", type="tmpfs", tmpfs_size=1 << 20, tmpfs_mode=0o700),
                     Mount(target="/dev/shm", type="tmpfs", tmpfs_size=2 << 20)])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "from host" and "Read-only file system" in err
    assert (rw / "out").read_text() == "written\n" and not (src / "new").exists()
    assert lines[1] == "mode=700"
    assert {"rw", "nosuid", "nodev", "noexec", "size=1024k", "mode=700"} <= set(lines[2].split(","))
    assert lines[3] == "fill=full"
    assert lines[4] == "size=2048k"                            # the user's /dev/shm, over the default


@needs_images
def test_volume_outlives_its_container_and_rm_is_refused_while_used(rt, vols, image):
    first, code, _, err = run(rt, image, "echo kept > /data/x", mounts=[
        Mount(target="/data", type="volume", source="appdata", volume=VolumeOptions(labels={"app": "a"}))])
    assert code == 0, err
    assert vols.get("appdata").labels == {"app": "a"} and vols.users("appdata") == [first]
    with pytest.raises(VolumeInUseError, match=rf"^remove appdata: volume is in use - \[{first}\]$"):
        vols.remove("appdata")
    rt.remove(first)
    assert vols.users("appdata") == []
    _, code, out, err = run(rt, image, "cat /data/x", mounts=[
        Mount(target="/data", type="volume", source="appdata")])
    assert (code, out) == (0, "kept\n"), err


@needs_images
def test_image_content_is_copied_into_a_new_volume_unless_nocopy(rt, vols, image, tmp_path):
    layer = tmp_path / "seed-layer"
    (layer / "seed/sub").mkdir(parents=True)
    (layer / "seed/sub/f").write_text("from the image\n")
    os.chown(layer / "seed/sub/f", 33, 33)
    img = ([*image.layers, layer], ImageConfig())
    _, code, out, err = run(rt, img, "cat /seed/sub/f; stat -c '%u' /seed/sub/f", mounts=[
        Mount(target="/seed", type="volume", source="seeded")])
    assert (code, out) == (0, "from the image\n33\n"), err
    assert (Path(vols.get("seeded").mountpoint) / "sub/f").read_text() == "from the image\n"
    _, code, out, _ = run(rt, img, "ls -A /seed | wc -l", mounts=[
        Mount(target="/seed", type="volume", source="bare", volume=VolumeOptions(nocopy=True))])
    assert (code, out.strip()) == (0, "0")
    assert os.listdir(vols.get("bare").mountpoint) == []


@needs_images
def test_anonymous_volume_goes_with_its_container(rt, vols, image):
    c, code, _, _ = run(rt, image, "echo x > /scratch/x", mounts=[Mount(target="/scratch", type="volume")])
    assert code == 0
    (anon,) = vols.list()
    assert anon.anonymous and vols.users(anon.name) == [c]
    rt.remove(c)
    assert vols.list() == []


@needs_images
def test_secret_and_config_files(rt, image):
    secret = b"pyswarm-secret-" + uuid.uuid4().hex.encode()
    c, code, out, err = run(rt, image, """
        md5sum < /run/secrets/db_password | cut -d' ' -f1
        stat -c '%a %u %g' /run/secrets/db_password /app.conf
        grep -E ' /run/secrets/db_password | /app.conf ' /proc/mounts | cut -d' ' -f3,4 | cut -d, -f1
        echo x > /run/secrets/db_password || true
        """, user="33:33", files=[secret_file("db_password", secret, uid=33, gid=33, mode=0o400),
                                  config_file("app.conf", b"k=v\n", mode=0o444)])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == hashlib.md5(secret).hexdigest()        # the value itself stays out of the log
    assert lines[1:3] == ["400 33 33", "444 0 0"]
    assert lines[3:5] == ["tmpfs ro", "tmpfs ro"]
    assert "Read-only file system" in err
    for path in (rt.root / "containers" / c).rglob("*"):       # never on disk
        if path.is_file():
            assert secret not in path.read_bytes(), path


@needs_images
def test_symlink_to_host_etc_in_the_image_mounts_inside(rt, image, tmp_path):
    layer = tmp_path / "evil-layer"
    layer.mkdir()
    (layer / "data").symlink_to("/etc")
    src = tmp_path / "src"
    src.mkdir()
    (src / "m").write_text("bound\n")
    name = f"pyswarm-attack-{uuid.uuid4().hex[:8]}"
    _, code, out, err = run(rt, ([*image.layers, layer], ImageConfig()), f"cat /etc/{name}/m", mounts=[
        Mount(target=f"/data/{name}", source=str(src))])
    assert (code, out) == (0, "bound\n"), err
    assert not os.path.exists(f"/etc/{name}")


@needs_images
def test_failed_create_releases_its_volumes(rt, vols, image):
    with pytest.raises(ContainerStartError):
        rt.create(ContainerConfig(id=cid(), image=image, command=["true"], user="nosuchuser",
                                  mounts=[Mount(target="/data", type="volume", source="v1")]))
    assert vols.users("v1") == []

