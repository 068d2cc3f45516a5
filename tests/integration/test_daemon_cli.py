"""The foundation: a real swarmd on a unix socket and the real CLI against it."""

import json
import os
import signal
import subprocess

import pytest

from tests.support.daemons import SWARM, SWARMD, Swarmd


@pytest.fixture
def daemon(tmp_path):
    d = Swarmd(tmp_path).start()
    yield d
    d.stop()


def test_info_and_version(daemon):
    out = daemon.ok("info")
    assert "Swarm: inactive" in out
    assert f"Swarm Root Dir: {daemon.data_root}" in out
    v = json.loads(daemon.ok("version", "--format", "json"))
    assert v["Server"]["Version"] == v["Client"]["Version"] == "0.1.0"
    assert daemon.ok("version", "-f", "{{.Server.Version}}").strip() == "0.1.0"
    assert daemon.ok("info", "-f", "{{.Swarm.LocalNodeState}}").strip() == "inactive"
    assert json.loads(daemon.ok("info", "--format", "json"))["DockerRootDir"] == str(daemon.data_root)
    bad = daemon.cli("info", "-f", "{{.Swarm.LocalNodeState")
    assert bad.returncode == 1 and "template parsing error: template: :1: unclosed action" in bad.stderr


def test_host_flag_and_env(daemon, tmp_path):
    r = subprocess.run([SWARM, "-H", daemon.host, "info"], capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "SWARM_HOST"})
    assert r.returncode == 0, r.stderr


def test_unreachable_daemon_is_one_clear_line(tmp_path):
    sock = tmp_path / "none.sock"
    r = subprocess.run([SWARM, "-H", f"unix://{sock}", "info"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip() == f"Cannot connect to the swarm daemon at unix://{sock}. Is swarmd running?"
    assert "Traceback" not in r.stderr


def test_bad_input_gives_one_line_and_nonzero(tmp_path):
    r = subprocess.run([SWARM, "--no-such-flag"], capture_output=True, text=True)
    assert r.returncode != 0 and "No such option" in r.stderr and "Traceback" not in r.stderr
    f = tmp_path / "file"
    f.write_text("")
    r = subprocess.run([SWARMD, "--data-root", str(f / "x"), "--host", f"unix://{tmp_path}/s.sock"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("swarmd: data root") and "not writable" in r.stderr
    r = subprocess.run([SWARMD, "--host", "tcp://0.0.0.0:1"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "only unix" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([SWARMD, "--bogus"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "No such option" in r.stderr


def test_second_daemon_on_same_socket_is_refused(daemon, tmp_path):
    other = Swarmd(tmp_path, name="d2")
    r = subprocess.run([SWARMD, "--data-root", str(other.data_root), "--host", daemon.host],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "already listening" in r.stderr
    assert daemon.ok("info")


def test_sigterm_stops_cleanly_and_stale_socket_is_reclaimed(tmp_path):
    d = Swarmd(tmp_path).start()
    assert d.stop(signal.SIGTERM) == 0
    assert not d.socket.exists()
    d2 = Swarmd(tmp_path).start()
    d2.kill()  # leaves a stale socket behind
    assert d2.socket.exists()
    d3 = Swarmd(tmp_path).start()
    assert "Swarm: inactive" in d3.ok("info")
    assert d3.stop() == 0
