"""The network-namespace testbed itself (deploy/testbed): hosts, isolation, safety, cleanup.

Run as root: .venv/bin/pytest tests/e2e/test_testbed.py -v
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.testbed import (
    REPO,
    SCRIPT,
    Testbed,
    mentions,
    pid_alive,
    system_snapshot,
)

Factory = Callable[..., Testbed]

# connect() to port 9 (discard; nothing listens): "refused" means the address answered
PROBE = """
import socket, sys
for addr in sys.argv[1:]:
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((addr, 9)); print(addr, "open")
    except ConnectionRefusedError:
        print(addr, "reachable")
    except OSError as e:
        print(addr, "unreachable", e)
    finally:
        s.close()
"""


def ours(tb: Testbed) -> list[str]:
    return [tb.prefix, f"metric {tb.route_metric}"]


@pytest.mark.root
def test_hosts_have_own_addresses_names_and_interfaces(testbed: Factory) -> None:
    tb = testbed(managers=2, workers=1)
    hosts = tb.ls()
    assert [h.name for h in hosts] == ["mgr1", "mgr2", "wkr1"]
    assert [h.address for h in hosts] == ["10.231.0.11", "10.231.0.12", "10.231.0.13"]
    for h in hosts:
        assert h.status == "running", h
        assert h.pid and pid_alive(h.pid) and h.holder_pid and pid_alive(h.holder_pid)
        assert Path(h.socket).is_socket()
        assert h.data_root == f"/var/lib/{tb.prefix}/{h.name}"
        assert tb.exec(h.name, "hostname", check=True).stdout.strip() == h.name
        # its own sysfs: only its own interfaces; the cgroup tree is still there
        out = tb.exec(h.name, "sh", "-c", "ls /sys/class/net; ls /sys/fs/cgroup | wc -l", check=True)
        *nets, ncg = out.stdout.split()
        assert sorted(nets) == ["eth0", "lo"] and int(ncg) > 0
        addrs = tb.exec(h.name, "ip", "-o", "-4", "addr", "show", check=True).stdout
        assert f"{h.address}/24" in addrs and addrs.count("inet ") == 2  # lo + eth0
        assert tb.exec(h.name, "ip", "route", "show", "default", check=True).stdout.strip() == ""
        env = tb.exec(h.name, "sh", "-c", "echo $SWARM_HOST", check=True).stdout.strip()
        assert env == f"unix://{h.socket}"
    assert socket.gethostname() not in {h.name for h in hosts}
    # names of the other hosts resolve inside a host (its own /etc/hosts)
    cp = tb.exec("wkr1", sys.executable, "-c",
                 "import socket; print(*(socket.gethostbyname(n) for n in ('mgr1', 'mgr2', 'infra')))")
    assert cp.stdout.split() == ["10.231.0.11", "10.231.0.12", "10.231.0.1"], cp.stderr
    assert "mgr1" not in Path("/etc/hosts").read_text().split()


@pytest.mark.root
def test_hosts_reach_each_other_and_root_namespace_cannot(testbed: Factory) -> None:
    tb = testbed(managers=2, workers=1)
    addrs = [h.address for h in tb.ls()]
    for h in tb.hosts:
        out = tb.exec(h, sys.executable, "-c", PROBE, *addrs, "10.231.0.1", check=True).stdout
        assert out.count("reachable") - out.count("unreachable") == len(addrs) + 1, out
    # root namespace: the safety routes answer at once
    routes = subprocess.run(["ip", "route", "show", "type", "unreachable"], capture_output=True,
                            text=True, check=True).stdout
    for net in ("10.231.0.0/24", "10.0.0.0/8"):
        assert f"unreachable {net} proto 231 metric {tb.route_metric}" in routes, routes
    for addr in [*addrs, "10.1.2.3"]:
        assert subprocess.run(["ip", "route", "get", addr], capture_output=True).returncode != 0
        s = socket.socket()
        s.settimeout(3)
        with pytest.raises(OSError) as exc:
            s.connect((addr, 9))
        s.close()
        assert exc.value.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH), exc.value
    # the bridge and the root-side veths carry no address at all (not even IPv6 link-local)
    for link in [f"{tb.prefix}0", *(f"{tb.prefix}-{h}" for h in [*tb.hosts, "infra"])]:
        out = subprocess.run(["ip", "-o", "addr", "show", "dev", link], capture_output=True,
                             text=True, check=True).stdout
        assert out.strip() == "", out
    infra = tb.exec("infra", "ip", "-o", "-4", "addr", "show", "dev", "eth0", check=True).stdout
    assert "10.231.0.1/24" in infra
    assert tb.exec("infra", "ip", "route", "show", "default", check=True).stdout.strip() == ""
    # and the machine's own connectivity is untouched
    gw = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True, text=True).stdout
    for word_gw in [gw.split()[2]] if gw.startswith("default via") else []:
        assert subprocess.run(["ip", "route", "get", word_gw], capture_output=True).returncode == 0


@pytest.mark.root
def test_every_daemon_answers_swarm_info(testbed: Factory) -> None:
    tb = testbed(managers=2, workers=1)
    for h in tb.hosts:
        cp = tb.wait_cli(h, "info", timeout=30)
        assert h in cp.stdout, cp.stdout  # Name: <its own hostname>


@pytest.mark.root
def test_kill_start_restart_keep_namespaces_and_data(testbed: Factory) -> None:
    tb = testbed(managers=1, workers=1)
    before = tb.host("mgr1")
    marker = Path(before.data_root) / "testbed-marker"
    marker.write_text("kept")
    tb.exec("mgr1", "touch", "/run/in-host-mount-ns")  # not a mount: just proves exec works
    tb.kill("mgr1", signal="KILL")
    after_kill = tb.host("mgr1")
    assert after_kill.status == "stopped" and after_kill.pid is None
    assert not pid_alive(before.pid or 0)
    assert after_kill.holder_pid == before.holder_pid  # namespaces survive the daemon
    assert tb.exec("mgr1", "hostname", check=True).stdout.strip() == "mgr1"
    assert tb.run("kill", "mgr1", check=False).returncode == 1  # nothing to kill
    tb.start("mgr1")
    restarted = tb.host("mgr1")
    assert restarted.status == "running" and restarted.pid != before.pid
    assert restarted.holder_pid == before.holder_pid and marker.read_text() == "kept"
    tb.wait_cli("mgr1", "info")
    w = tb.host("wkr1")
    tb.restart("wkr1")
    assert tb.host("wkr1").pid not in (None, w.pid)
    tb.kill("wkr1")  # SIGTERM: a clean stop
    assert tb.host("wkr1").status == "stopped"
    assert "sending SIGTERM" in tb.logs("wkr1")
    Path("/run/in-host-mount-ns").unlink(missing_ok=True)


@pytest.mark.root
def test_infra_namespace_serves_the_hosts(testbed: Factory, tmp_path: Path) -> None:
    tb = testbed(managers=1, workers=0)
    (tmp_path / "hello").write_text("from infra\n")
    pid = tb.infra(sys.executable, "-m", "http.server", "--bind", "10.231.0.1",
                   "--directory", str(tmp_path), "5000")
    assert pid_alive(pid) and pid in tb.recorded_pids()
    fetch = ("import urllib.request as u; "
             "print(u.urlopen('http://10.231.0.1:5000/hello', timeout=3).read().decode())")

    def get() -> subprocess.CompletedProcess[str] | None:
        c = tb.exec("mgr1", sys.executable, "-c", fetch)
        return c if c.returncode == 0 else None

    cp = tb.wait_for(get, 10, 0.3, "the infra http server")
    assert cp.stdout.strip() == "from infra"
    tb.down()
    assert not pid_alive(pid)


def _leak_check(tb: Testbed, before: dict[str, list[str]], pids: list[int]) -> None:
    after = system_snapshot()
    assert mentions(after, ours(tb)) == mentions(before, ours(tb)) == {k: [] for k in before}
    assert [p for p in pids if pid_alive(p)] == []
    assert not tb.run_dir.exists() and not tb.lib_dir.exists()


def _background_in(tb: Testbed, host: str) -> int:
    """A process started in a host that the script never recorded (like a container would be)."""
    cp = tb.exec(host, "sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!", check=True)
    return int(cp.stdout.strip())


def _container_like_in(tb: Testbed, host: str) -> int:
    """A process in its own net/mount/pid namespaces whose parent (like a container shim) runs
    in the host and leaves it behind when killed; returns the contained process's PID."""
    cp = tb.exec(host, "sh", "-c", "setsid sh -c 'unshare --net --mount sleep 600 & wait' "
                 ">/dev/null 2>&1 & echo $!", check=True)
    parent = int(cp.stdout.strip())

    def child() -> int | None:
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(stat[1]) == parent and (d / "cmdline").read_bytes().startswith(b"sleep"):
                    return int(d.name)
        return None

    pid = Testbed.wait_for(child, 5, 0.05, "the contained process")
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink(f"/proc/{parent}/ns/net")
    return pid


@pytest.mark.root
def test_down_leaves_nothing_behind(testbed_factory: Callable[[], Testbed]) -> None:
    tb = testbed_factory()
    before = system_snapshot()
    assert mentions(before, ours(tb)) == {k: [] for k in before}
    tb.up(managers=2, workers=1)
    during = mentions(system_snapshot(), ours(tb))
    # routes: the underlay, the overlay pool and the egress subnet (deploy/swtb/config.py)
    assert len(during["netns"]) == 4 and len(during["links"]) == 5 and len(during["routes"]) == 3
    assert any(f"/run/netns/{tb.prefix}-mgr1" in m for m in during["mounts"])
    tb.infra("sleep", "600")
    pids = [*tb.recorded_pids(), _background_in(tb, "wkr1"), _container_like_in(tb, "mgr2")]
    assert len(pids) == 3 * 2 + 1 + 2 and all(pid_alive(p) for p in pids)
    tb.down()
    _leak_check(tb, before, pids)
    assert tb.run("down").returncode == 0  # idempotent


@pytest.mark.root
def test_down_after_a_crash_without_state(testbed_factory: Callable[[], Testbed]) -> None:
    tb = testbed_factory()
    before = system_snapshot()
    tb.up(managers=1, workers=1)
    tb.infra("sleep", "600")
    stray = _background_in(tb, "mgr1")
    contained = _container_like_in(tb, "wkr1")
    pids = tb.recorded_pids()
    for p in pids:  # the crash: everything recorded dies at once, the state dir is lost
        os.kill(p, signal.SIGKILL)
    shutil.rmtree(tb.run_dir)
    assert pid_alive(stray) and pid_alive(contained)
    cp = tb.down()
    assert "removed" in cp.stdout
    _leak_check(tb, before, [*pids, stray, contained])


@pytest.mark.root
def test_down_removes_the_daemons_container_cgroups(testbed_factory: Callable[[], Testbed]) -> None:
    """A shim killed by `down` never removes its container's cgroups, and a container whose
    shim died has no parent in the host: `down` finds both through the daemons' cgroup parent
    (``pyswarm-`` + sha256(data root)[:8]) in every hierarchy, kills, and removes the trees."""
    import hashlib

    tb = testbed_factory()
    tb.up(managers=1, workers=1)
    parent = "pyswarm-" + hashlib.sha256(f"/var/lib/{tb.prefix}/wkr1".encode()).hexdigest()[:8]
    mps = [line.split(" - ")[0].split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
           if line.split(" - ")[1].split()[0] in ("cgroup", "cgroup2")]
    leaf = [Path(mp, parent, "c0ffee") for mp in mps]
    for d in leaf:
        d.mkdir(parents=True, exist_ok=True)
    # an orphaned "container": in the cgroup, not in any of the testbed's namespaces
    stray = subprocess.Popen(["sleep", "600"], start_new_session=True,
                             preexec_fn=lambda: Path(leaf[0], "cgroup.procs").write_text("0"))
    try:
        assert str(stray.pid) in Path(leaf[0], "cgroup.procs").read_text()
        cp = tb.down()
        assert "cgroups" in cp.stdout
        assert stray.wait(10) == -signal.SIGTERM
        assert not any(Path(mp, parent).exists() for mp in mps)
    finally:
        if stray.poll() is None:
            stray.kill()


@pytest.mark.root
def test_two_testbeds_side_by_side(testbed: Factory) -> None:
    a = testbed(managers=1)
    b = testbed(managers=1)
    for tb in (a, b):
        assert tb.host("mgr1").status == "running"
        assert tb.exec("mgr1", "ip", "-o", "link", "show", "eth0", check=True).returncode == 0
    a.down()
    routes = mentions(system_snapshot(), ours(b))["routes"]
    assert len(routes) == 3  # b's safety routes are untouched by a's down
    assert b.host("mgr1").status == "running"


def _one_line_error(cp: subprocess.CompletedProcess[str], rc: int, text: str) -> None:
    assert cp.returncode == rc, (cp.stdout, cp.stderr)
    assert "Traceback" not in cp.stderr and text in cp.stderr, cp.stderr
    assert cp.stderr.strip().splitlines()[-1].startswith("testbed")


@pytest.mark.root
def test_bad_input_gives_one_line_errors(testbed_factory: Callable[[], Testbed]) -> None:
    tb = testbed_factory()
    before = mentions(system_snapshot(), ours(tb))
    _one_line_error(tb.run("up", "--managers", "0", check=False), 2, "at least one host")
    _one_line_error(tb.run("up", "--managers", "x", check=False), 2, "invalid int value")
    _one_line_error(tb.run("up", "--subnet", "10.231.0.0/33", check=False), 2, "bad subnet")
    # --form-swarm is a hook (deploy/swtb/formswarm.py): before it is implemented it refuses at
    # once; after, the bad --swarmd does; either way nothing is created
    cp = tb.run("up", "--form-swarm", "--swarmd", "/nonexistent", check=False)
    assert cp.returncode == 2 and ("not implemented yet" in cp.stderr or "swarmd not found" in cp.stderr)
    _one_line_error(tb.run("up", "--swarmd", "/nonexistent", check=False), 2, "swarmd not found")
    _one_line_error(tb.run("ls", check=False), 1, "is not up")
    own = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                         text=True).stdout.split()
    if "inet" in own:  # a subnet the machine itself uses is refused
        cidr = own[own.index("inet") + 1]
        net = str(ipaddress.ip_network(cidr, strict=False))
        _one_line_error(tb.run("up", "--subnet", net, check=False), 1, "overlaps")
    bad = subprocess.run([sys.executable, str(SCRIPT), "--prefix", "docker", "down"],
                         capture_output=True, text=True)
    _one_line_error(bad, 2, "bad prefix")
    assert mentions(system_snapshot(), ours(tb)) == before  # none of that created anything
    tb.up(managers=1)
    _one_line_error(tb.run("exec", "nosuch", "--", "true", check=False), 2, "no host 'nosuch'")
    _one_line_error(tb.run("exec", "mgr1", check=False), 2, "missing command")
    _one_line_error(tb.run("kill", "mgr1", "--signal", "BOGUS", check=False), 2, "unknown signal")
    _one_line_error(tb.run("up", check=False), 1, "already up")
    assert tb.exec("mgr1", "sh", "-c", "exit 7").returncode == 7  # exit status passes through


def test_vagrantfile_validates(tmp_path: Path) -> None:
    if shutil.which("vagrant") is None:
        pytest.skip("vagrant is not installed")
    shutil.copy(REPO / "Vagrantfile", tmp_path / "Vagrantfile")
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    for counts in ({}, {"MANAGERS": "1", "WORKERS": "0"}):
        env = {**os.environ, **counts, "VAGRANT_CHECKPOINT_DISABLE": "1"}
        cp = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
        assert cp.returncode == 0, cp.stdout + cp.stderr
    cp = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=tmp_path,
                        env={**os.environ, "MANAGERS": "0", "WORKERS": "0"},
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode != 0


def test_provision_script_parses() -> None:
    assert subprocess.run(["bash", "-n", str(REPO / "deploy/provision.sh")]).returncode == 0
    unit = (REPO / "deploy/swarmd.service").read_text()
    assert "ExecStart=/opt/pyswarm/bin/swarmd" in unit and "[Install]" in unit


def test_plan_names_addresses_and_routes() -> None:
    """The pure planning part of the script (no root needed)."""
    sys.path.insert(0, str(REPO / "deploy"))
    try:
        from swtb.config import BedConfig, Paths, check_prefix
        from swtb.errors import UsageError
        from swtb.net import mac_for
    finally:
        sys.path.remove(str(REPO / "deploy"))
    paths = Paths.make("swtbx1", "/run/swtbx1", "/var/lib/swtbx1")
    assert paths.bridge == "swtbx10" and paths.veth("mgr12") == "swtbx1-mgr12"
    cfg = BedConfig.plan(paths, 3, 2, "10.231.0.0/24", ["10.0.0.0/8", "10.0.0.0/8"], "/x/swarmd",
                         [], {}, "info")
    assert [(h.name, h.address) for h in cfg.hosts] == [
        ("mgr1", "10.231.0.11"), ("mgr2", "10.231.0.12"), ("mgr3", "10.231.0.13"),
        ("wkr1", "10.231.0.14"), ("wkr2", "10.231.0.15")]
    assert cfg.infra_address == "10.231.0.1" and cfg.routes == ["10.231.0.0/24", "10.0.0.0/8"]
    assert max(len(paths.veth(f"wkr{n}")) for n in (99,)) <= 15  # IFNAMSIZ
    assert mac_for("10.231.0.11") == "02:42:0a:e7:00:0b"
    for bad in ("swtb-x", "docker", "swtbtoolong", "SWTB"):
        with pytest.raises(UsageError):
            check_prefix(bad)
    with pytest.raises(UsageError):
        BedConfig.plan(paths, 0, 0, "10.231.0.0/24", [], "/x", [], {}, "info")
    with pytest.raises(UsageError):
        Paths.make("swtb", "/run", None)  # too shallow to be deleted by down
