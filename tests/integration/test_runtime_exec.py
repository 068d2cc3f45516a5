"""``Runtime.exec``: a second process inside a running container, for real (root only).

What is proven: the process sees the container's filesystem, hostname, pid namespace, network
namespace and cgroup; it runs as the container's user with its capabilities (none for a
non-root user) and environment plus its own; exit codes, combined output, the output cap, the
timeout (killed, reported), a missing command (127, Docker's message), refusals for a container
that is not running or does not exist, and nothing left behind (no zombie under the shim).
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from node.images import ImageStore
from node.runtime import ContainerConfig, Runtime
from node.runtime import cgroups as cg
from node.runtime.errors import ContainerNotFoundError, ContainerStateError, InvalidConfigError
from tests.support.registry import registry_fixture

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                       reason="umoci/skopeo/docker-registry not installed"),
]

PARENT = f"pyswarm-test-exec-{os.getpid()}"
registry = registry_fixture()


@pytest.fixture(scope="module")
def image(registry, tmp_path_factory):
    return ImageStore(tmp_path_factory.mktemp("images")).pull(registry.refs["demo/web:1"])


@pytest.fixture
def rt(tmp_path):
    runtime = Runtime(tmp_path / "rt", cgroup_parent=PARENT)
    yield runtime
    for c in runtime.list():
        runtime.remove(c.id, force=True)
    runtime.close()
    cg.remove_parent(PARENT)


def running(rt, image, **kw):
    cid = "x" + uuid.uuid4().hex[:11]
    rt.create(ContainerConfig(id=cid, image=image, command=["/bin/sh", "-c", "echo up > /tmp/up; sleep 300"],
                              hostname="box", env=["FROM_SPEC=1"], **kw))
    rt.start(cid)
    assert rt.exec(cid, ["cat", "/tmp/up"], timeout=20).output == b"up\n"   # first process is set up
    return cid


def test_exec_runs_inside_the_container(rt, image):
    cid = running(rt, image)
    r = rt.exec(cid, ["/bin/sh", "-c", "hostname; cat /etc/version; echo $FROM_SPEC $EXTRA; "
                      "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /sys/class/net | sort | tr '\\n' ' '; "
                      "echo; cat /proc/self/cgroup; id -u; echo err >&2; exit 3"],
                env=["EXTRA=2"], timeout=20)
    lines = r.output.decode().splitlines()
    assert r.exit_code == 3 and not r.timed_out and not r.error
    assert lines[0] == "box"                                   # the container's uts namespace
    assert lines[1] == "1"                                     # its filesystem (demo/web:1)
    assert lines[2] == "1 2"                                   # its env plus the exec's
    assert lines[3].strip() == "sleep 300"                     # its pid namespace: pid 1 is its init
    assert lines[4].split() == ["lo"]                          # its (empty) network namespace
    cgroup_lines = lines[5:-2]
    assert cgroup_lines and all(x.endswith(":/") for x in cgroup_lines), cgroup_lines
    # ^ in every hierarchy at the root of the container's cgroup namespace: in its cgroups
    assert lines[-2] == "0" and lines[-1] == "err"             # root by default; stderr combined


def test_exec_user_caps_workdir_and_no_new_privileges(rt, image):
    cid = running(rt, image)
    r = rt.exec(cid, ["/bin/sh", "-c",
                      "id -u; id -g; pwd; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status"],
                user="nobody", workdir="/tmp", timeout=20)
    out = r.output.decode().split()
    assert r.exit_code == 0, r.output
    assert out[0] == "65534" and out[2] == "/tmp"
    status = dict(zip(out[3::2], out[4::2], strict=True))
    assert status["CapEff:"] == "0000000000000000"             # a non-root user has no capabilities
    assert status["NoNewPrivs:"] == "1" and status["Seccomp:"] == "2"   # the container's seccomp filter
    root = rt.exec(cid, ["grep", "CapBnd", "/proc/self/status"], timeout=20).output.decode().split()[1]
    assert int(root, 16) != 0 and int(root, 16) < (1 << 41) - 1   # Docker's default set, not all caps


def test_exec_timeout_kills_and_output_is_capped(rt, image):
    cid = running(rt, image)
    r = rt.exec(cid, ["/bin/sh", "-c", "echo started; sleep 100"], timeout=0.5)
    assert r.timed_out and r.exit_code == 128 + 9 and r.output == b"started\n"
    big = rt.exec(cid, ["/bin/sh", "-c", "yes x | head -c 100000"], timeout=20, max_output=4096)
    assert big.exit_code == 0 and big.truncated and big.output == b"x\n" * 2048
    ps = rt.exec(cid, ["/bin/sh", "-c", "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"],
                 timeout=20).output.decode()
    assert "sleep 300" in ps and "sleep 100" not in ps        # the killed one is gone
    shim = rt.state(cid).shim_pid
    children = open(f"/proc/{shim}/task/{shim}/children").read().split()   # noqa: SIM115
    zombies = [c for c in children if open(f"/proc/{c}/stat").read().split()[2] == "Z"]  # noqa: SIM115
    assert not zombies


def test_exec_of_a_missing_command_is_127_with_dockers_message(rt, image):
    cid = running(rt, image)
    r = rt.exec(cid, ["no-such-cmd"], timeout=20)
    assert r.exit_code == 127
    assert r.error == 'exec: "no-such-cmd": executable file not found in $PATH'
    r = rt.exec(cid, ["/etc/version"], timeout=20)       # exists, not executable
    assert r.exit_code == 126 and "Permission denied" in r.error


def test_exec_refusals(rt, image):
    with pytest.raises(ContainerNotFoundError):
        rt.exec("nosuch", ["true"])
    cid = "x" + uuid.uuid4().hex[:11]
    rt.create(ContainerConfig(id=cid, image=image, command=["true"]))
    with pytest.raises(ContainerStateError, match="created, not running"):
        rt.exec(cid, ["true"])
    rt.start(cid)
    rt.wait(cid, timeout=20)
    with pytest.raises((ContainerStateError, Exception), match=r"exited|not reachable|closed"):
        rt.exec(cid, ["true"])
    for bad in ([], [""], ["a\0b"]):
        with pytest.raises(InvalidConfigError, match="exec needs a command"):
            rt.exec(cid, bad)
    with pytest.raises(InvalidConfigError, match="invalid environment variable"):
        rt.exec(cid, ["true"], env=["NOEQUALS"])


def test_exec_answered_when_the_container_exits_meanwhile(rt, image):
    cid = running(rt, image)
    import threading

    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(_try(rt, cid)))
    t.start()
    rt.kill(cid, "SIGKILL")
    t.join(30)
    assert not t.is_alive()
    r = result[0]
    assert isinstance(r, Exception) or r.exit_code == 128 + 9   # killed with its pid namespace


def _try(rt, cid):
    try:
        return rt.exec(cid, ["sleep", "100"], timeout=60)
    except Exception as e:  # noqa: BLE001 - the answer is either an error or a killed result
        return e


def test_the_joiner_is_closed_to_the_containers_processes(rt, image):
    """The joiner (visible in the container's pid namespace, briefly in the host's mount
    namespace) is closed to the container's root: its /proc entries (a way to the host's
    filesystem through /proc/<pid>/root while it still is in the host's) do not open. Two
    locks hold it: the joiner's capabilities are not a subset of the container's (ptrace
    access rule), and it is non-dumpable (runc's defence, kept for a container given
    CAP_SYS_PTRACE)."""
    import threading

    cid = running(rt, image)
    t = threading.Thread(target=lambda: rt.exec(cid, ["sleep", "3"], timeout=20))
    t.start()
    try:
        probe = rt.exec(cid, ["/bin/sh", "-c", """
            i=0                                   # until the other exec runs (no sleep in a test)
            until cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -q 'sleep 3'; do
              i=$((i+1)); [ $i -gt 5000 ] && break
            done
            for p in /proc/[0-9]*; do
              n=${p#/proc/}
              if tr '\\0' ' ' < $p/cmdline | grep -q 'python'; then
                echo "joiner $n"; readlink $p/exe || echo "exe denied"
                ls $p/root/ >/dev/null 2>&1 || echo "root denied"
              fi
            done"""], timeout=20).output.decode()
    finally:
        t.join(30)
    assert "joiner" in probe, probe              # it is there, as the pid namespace makes it
    assert "exe denied" in probe and "root denied" in probe, probe


@pytest.mark.skipif(not any(os.access(p, os.X_OK) for p in ("/usr/bin/tini-static",
                                                              "/usr/libexec/docker/docker-init")),
                    reason="no tini-static (apt install tini)")
def test_init_is_pid_1_reaps_zombies_and_forwards_the_stop_signal(rt, image):
    """--init (Docker's docker-init = tini): pid 1 is the init, the command its child; an
    orphan's zombie is reaped; SIGTERM reaches the command, and its exit code is the
    container's."""
    cid = "x" + uuid.uuid4().hex[:11]
    rt.create(ContainerConfig(id=cid, image=image, init=True, command=[
        "/bin/sh", "-c", "trap 'exit 7' TERM; (sleep 0.1 &) ; while :; do sleep 0.1; done"]))
    rt.start(cid)
    out = rt.exec(cid, ["/bin/sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; "
                        "for p in /proc/[0-9]*; do cat $p/stat; echo; done"], timeout=20).output.decode()
    first, *stats = out.splitlines()
    assert first.startswith("/sbin/docker-init -- /bin/sh -c")
    import time as _t

    deadline = _t.monotonic() + 10        # the orphaned sleep exits after 0.1 s: never a zombie for long
    while any(" Z " in s for s in stats) and _t.monotonic() < deadline:
        stats = rt.exec(cid, ["/bin/sh", "-c", "for p in /proc/[0-9]*; do cat $p/stat; echo; done"],
                        timeout=20).output.decode().splitlines()
    assert not any(" Z " in s for s in stats), stats
    assert rt.stop(cid, grace=10) == 7                      # SIGTERM forwarded; the command's exit code


def test_init_without_an_init_binary_is_refused_clearly(rt, image, monkeypatch):
    from node.runtime import runtime as runtime_mod

    monkeypatch.setattr(runtime_mod, "INIT_BINARIES", ("/nonexistent/docker-init",))
    with pytest.raises(InvalidConfigError, match="--init: no init binary on this node"):
        rt.create(ContainerConfig(id="x" + uuid.uuid4().hex[:11], image=image, init=True, command=["true"]))
    assert rt.list() == []                                # nothing left behind


def test_pass_through_sysctls_ulimits_oom_groups_and_hosts(rt, image):
    """--sysctl (namespaced), --ulimit, --oom-score-adj, --group and --host reach the container's
    first process and the processes exec'd in it."""
    from node.runtime.spec import Ulimit

    cid = running(rt, image, sysctls={"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"},
                  ulimits=[Ulimit("nofile", 1000, 2000)], oom_score_adj=250, groups=["www-data", "4242"],
                  extra_hosts=[("db.local", "10.9.8.7")])
    script = ("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; ulimit -n; ulimit -Hn; "
              "cat /proc/self/oom_score_adj; id -G; grep db.local /etc/hosts; "
              "cat /proc/1/limits | grep 'open files'")
    out = rt.exec(cid, ["/bin/sh", "-c", script], timeout=20).output.decode().splitlines()
    assert out[0:2] == ["1", "123456789"]
    assert out[2:4] == ["1000", "2000"]
    assert out[4] == "250"
    assert set(out[5].split()) >= {"0", "33", "4242"}           # root's 0, www-data's 33, the gid
    assert out[6].split() == ["10.9.8.7", "db.local"]
    assert out[7].split()[3:5] == ["1000", "2000"]              # pid 1 has them too
    assert open("/proc/sys/kernel/shmmax").read().strip() != "123456789"   # noqa: SIM115 - host unchanged


def test_unknown_group_rejects_the_start_with_dockers_message(rt, image):
    cid = "x" + uuid.uuid4().hex[:11]
    from node.runtime.errors import ContainerStartError as StartError

    with pytest.raises(StartError, match="unable to find group nosuch: no matching entries in group file"):
        rt.create(ContainerConfig(id=cid, image=image, command=["true"], groups=["nosuch"]))
        rt.start(cid)


def test_log_driver_none_keeps_no_output(rt, image):
    cid = "x" + uuid.uuid4().hex[:11]
    rt.create(ContainerConfig(id=cid, image=image, command=["/bin/sh", "-c", "echo out; echo err >&2"],
                              log_driver="none"))
    rt.start(cid)
    assert rt.wait(cid, timeout=20) == 0
    assert list(rt.logs(cid)) == []
    other = "x" + uuid.uuid4().hex[:11]                    # the default still keeps it
    rt.create(ContainerConfig(id=other, image=image, command=["/bin/sh", "-c", "echo out"]))
    rt.start(other)
    rt.wait(other, timeout=20)
    assert [line.data for line in rt.logs(other)] == ["out\n"]
