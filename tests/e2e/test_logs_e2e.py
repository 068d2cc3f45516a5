"""`swarm service logs` across hosts: real containers write to stdout/stderr on three nodes, the
leader's log broker gathers the lines from every node's agent, a follower manager relays them,
and a node that is gone -- its daemon killed, or its network cut -- shows up as the closing
warning instead of hanging the command."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading

import pytest

pytestmark = pytest.mark.timeout(600)

SCRIPT = 'echo "hello from $(hostname)"; echo "to stderr" >&2; exec sleep 100000'
PREFIX = re.compile(r"^talk\.(\d+)\.([0-9a-z]{12})@(\S+)\s+\| (.*)$")


def _running(sb, svc: str) -> list[dict]:
    return [t for t in sb.tasks(svc)
            if t["DesiredState"] == "Running" and t["CurrentState"].startswith("Running")]


def _lines(out: str) -> list[tuple[str, str, str, str]]:
    got = []
    for line in out.splitlines():
        m = PREFIX.match(line)
        assert m, f"line without the service logs prefix: {line!r}"
        got.append((m.group(1), m.group(2), m.group(3), m.group(4)))
    return got


def _ends(sb, bound: float, what: str):
    """`service logs talk` on mgr1, which must end within bound seconds (times the testbed's
    slowness: the heartbeats that mark a node Down scale with it)."""
    limit = bound * sb.tb.slowness
    try:
        return sb.cli("service", "logs", "talk", timeout=limit)
    except subprocess.TimeoutExpired:
        pytest.fail(f"service logs did not end within {limit:g}s {what}")


def test_service_logs_from_every_node_through_leader_and_follower(swarm_bed):
    sb = swarm_bed(managers=2, workers=2)
    # the image's entrypoint runs the web server and ignores arguments: replace it
    sb.ok("service", "create", "--detach", "--name", "talk", "--replicas", "4", "--entrypoint", "sh",
          sb.image("demo/web:1"), "-c", SCRIPT)
    sb.tb.wait_for(lambda: len(_running(sb, "talk")) == 4, timeout=90, what="4 running tasks")
    tasks = _running(sb, "talk")
    assert sorted(t["Node"] for t in tasks) == ["mgr1", "mgr2", "wkr1", "wkr2"], tasks

    last = [""]

    def both_lines_from_all() -> str | None:
        last[0] = out = sb.ok("service", "logs", "talk", timeout=60)
        return out if out.count("hello from") == 4 and out.count("to stderr") == 4 else None

    # the containers have just started: their first lines may not be written yet
    try:
        out = sb.tb.wait_for(both_lines_from_all, timeout=30, what="a line from every task")
    except TimeoutError as e:
        raise AssertionError(f"service logs said:\n{last[0]}") from e
    got = _lines(out)
    ids = {t["ID"][:12]: t["Node"] for t in tasks}
    assert {(slot, tid, host) for slot, tid, host, _ in got} == \
        {(t["Name"].split(".")[1], t["ID"][:12], t["Node"]) for t in tasks}
    for _, tid, host, text in got:
        assert host == ids[tid]
        assert text in ("to stderr",) or text.startswith("hello from "), text

    # a follower manager relays the same stream from the leader
    out2 = sb.ok("service", "logs", "talk", host="mgr2", timeout=60)
    assert sorted(_lines(out2)) == sorted(got)

    # one task by id, without task ids, raw, tail
    one = tasks[0]
    only = _lines(sb.ok("service", "logs", one["ID"], timeout=60))
    assert {tid for _, tid, _, _ in only} == {one["ID"][:12]} and len(only) == 2
    plain = sb.ok("service", "logs", "--no-task-ids", "talk", timeout=60)
    assert all(re.match(r"^talk\.\d+@\S+\s+\| ", x) for x in plain.splitlines()), plain
    raw = sb.ok("service", "logs", "--raw", "talk", timeout=60).splitlines()
    assert sorted(raw) == sorted(text for *_, text in got)
    tail = sb.ok("service", "logs", "--tail", "1", "talk", timeout=60)
    assert len(tail.splitlines()) == 4, tail           # the last line of each task
    assert sb.ok("service", "logs", "--tail", "0", "talk", timeout=60) == ""

    # follow: only what is written from now on (--tail 0), from tasks started later too
    def follows_seen() -> dict[str, int]:
        return {h: sb.tb.logs(h).count("follow True") for h in ("mgr1", "mgr2", "wkr1", "wkr2")}

    before = follows_seen()
    follow = sb.tb.client_popen("mgr2", sys.executable, "-m", "swarm.cli.main", "service", "logs", "-f",
                                "--tail", "0", "talk")
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(follow.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        # the follow subscription has reached every node's agent (each logs it) before the new
        # task starts: with --tail 0 lines written before that are not part of the stream
        sb.tb.wait_for(lambda: all(n > before[h] for h, n in follows_seen().items()), timeout=60,
                       what="the follow subscription on every node")
        sb.ok("service", "scale", "-d", "talk=5")
        sb.tb.wait_for(lambda: len(_running(sb, "talk")) == 5, timeout=90, what="5 running tasks")
        new = next(t for t in _running(sb, "talk") if t["ID"][:12] not in ids)
        # the new task's two lines, however long the relay through the follower takes
        with contextlib.suppress(TimeoutError):          # the assertions below say what arrived
            sb.tb.wait_for(lambda: len(_lines("".join(chunks))) >= 2, timeout=30,
                           what="the new task's lines in the followed stream")
    finally:
        follow.terminate()
        follow.communicate(timeout=30)
        reader.join(10)
    streamed = "".join(chunks)
    got_f = _lines(streamed)
    # nothing old, both lines of the task started while following, from its node
    assert sorted(text.split(" ")[0] + " " + text.split(" ")[1] for *_, text in got_f) == \
        ["hello from", "to stderr"], streamed
    assert {(tid, host) for _, tid, host, _ in got_f} == {(new["ID"][:12], new["Node"])}, streamed
    sb.ok("service", "scale", "-d", "talk=4")
    sb.tb.wait_for(lambda: len(_running(sb, "talk")) == 4, timeout=90, what="4 running tasks")
    tasks = _running(sb, "talk")
    assert sorted(t["Node"] for t in tasks) == ["mgr1", "mgr2", "wkr1", "wkr2"], tasks

    bad = sb.cli("service", "logs", "--tail", "some", "talk")
    assert bad.returncode != 0 and '"some" for "-n, --tail" flag' in bad.stderr, bad.stderr
    nosuch = sb.cli("service", "logs", "nosuchservice")
    assert nosuch.returncode != 0 and "nosuchservice" in nosuch.stderr and "Traceback" not in nosuch.stderr

    # the worker's daemon dies: its container keeps running, but nobody can read its log;
    # the command still ends, with what the other nodes sent and a warning naming the node
    ids = {h: json.loads(sb.ok("node", "inspect", h))[0]["ID"] for h in ("wkr1", "wkr2")}
    sb.tb.kill("wkr1", "KILL")
    # it must not wait for the dead node: a call that outlives the bound fails the test
    cp = _ends(sb, 10, "with a dead daemon")
    assert cp.returncode == 0, cp.stderr
    assert {host for _, _, host, _ in _lines(cp.stdout)} == {"mgr1", "mgr2", "wkr2"}, cp.stdout
    assert "incomplete log stream" in cp.stderr and f"node {ids['wkr1']} is not available" in cp.stderr, \
        cp.stderr

    # the other worker's network goes: its connection to the leader looks open but nothing
    # comes back; once the dispatcher marks it Down (3 missed heartbeats, 15 s) the command ends
    sb.tb.cut_link("wkr2")
    try:
        cp = _ends(sb, 30, "with a cut-off node")
    finally:
        sb.tb.restore_link("wkr2")
    assert cp.returncode == 0, cp.stderr
    assert {host for _, _, host, _ in _lines(cp.stdout)} == {"mgr1", "mgr2"}, cp.stdout
    for h in ("wkr1", "wkr2"):
        assert f"node {ids[h]} is not available" in cp.stderr, cp.stderr
