"""Issue 6 through the CLI on loopback daemons with the fake executor: rolling updates,
failure actions, manual rollback, start-first. Real containers: tests/e2e/test_updates_e2e.py."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.support.daemons import LoopbackCluster, Swarmd

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def swarm3(tmp_path):
    c = LoopbackCluster(tmp_path, 3).start()
    c.form(managers=1, workers=2)
    c.wait(lambda: len([n for n in c.node_ls(0) if n["Status"] == "Ready"]) == 3, 60, "3 ready nodes")
    yield c
    c.stop()


def inspect(d: Swarmd, svc: str) -> dict:
    return json.loads(d.ok("service", "inspect", svc))[0]


def state(d: Swarmd, svc: str) -> str:
    return inspect(d, svc).get("UpdateStatus", {}).get("State", "")


def current(d: Swarmd, svc: str) -> list[dict]:
    out = d.ok("service", "ps", svc, "-f", "desired-state=running", "--format", "json")
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def env_of(d: Swarmd, svc: str) -> list[str]:
    return inspect(d, svc)["Spec"]["TaskTemplate"]["ContainerSpec"].get("Env", [])


def test_rolling_update_completes_with_parallelism_and_delay(swarm3):
    c = swarm3
    m = c[0]
    m.ok("service", "create", "-d", "--name", "web", "--replicas", "4", "img:1")
    c.wait(lambda: all(t["CurrentState"].startswith("Running") for t in current(m, "web"))
           and len(current(m, "web")) == 4, 30, "4 running")
    t0 = time.monotonic()
    m.ok("service", "update", "-d", "--image", "img:2", "--update-parallelism", "2",
         "--update-delay", "1s", "--update-monitor", "1s", "web")
    c.wait(lambda: state(m, "web") == "completed", 60, "update completed")
    took = time.monotonic() - t0
    ts = current(m, "web")
    assert len(ts) == 4 and all(t["Image"] == "img:2" for t in ts)
    assert all(t["CurrentState"].startswith("Running") for t in ts)
    assert took >= 2.0          # two batches with a 1 s delay each, plus a 1 s monitor
    upd = inspect(m, "web")["UpdateStatus"]
    assert upd["Message"] == "update completed" and "CompletedAt" in upd
    # history: every slot keeps its old task, shut down
    rows = [json.loads(x) for x in m.ok("service", "ps", "web", "--format", "json").splitlines()]
    assert len(rows) == 8 and sum(1 for t in rows if t["DesiredState"] == "Shutdown") == 4
    pretty = m.ok("service", "inspect", "--pretty", "web")
    assert "State:" in pretty and "completed" in pretty and "Delay:" in pretty


def test_failure_action_rollback_and_pause_then_resume(swarm3):
    c = swarm3
    m = c[0]
    m.ok("service", "create", "-d", "--name", "r", "--replicas", "3", "--restart-delay", "100ms", "img:1")
    c.wait(lambda: len(current(m, "r")) == 3, 30, "3 tasks")
    # the new version crashes at once (FAKE_EXIT_CODE with a short run)
    m.ok("service", "update", "-d", "--env-add", "FAKE_RUN_SECONDS=0.1", "--env-add", "FAKE_EXIT_CODE=1",
         "--update-failure-action", "rollback", "--update-monitor", "2s", "r")
    c.wait(lambda: state(m, "r") == "rollback_completed", 90, "rolled back by itself")
    upd = inspect(m, "r")["UpdateStatus"]
    assert upd["Message"] == "rollback completed"
    assert env_of(m, "r") == []
    assert "PreviousSpec" not in inspect(m, "r")        # an automatic rollback clears it
    r = m.cli("service", "rollback", "-d", "r")
    assert r.returncode == 1 and "does not have a previous spec" in r.stderr
    c.wait(lambda: len([t for t in current(m, "r") if t["CurrentState"].startswith("Running")]) == 3, 30,
           "3 running again")
    # pause: the next update stops paused; a plain `service update` resumes it
    m.ok("service", "update", "-d", "--env-add", "FAKE_RUN_SECONDS=0.1", "--env-add", "FAKE_EXIT_CODE=1",
         "--update-failure-action", "pause", "r")
    c.wait(lambda: state(m, "r") == "paused", 60, "paused")
    msg = inspect(m, "r")["UpdateStatus"]["Message"]
    assert msg.startswith("update paused due to failure or early termination of task ")
    r = m.cli("service", "update", "r")          # attached: reports the pause and fails
    assert r.returncode == 1 and "service update paused: update paused due to failure" in r.stderr
    assert state(m, "r") in ("updating", "paused")


def test_manual_rollback_twice_returns_to_newer(swarm3):
    c = swarm3
    m = c[0]
    m.ok("service", "create", "-d", "--name", "mr", "--replicas", "2", "img:1")
    m.ok("service", "update", "-d", "--image", "img:2", "--update-monitor", "500ms", "mr")
    c.wait(lambda: state(m, "mr") == "completed", 60, "updated to 2")
    m.ok("service", "rollback", "-d", "mr")
    assert inspect(m, "mr")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "img:1"
    c.wait(lambda: state(m, "mr") == "rollback_completed", 60, "rolled back to 1")
    assert inspect(m, "mr")["UpdateStatus"]["Message"] == "rollback completed"
    m.ok("service", "update", "-d", "--rollback", "mr")
    assert inspect(m, "mr")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "img:2"
    c.wait(lambda: state(m, "mr") == "rollback_completed"
           and all(t["Image"] == "img:2" for t in current(m, "mr")), 60, "back on 2")
    r = m.cli("service", "update", "--rollback", "--image", "x", "mr")
    assert r.returncode == 1 and "other flags may not be combined with --rollback" in r.stderr


def test_start_first_never_drops_below_replicas(swarm3):
    c = swarm3
    m = c[0]
    m.ok("service", "create", "-d", "--name", "sf", "--replicas", "3", "img:1")
    c.wait(lambda: len([t for t in current(m, "sf") if t["CurrentState"].startswith("Running")]) == 3, 30,
           "3 running")
    low = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            out = m.cli("service", "ps", "sf", "--format", "json").stdout
            rows = [json.loads(x) for x in out.splitlines() if x.strip()]
            n = sum(1 for t in rows if t["CurrentState"].startswith("Running"))
            low.append(n)

    th = threading.Thread(target=sample)
    th.start()
    try:
        m.ok("service", "update", "-d", "--image", "img:2", "--update-order", "start-first",
             "--update-monitor", "500ms", "sf")
        c.wait(lambda: state(m, "sf") == "completed", 60, "completed")
    finally:
        stop.set()
        th.join()
    assert min(low) >= 3, low
    assert all(t["Image"] == "img:2" for t in current(m, "sf"))


def test_progress_display_on_a_pipe(swarm3):
    c = swarm3
    m = c[0]
    out = m.ok("service", "create", "--name", "p", "--replicas", "2", "img:1", timeout=60)
    lines = out.splitlines()
    assert len(lines[0]) == 25
    assert "overall progress: 2 out of 2 tasks" in out
    assert "1/2: running   [==================================================>]" in out
    assert "verify: Waiting 5 seconds to verify that tasks are stable..." in out
    assert lines[-1] == f"verify: Service {lines[0]} converged"
    out = m.ok("service", "scale", "p=3", timeout=60)
    assert out.splitlines()[0] == "p scaled to 3" and "overall progress: 3 out of 3 tasks" in out


def test_new_leader_finishes_an_update(tmp_path):
    c = LoopbackCluster(tmp_path, 4).start()
    try:
        c.form(managers=3, workers=1)
        want = ["", "Leader", "Reachable", "Reachable"]
        c.wait(lambda: sorted(n["ManagerStatus"] for n in c.node_ls(0)) == want, 60, "three managers")
        m = c[0]
        m.ok("service", "create", "-d", "--name", "lk", "--replicas", "6", "img:1")
        c.wait(lambda: len([t for t in current(m, "lk") if t["CurrentState"].startswith("Running")]) == 6,
               30, "6 running")
        m.ok("service", "update", "-d", "--image", "img:2", "--update-delay", "1s",
             "--update-monitor", "1s", "lk")
        c.wait(lambda: any(t["Image"] == "img:2" for t in current(m, "lk")), 30, "update under way")
        m.kill()   # the leader dies mid-update
        f = c[1]
        c.wait(lambda: state(f, "lk") == "completed", 120, "the new leader completed the update")
        # the dead leader's own slots are replaced once it is Down: then all 6 run on img:2
        def converged() -> bool:
            ts = [t for t in current(f, "lk") if t["CurrentState"].startswith("Running")]
            return len(ts) == 6 and all(t["Image"] == "img:2" for t in ts)

        c.wait(converged, 90, "6 running on img:2")
    finally:
        c.stop()


def test_progress_display_on_a_terminal(swarm3):
    """The display redraws in place on a TTY (cursor-up escapes), checked on a real pty."""
    import os
    import pty
    import select
    import subprocess

    m = swarm3[0]
    master, slave = pty.openpty()
    env = dict(os.environ, SWARM_HOST=m.host)
    from tests.support.daemons import SWARM

    p = subprocess.Popen([SWARM, "service", "create", "--name", "tty", "--replicas", "2", "img:1"],
                         stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    p.wait(10)
    os.close(master)
    text = out.decode(errors="replace")
    assert p.returncode == 0, text
    assert "\x1b[" in text and "A" in text          # cursor moved up: lines redrawn in place
    assert "verify: Service" in text and "converged" in text
    assert text.count("overall progress:") >= 2
