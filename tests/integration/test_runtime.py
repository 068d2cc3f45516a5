"""Runtime integration tests: real containers from images pulled from a real local registry.

Root only (namespaces, mounts, cgroups). Containers live under a per-test-run cgroup parent
``pyswarm-test-<pid>``; every container, cgroup and netns made here is removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from node.images import ImageStore
from node.runtime import ContainerConfig, Limits, Mount, Runtime, Status
from node.runtime import cgroups as cg
from node.runtime.errors import (
    ContainerNotFoundError,
    ContainerStartError,
    ContainerStateError,
    InvalidConfigError,
    RuntimeSetupError,
    WaitTimeout,
)
from tests.support.registry import registry_fixture

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                       reason="umoci/skopeo/docker-registry not installed"),
]

registry = registry_fixture()
PARENT = f"pyswarm-test-{os.getpid()}"


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    store = ImageStore(tmp_path_factory.mktemp("images"))
    return {name: store.pull(ref) for name, ref in registry.refs.items() if not name.endswith("v2s2")}


@pytest.fixture
def rt(tmp_path):
    runtime = Runtime(tmp_path / "rt", cgroup_parent=PARENT)
    yield runtime
    for c in runtime.list():
        runtime.remove(c.id, force=True)
    runtime.close()
    cg.remove_parent(PARENT)
    assert not list((tmp_path / "rt/containers").iterdir())


def cid() -> str:
    return "t" + uuid.uuid4().hex[:11]


def run(rt, image, cmd=None, timeout=30, **kw):
    c = rt.create(ContainerConfig(id=kw.pop("id", cid()), image=image, command=cmd, **kw))
    rt.start(c.id)
    code = rt.wait(c.id, timeout=timeout)
    out = "".join(line.data for line in rt.logs(c.id) if line.stream == "stdout")
    err = "".join(line.data for line in rt.logs(c.id) if line.stream == "stderr")
    return code, out, err, rt.state(c.id)


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", textwrap.dedent(script)]


def test_run_exit_code_logs_and_identity(rt, images):
    code, out, err, st = run(rt, images["demo/web:1"], sh("""
        echo "host=$(hostname) pid=$$ env=$HOSTNAME home=$HOME"; cat /proc/1/cmdline | tr '\\0' ' '; echo
        echo oops >&2; exit 7"""), hostname="web-a")
    assert code == 7 and st.status == Status.EXITED and st.exit_code == 7
    assert "host=web-a pid=1 env=web-a home=/root" in out
    assert out.splitlines()[1].startswith("/bin/sh -c")
    assert err == "oops\n"
    assert st.started_at and st.finished_at and not st.oom_killed
    lines = list(rt.logs(st.id, tail=1))
    assert len(lines) == 1 and lines[0].stream == "stderr" and lines[0].ts.endswith("Z")


def test_image_entrypoint_env_and_user(rt, images):
    code, out, _, _ = run(rt, images["demo/web:2"], sh("id -u; id -g; pwd; echo $PATH $FOO"),
                          user="nobody", workdir="/tmp", env=["FOO=bar"])
    assert code == 0
    assert out.split() == ["65534", "65534", "/tmp", "/usr/sbin:/usr/bin:/sbin:/bin", "bar"]


def test_caps_nnp_seccomp_masks(rt, images):
    code, out, _, _ = run(rt, images["demo/web:1"], sh("""
        grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t'
        (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo procsys=rw || echo procsys=ro
        echo timer_list=$(wc -c < /proc/timer_list)
        grep -q ' /proc/timer_list ' /proc/mounts && echo timer_list=masked
        touch /sys/x 2>/dev/null && echo sys=rw || echo sys=ro
        (hostname other) 2>/dev/null && echo sethostname=ok || echo sethostname=denied
        """))
    assert code == 0
    assert "CapEff:00000000a80425fb" in out and "CapBnd:00000000a80425fb" in out
    assert "NoNewPrivs:1" in out and "Seccomp:2" in out
    assert "procsys=ro" in out and "timer_list=0" in out and "timer_list=masked" in out and "sys=ro" in out
    assert "sethostname=denied" in out


def test_non_root_user_has_no_effective_caps(rt, images):
    code, out, _, _ = run(rt, images["demo/web:1"], sh("grep CapEff /proc/self/status"), user="33:33")
    assert code == 0 and out.split()[-1] == "0000000000000000"


def test_an_empty_capability_list_means_none_not_the_default(rt, images):
    """`--cap-drop ALL` gives the runtime ``capabilities=[]``: root keeps nothing (an empty list
    once fell back to Docker's default set)."""
    code, out, _, _ = run(rt, images["demo/web:1"], sh("grep -E '^Cap(Eff|Bnd)' /proc/self/status"),
                          capabilities=[])
    assert code == 0 and out.split() == ["CapEff:", "0000000000000000", "CapBnd:", "0000000000000000"], out


def test_tty_gives_the_process_a_controlling_terminal(rt, images):
    code, out, err, _ = run(rt, images["demo/web:1"], sh("""
        test -t 0 && test -t 1 && test -t 2 && echo all-three-tty
        echo to-stderr >&2
        """), tty=True)
    assert code == 0 and "all-three-tty\r\n" in out and "to-stderr" in out and err == "", (out, err)
    code, out, _, _ = run(rt, images["demo/web:1"], sh("test -t 1 || echo no-tty"))
    assert code == 0 and out == "no-tty\n"


def test_host_devices_denied(rt, images):
    st = os.stat("/dev/cpu_dma_latency") if os.path.exists("/dev/cpu_dma_latency") else None
    major, minor = (os.major(st.st_rdev), os.minor(st.st_rdev)) if st else (10, 259)
    _, out, _, _ = run(rt, images["demo/web:1"], sh(f"""
        mknod /tmp/d c {major} {minor} && echo mknod=ok
        dd if=/tmp/d of=/dev/null bs=4 count=1 2>/dev/null && echo open=ALLOWED || echo open=denied"""))
    assert "open=denied" in out


def test_memory_hog_is_oom_killed(rt, images):
    code, _, _, st = run(rt, images["demo/web:1"], sh("dd if=/dev/zero of=/dev/null bs=64M count=1"),
                         limits=Limits(memory_bytes=16 << 20))
    assert code == 137 and st.oom_killed


def test_pids_limit(rt, images):
    code, out, _, _ = run(rt, images["demo/web:1"], sh("""
        ( for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 3 & done ) 2>/dev/null
        set -- /proc/[0-9]*; echo procs=$#"""), limits=Limits(pids=5))
    assert code == 0
    procs = int(out.strip().split("=")[1])
    assert 2 <= procs <= 5


def test_cpu_and_pids_files_written(rt, images):
    c = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], command=["/bin/true"],
                                  limits=Limits(memory_bytes=32 << 20, nano_cpus=500_000_000, pids=64)))
    grp = cg.Cgroup(PARENT, c.id)
    if grp.mode == "v2":
        d = grp.dirs["unified"]
        assert (d / "cpu.max").read_text().split() == ["50000", "100000"]
        assert (d / "pids.max").read_text().strip() == "64"
    else:
        assert (grp.ctrl["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (grp.ctrl["pids"] / "pids.max").read_text().strip() == "64"
        assert (grp.ctrl["memory"] / "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
        assert "a *:* rwm" not in (grp.ctrl["devices"] / "devices.list").read_text()
    assert rt.state(c.id).status == Status.CREATED
    rt.remove(c.id)
    assert not any(d.exists() for d in grp.dirs.values())


@pytest.mark.parametrize("clone3", [True, False], ids=["clone3", "fork+cgroup.procs"])
def test_container_is_in_every_cgroup_of_its_own(tmp_path, images, clone3):
    """Seen from the host, the container's pid 1 is in the container's directory of every
    hierarchy -- whether born there (clone3 + self-move into v1 ``tasks``) or moved by the
    shim (the fallback for kernels without CLONE_INTO_CGROUP)."""
    rt2 = Runtime(tmp_path / "rt2", cgroup_parent=PARENT, clone_into_cgroup=clone3)
    try:
        c = rt2.create(ContainerConfig(id=cid(), image=images["demo/web:1"], command=["/bin/sleep", "30"],
                                       limits=Limits(pids=5)))
        rt2.start(c.id)
        pid = rt2.state(c.id).pid
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        ours = f"/{PARENT}/{c.id}"
        managed = [line for line in lines if line.startswith("0::") or
                   set(line.split(":")[1].split(",")) & set(cg.V1_CONTROLLERS)]
        assert len(managed) >= (1 if cg.mode() == "v2" else 4), lines
        assert all(line.split(":", 2)[2] == ours for line in managed), lines
        rt2.remove(c.id, force=True)
    finally:
        for s in rt2.list():
            rt2.remove(s.id, force=True)
        rt2.close()


def test_invalid_memory_limit(rt, images):
    with pytest.raises(ValueError, match="memory"):
        rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], limits=Limits(memory_bytes=1024)))
    with pytest.raises(InvalidConfigError):
        rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], limits=Limits(memory_bytes=-5)))


def test_limit_the_kernel_refuses_fails_create_and_leaves_nothing(rt, images):
    """The shim writes the v1 limits while the container sets up its namespaces: a value the
    kernel refuses (pids.max above PID_MAX_LIMIT) fails ``create`` with what was refused, and
    neither the container directory nor any cgroup directory stays behind."""
    c = cid()
    with pytest.raises((ContainerStartError, RuntimeSetupError), match=r"pids\.max|Invalid argument"):
        rt.create(ContainerConfig(id=c, image=images["demo/web:1"], command=["true"],
                                  limits=Limits(pids=10**12)))
    grp = cg.Cgroup(PARENT, c)
    assert not any(d.exists() for d in grp.dirs.values())
    assert not (rt.cdir / c).exists() and rt.list() == []


def test_image_store_keeps_layers_a_container_uses(rt, registry, tmp_path):
    """Docker's rules for `image rm`: never from under a running container (even forced); a
    stopped one's image needs force; an image sharing only base layers is not "in use"."""
    import functools

    from node.images import ImageInUseError
    from node.runtime import layer_users

    store = ImageStore(tmp_path / "img", in_use=functools.partial(layer_users, rt.root))
    one = store.pull(registry.refs["demo/web:1"])
    two = store.pull(registry.refs["demo/web:2"])          # web:1's layers + one more
    c = rt.create(ContainerConfig(id=cid(), image=one, command=["sleep", "30"]))
    rt.start(c.id)
    for force in (False, True):
        with pytest.raises(ImageInUseError, match=rf"cannot be forced.*running container {c.id[:12]}"):
            store.remove(registry.refs["demo/web:1"], force=force)
    assert store.get(registry.refs["demo/web:1"]) is not None
    assert f"Deleted: {two.id}" in store.remove(registry.refs["demo/web:2"])
    assert not two.layers[-1].exists() and all(p.exists() for p in one.layers)
    rt.kill(c.id)
    rt.wait(c.id, timeout=10)
    with pytest.raises(ImageInUseError, match=r"must be forced.*stopped container"):
        store.remove(registry.refs["demo/web:1"])
    out = store.remove(registry.refs["demo/web:1"], force=True)
    assert f"Deleted: {one.id}" in out and not any(p.exists() for p in one.layers)


def test_removed_id_is_reusable_at_once(rt, images):
    """``remove`` returns only once the shim is gone: it still tears down namespaces and
    cgroups after answering ``wait``, and must never do so under a new container that reuses
    the id (a swarm task's container id is derived from the task id)."""
    c = cid()
    for _ in range(15):
        rt.create(ContainerConfig(id=c, image=images["demo/web:1"], command=["true"],
                                  limits=Limits(memory_bytes=32 << 20, pids=10)))
        rt.start(c)
        assert rt.wait(c, timeout=10) == 0
        rt.remove(c)
    assert rt.list() == []


def test_exec_failure_and_bad_user(rt, images):
    c = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], command=["/nonexistent"]))
    with pytest.raises(ContainerStartError, match='exec: "/nonexistent"'):
        rt.start(c.id)
    assert rt.wait(c.id, timeout=10) == 127
    c2 = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], command=["/etc/passwd"]))
    with pytest.raises(ContainerStartError, match=r"(?i)permission denied"):
        rt.start(c2.id)
    assert rt.wait(c2.id, timeout=10) == 126
    with pytest.raises(ContainerStartError, match="unable to find user nosuch"):
        rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], command=["true"], user="nosuch"))


def test_failing_image_exits_nonzero(rt, images):
    code, _, err, _ = run(rt, images["demo/fail:1"])
    assert code == 3 and "refusing to start" in err


def test_stop_graceful_and_forced(rt, images):
    loop = "while :; do sleep 0.1; done"
    graceful = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"],
                                         command=sh(f"trap 'echo bye; exit 0' TERM; {loop}")))
    stubborn = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"],
                                         command=sh(f"trap '' TERM; {loop}")))
    for c in (graceful, stubborn):
        rt.start(c.id)
    time.sleep(0.3)
    with pytest.raises(WaitTimeout):
        rt.wait(graceful.id, timeout=0.2)
    with pytest.raises(ContainerStateError):
        rt.remove(graceful.id)
    assert rt.stop(graceful.id, grace=10) == 0
    assert "bye\n" in [line.data for line in rt.logs(graceful.id)]
    t = time.monotonic()
    assert rt.stop(stubborn.id, grace=0.5) == 137
    assert 0.4 < time.monotonic() - t < 10


def test_mounts_and_read_only_rootfs(rt, images, tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    (src / "in.txt").write_text("from host\n")
    code, out, _, _ = run(rt, images["demo/web:1"], sh("""
        cat /data/in.txt; touch /data/x 2>/dev/null && echo data=rw || echo data=ro
        touch /etc/y 2>/dev/null && echo root=rw || echo root=ro
        echo t > /scratch/t && echo scratch=rw"""),
        mounts=[Mount(target="/data", source=str(src), read_only=True),
                Mount(target="/scratch", type="tmpfs")],
        read_only=True)
    assert code == 0
    assert out.split() == ["from", "host", "data=ro", "root=ro", "scratch=rw"]


def test_join_netns_and_serve_http(rt, images):
    ns = f"rt4-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        path = f"/run/netns/{ns}"
        web = rt.create(ContainerConfig(id=cid(), image=images["demo/web:2"], hostname="web-two",
                                        netns_path=path))
        rt.start(web.id)
        code, out, _, _ = run(rt, images["demo/web:1"], sh("""
            readlink /proc/self/ns/net
            for i in $(seq 50); do
              r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 80 2>/dev/null) && [ -n "$r" ] && break
              sleep 0.1
            done; echo "$r" | tail -1"""), netns_path=path)
        assert code == 0
        assert f"net:[{os.stat(path).st_ino}]" in out
        assert "demo/web version 2 on web-two" in out
        rt.remove(web.id, force=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_shim_outlives_the_calling_process_and_reattach(rt, images, tmp_path):
    """A separate 'daemon' process creates and starts a container and exits; we re-attach."""
    root = rt.root
    layers = [str(p) for p in images["demo/web:1"].layers]
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from pathlib import Path
        from node.images.model import ImageConfig
        from node.runtime import Runtime, ContainerConfig
        rt = Runtime(Path({str(root)!r}), cgroup_parent={PARENT!r})
        c = rt.create(ContainerConfig(id="survivor", image=({layers!r}, ImageConfig()),
                      command=["/bin/sh", "-c",
                               "echo up; trap 'echo term; exit 5' TERM; while :; do sleep 0.1; done"]))
        rt.start(c.id)
        print(c.pid)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    states = {s.id: s for s in rt.list()}
    assert states["survivor"].status == Status.RUNNING
    assert os.path.exists(f"/proc/{states['survivor'].shim_pid}")
    assert rt.stop("survivor", grace=10) == 5
    assert [line.data for line in rt.logs("survivor")] == ["up\n", "term\n"]
    rt.remove("survivor")
    with pytest.raises(ContainerNotFoundError):
        rt.state("survivor")


def test_remove_frees_everything(rt, images):
    c = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], command=sh("sleep 30"),
                                  limits=Limits(memory_bytes=32 << 20)))
    rt.start(c.id)
    grp = cg.Cgroup(PARENT, c.id)
    assert all(d.exists() for d in grp.dirs.values())
    pid = rt.state(c.id).pid
    rt.remove(c.id, force=True)
    assert not any(d.exists() for d in grp.dirs.values())
    assert not (rt.root / "containers" / c.id).exists()
    assert not os.path.exists(f"/proc/{pid}/ns")
    assert c.id not in Path("/proc/self/mountinfo").read_text()


def test_long_root_path_and_cgroup_namespace(tmp_path, images):
    """Socket paths beyond AF_UNIX's 107 bytes still work; /proc/self/cgroup shows '/'."""
    root = tmp_path / ("r" * 100)
    rt2 = Runtime(root, cgroup_parent=PARENT)
    c = "c" * 64
    try:
        code, out, _, _ = run(rt2, images["demo/web:1"], ["cat", "/proc/self/cgroup"], id=c,
                              limits=Limits(memory_bytes=32 << 20))
        assert code == 0 and len(str(root / "containers" / c / "shim.sock")) > 107
        assert out and all(line.endswith(":/") for line in out.splitlines())
    finally:
        for s in rt2.list():
            rt2.remove(s.id, force=True)
        rt2.close()


def test_logs_follow_running_container(rt, images):
    c = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"],
                                  command=sh("for i in 1 2 3; do echo line$i; sleep 0.2; done")))
    rt.start(c.id)
    got = [line.data for line in rt.logs(c.id, follow=True)]
    assert got == ["line1\n", "line2\n", "line3\n"]
    assert rt.state(c.id).status == Status.EXITED


def test_mount_target_symlink_resolves_inside_the_rootfs(rt, images, tmp_path):
    """An absolute symlink at a mount target is followed inside the rootfs, as Docker (runc's
    securejoin) does: the bind lands on the container's path, never on the host's."""
    layer = tmp_path / "evil-layer"
    layer.mkdir()
    (layer / "data").symlink_to("/etc/pyswarm-evil")          # on the host: /etc/pyswarm-evil
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("inside\n")
    from node.images.model import ImageConfig

    image = ([*images["demo/web:1"].layers, layer], ImageConfig())
    code, out, err, _ = run(rt, image, sh("cat /data/marker /etc/pyswarm-evil/marker"),
                            mounts=[Mount(target="/data", source=str(src))])
    assert (code, out) == (0, "inside\ninside\n"), err
    assert not Path("/etc/pyswarm-evil").exists()
    assert not any("evil" in line for line in Path("/proc/self/mountinfo").read_text().splitlines())


def test_etc_hostname_hosts_resolv(rt, images, tmp_path):
    own = tmp_path / "resolv.conf"
    own.write_text("nameserver 10.0.0.53\n")
    code, out, _, _ = run(rt, images["demo/web:1"], sh("""
        cat /etc/hostname; grep -c "web-h" /etc/hosts; cat /etc/resolv.conf"""), hostname="web-h",
        mounts=[Mount(target="/etc/resolv.conf", source=str(own), read_only=True)])
    assert code == 0
    assert out.splitlines() == ["web-h", "1", "nameserver 10.0.0.53"]


def test_ebpf_device_filter_on_cgroup2(tmp_path):
    """The v2 allow-list program denies a host device to a process in the cgroup2 dir."""
    from node.runtime import devices_bpf

    base = Path("/sys/fs/cgroup/unified" if cg.mode() == "hybrid" else "/sys/fs/cgroup")
    if cg.mode() == "v1":
        pytest.skip("no cgroup2 hierarchy")
    d = base / f"{PARENT}-bpf"
    d.mkdir()
    try:
        devices_bpf.attach(str(d), cg.DEVICE_RULES)
        probe = ("import os\nfor p in ('/dev/null', '/dev/cpu_dma_latency'):\n"
                 "    try:\n        os.close(os.open(p, os.O_RDONLY)); print('ok')\n"
                 "    except OSError as e: print(e.errno)\n")

        def join():
            (d / "cgroup.procs").write_text("0")

        inside = subprocess.run([sys.executable, "-c", probe], preexec_fn=join, capture_output=True,
                                text=True, check=True).stdout.split()
        outside = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.split()
        assert inside == ["ok", "1"]                     # EPERM for the host device
        if os.path.exists("/dev/cpu_dma_latency"):
            assert outside == ["ok", "ok"]
    finally:
        d.rmdir()


def test_interrupted_create_is_listed_and_removable(rt, images):
    d = rt.root / "containers" / "halfmade"
    (d / "upper").mkdir(parents=True)
    states = {s.id: s for s in rt.list()}
    assert states["halfmade"].status == Status.CREATED and "interrupted" in states["halfmade"].error
    rt.remove("halfmade")
    assert not d.exists()


def test_interrupted_create_keeps_its_labels_for_its_owner(rt, images):
    """A create cut short before the shim wrote state.json is still found by its labels (the
    agent removes containers of tasks it no longer has by their task label)."""
    d = rt.root / "containers" / "halfmade2"
    (d / "upper").mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"id": "halfmade2", "name": "web.1.x",
                                               "labels": {"com.docker.swarm.task.id": "t1"}}))
    st = rt.state("halfmade2")
    assert (st.status, st.name, st.labels) == (Status.CREATED, "web.1.x", {"com.docker.swarm.task.id": "t1"})
    rt.remove("halfmade2")
    assert not d.exists()


def test_removal_cut_short_leaves_no_container_and_is_finished_by_the_next_start(
        rt, images, monkeypatch):
    """The directory is renamed away before its tree is removed: a crash in the middle of the
    removal (imitated by a removal that deletes nothing) leaves no half-removed container that
    list() shows without its state and labels; the next Runtime on that root finishes it."""
    import node.runtime.runtime as rtmod

    c = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], command=sh("sleep 30"),
                                  labels={"com.docker.swarm.task.id": "t2"}))
    rt.start(c.id)
    monkeypatch.setattr(rtmod.shutil, "rmtree", lambda *a, **k: None)
    rt.remove(c.id, force=True)
    monkeypatch.undo()
    trash = [p.name for p in (rt.root / "containers").iterdir()]
    assert len(trash) == 1 and trash[0].startswith(rtmod.TRASH_PREFIX + c.id), trash
    assert c.id not in {s.id for s in rt.list()} and not any(s.id.startswith(".") for s in rt.list())
    with pytest.raises(ContainerNotFoundError):
        rt.state(trash[0])
    again = Runtime(rt.root, cgroup_parent=PARENT)
    try:
        assert not list((rt.root / "containers").iterdir())
    finally:
        again.close()


def test_parallel_lifecycles_from_threads(rt, images):
    """The agent calls the runtime from several worker threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    def life(i: int) -> tuple[int, str]:
        code, out, _, _ = run(rt, images["demo/web:1"], sh(f"echo n={i}; exit {i}"), id=f"par{i}")
        rt.remove(f"par{i}")
        return code, out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(life, range(12)))
    assert results == [(i, f"n={i}\n") for i in range(12)]


def test_start_twice_and_start_after_kill(rt, images):
    c = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], command=sh("sleep 5")))
    rt.kill(c.id, "SIGKILL")
    assert rt.wait(c.id, timeout=10) == 137
    with pytest.raises(ContainerStateError):
        rt.start(c.id)
    c2 = rt.create(ContainerConfig(id=cid(), image=images["demo/web:1"], command=["true"]))
    rt.start(c2.id)
    rt.wait(c2.id, timeout=10)
    with pytest.raises(ContainerStateError):
        rt.start(c2.id)


def test_log_rotation(rt, images):
    code, _, _, st = run(rt, images["demo/web:1"], sh("for i in $(seq 300); do echo line$i; done"),
                         log_max_bytes=4000, log_max_files=3)
    assert code == 0
    d = rt.root / "containers" / st.id
    assert (d / "container.log.1").exists() and (d / "container.log.2").exists()
    assert not (d / "container.log.3").exists()
    lines = [line.data for line in rt.logs(st.id)]
    assert lines[-1] == "line300\n" and 50 < len(lines) < 300
    assert lines == [f"line{i}\n" for i in range(301 - len(lines), 301)]
