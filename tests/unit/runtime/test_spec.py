"""Docker's merge rules, limit validation, user resolution, signals, logs, seccomp compile."""

import json

import pytest

from node.images.model import ImageConfig
from node.runtime.container import resolve_user
from node.runtime.errors import InvalidConfigError
from node.runtime.logs import read_logs
from node.runtime.runtime import parse_signal
from node.runtime.spec import DEFAULT_PATH, ContainerConfig, Limits, merge_process, validate

IMG = ImageConfig(entrypoint=("/entry.sh",), cmd=("serve", "--port", "80"), env=("A=1", "PATH=/bin"),
                  workdir="/srv", user="www-data")


def cfg(**kw):
    return ContainerConfig(id="c1", image=([], IMG), **kw)


def test_image_defaults():
    p = merge_process(cfg(), IMG)
    assert p["argv"] == ["/entry.sh", "serve", "--port", "80"]
    assert p["cwd"] == "/srv" and p["user"] == "www-data" and p["hostname"] == "c1"
    assert p["env"] == ["HOSTNAME=c1", "A=1", "PATH=/bin"]


def test_args_replace_cmd_keep_entrypoint():
    assert merge_process(cfg(args=["x"]), IMG)["argv"] == ["/entry.sh", "x"]


def test_command_replaces_entrypoint_and_drops_image_cmd():
    assert merge_process(cfg(command=["/bin/sh"]), IMG)["argv"] == ["/bin/sh"]
    argv = merge_process(cfg(command=["/bin/sh"], args=["-c", "true"]), IMG)["argv"]
    assert argv == ["/bin/sh", "-c", "true"]


def test_env_override_and_defaults():
    c = cfg(env=["A=2", "B=x=y"], hostname="h", workdir="/w", user="1:2")
    p = merge_process(c, ImageConfig(cmd=("a",)))
    assert p["env"] == ["HOSTNAME=h", "A=2", "B=x=y", f"PATH={DEFAULT_PATH}"]
    assert (p["cwd"], p["user"]) == ("/w", "1:2")
    assert merge_process(cfg(), ImageConfig(cmd=("a",)))["user"] == "0"
    assert merge_process(cfg(), ImageConfig(cmd=("a",)))["cwd"] == "/"


@pytest.mark.parametrize("bad", [dict(env=["NOEQUALS"]), dict(workdir="rel"), dict(hostname="bad host")])
def test_invalid_process(bad):
    with pytest.raises(InvalidConfigError):
        merge_process(cfg(**bad), IMG)


def test_no_command():
    with pytest.raises(InvalidConfigError, match="no command"):
        merge_process(cfg(), ImageConfig())


@pytest.mark.parametrize("lim", [Limits(memory_bytes=1), Limits(memory_bytes=6 * 1024 * 1024 - 1),
                                 Limits(memory_bytes=-1), Limits(nano_cpus=5), Limits(pids=-3)])
def test_invalid_limits(lim):
    with pytest.raises(ValueError):
        validate(ContainerConfig(id="c1", image=None, limits=lim))


def test_valid_limits_and_ids():
    validate(ContainerConfig(id="c1", image=None, limits=Limits(6 << 20, 10**9, 1)))
    validate(ContainerConfig(id="c1", image=None, limits=Limits(0, 0, 0)))
    with pytest.raises(InvalidConfigError):
        validate(ContainerConfig(id="../x", image=None))


def test_resolve_user(tmp_path):
    pw, gr = tmp_path / "passwd", tmp_path / "group"
    pw.write_text("root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n")
    gr.write_text("root:x:0:\nwww:x:33:\nextra:x:50:www,other\n")
    assert resolve_user("0", str(pw), str(gr)) == (0, 0, [0], "/root")
    assert resolve_user("www", str(pw), str(gr)) == (33, 33, [33, 50], "/var/www")
    assert resolve_user("33:50", str(pw), str(gr)) == (33, 50, [50], "/var/www")
    assert resolve_user("1234", str(pw), str(gr)) == (1234, 0, [0], "/")
    assert resolve_user("www:root", str(pw), str(gr))[:2] == (33, 0)
    with pytest.raises(OSError, match="unable to find user nobody"):
        resolve_user("nobody", str(pw), str(gr))
    with pytest.raises(OSError, match="unable to find group nogroup"):
        resolve_user("www:nogroup", str(pw), str(gr))


def test_parse_signal():
    assert parse_signal("SIGTERM") == 15 and parse_signal("term") == 15 and parse_signal("9") == 9
    assert parse_signal(2) == 2
    with pytest.raises(InvalidConfigError):
        parse_signal("SIGNOPE")


def test_logs_tail_and_follow(tmp_path):
    p = tmp_path / "c.log"
    recs = [{"log": f"l{i}\n", "stream": "stdout" if i % 2 else "stderr", "time": f"t{i}"} for i in range(5)]
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert [x.data for x in read_logs(p, False, -1, lambda: True)] == [f"l{i}\n" for i in range(5)]
    assert [x.data for x in read_logs(p, False, 2, lambda: True)] == ["l3\n", "l4\n"]
    assert list(read_logs(p, False, 0, lambda: True)) == []
    calls = []

    def exited():
        calls.append(1)
        if len(calls) == 1:
            with open(p, "a") as f:
                f.write(json.dumps({"log": "late\n", "stream": "stdout", "time": "t9"}) + "\n")
            return False
        return True

    got = [x.data for x in read_logs(p, True, 1, exited, poll=0.001)]
    assert got == ["l4\n", "late\n"]


def test_seccomp_compiles():
    from node.runtime.seccomp import compile_default

    blob = compile_default()
    assert len(blob) % 8 == 0 and 100 < len(blob) // 8 < 2000


def test_logs_rotated_files_and_follow_across_rotation(tmp_path):
    p = tmp_path / "container.log"

    def rec(i):
        return json.dumps({"log": f"l{i}\n", "stream": "stdout", "time": f"t{i}"}) + "\n"

    (tmp_path / "container.log.2").write_text(rec(0) + rec(1))
    (tmp_path / "container.log.1").write_text(rec(2) + rec(3))
    p.write_text(rec(4))
    assert [x.data for x in read_logs(p, False, -1, lambda: True)] == [f"l{i}\n" for i in range(5)]
    assert [x.data for x in read_logs(p, False, 3, lambda: True)] == ["l2\n", "l3\n", "l4\n"]
    step = []

    def exited():
        step.append(1)
        if len(step) == 1:              # the shim writes one more line, then rotates
            with open(p, "a") as f:
                f.write(rec(5))
            p.rename(tmp_path / "container.log.1")
            p.write_text(rec(6))
            return False
        return True

    got = [x.data for x in read_logs(p, True, 1, exited, poll=0.001)]
    assert got == ["l4\n", "l5\n", "l6\n"]


@pytest.mark.parametrize(("kw", "msg"), [
    ({"sysctls": {"kernel.hostname": "x"}}, "sysctl 'kernel.hostname' is not allowed"),
    ({"sysctls": {"vm.swappiness": "1"}}, "sysctl 'vm.swappiness' is not allowed"),
    ({"sysctls": {"net.ipv4.ip_forward": ""}}, "sysctl 'net.ipv4.ip_forward': invalid value"),
    ({"sysctls": {"net/../x": "1"}}, "is not allowed"),
    ({"ulimits": [("nofiles", 1, 2)]}, "invalid ulimit type: nofiles"),
    ({"ulimits": [("nofile", 3, 2)]}, "soft limit must be less than or equal to hard limit: 3 > 2"),
    ({"ulimits": [("nofile", 1, 2), ("nofile", 1, 2)]}, "ulimit nofile given twice"),
    ({"oom_score_adj": 1001}, r"range for oom score adj is \[-1000, 1000\]"),
    ({"groups": ["a:b"]}, "invalid group"),
    ({"extra_hosts": [("db", "10.0.0.300")]}, "invalid IP address in add-host"),
    ({"extra_hosts": [("d b", "10.0.0.3")]}, "invalid host name in add-host"),
])
def test_pass_through_options_are_validated(kw, msg):
    from node.runtime.spec import Ulimit

    if "ulimits" in kw:
        kw = {"ulimits": [Ulimit(*u) for u in kw["ulimits"]]}
    with pytest.raises(InvalidConfigError, match=msg):
        validate(cfg(**kw))


def test_pass_through_options_reach_the_process():
    from node.runtime.spec import Ulimit

    p = merge_process(cfg(groups=["daemon"], ulimits=[Ulimit("nofile", 10, 20)], oom_score_adj=-5), IMG)
    assert p["groups"] == ["daemon"] and p["rlimits"] == [["nofile", 10, 20]] and p["oom_score_adj"] == -5
    validate(cfg(sysctls={"net.core.somaxconn": "1024", "kernel.shmmax": "1", "fs.mqueue.msg_max": "20"},
                 ulimits=[Ulimit("core", -1, -1)], extra_hosts=[("db", "fd00::1")]))
