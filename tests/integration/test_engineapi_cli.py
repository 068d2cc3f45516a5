"""Issue 17 on loopback with this machine's docker CLI (no dockerd): `docker swarm init|join|
update|join-token --rotate|leave` form and change a swarm of two real swarmd (fake executor)
through their Engine API sockets, and `docker stack deploy` (the CLI translates the compose file
into networks, secrets, configs and services itself) runs a stack there."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import LoopbackCluster, Swarmd

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on this machine"),
]


def docker(d: Swarmd, *args: str, cwd: Path | None = None, input: str | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        DOCKER_HOST=f"unix://{d.socket.parent / 'docker.sock'}",
        DOCKER_CONFIG=str(d.root / "docker-config"),
    )
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd,
                          input=input)


def ok(d: Swarmd, *args: str, cwd: Path | None = None) -> str:
    cp = docker(d, *args, cwd=cwd)
    assert cp.returncode == 0, (
        f"docker {' '.join(args)}: {cp.returncode}\n{cp.stdout}{cp.stderr}\n{d.log()[-2000:]}"
    )
    return cp.stdout


def wait(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[LoopbackCluster]:
    c = LoopbackCluster(tmp_path, 2)
    c.start()
    for d in c.daemons:
        wait(lambda d=d: (d.socket.parent / "docker.sock").exists(), 15, "the Engine API socket")
    yield c
    c.stop()


def test_docker_swarm_init_join_update_rotate_leave(two: LoopbackCluster) -> None:
    m, w = two[0], two[1]
    out = ok(m, "swarm", "init", "--advertise-addr", two.addr(0))
    assert "Swarm initialized: current node (" in out and f"{two.addr(0)}" in out, out
    cp = docker(m, "swarm", "init")
    assert cp.returncode == 1 and "This node is already part of a swarm" in cp.stderr, cp.stderr
    token = ok(m, "swarm", "join-token", "-q", "worker").strip()
    assert token.startswith("SWMTKN-1-")
    assert (
        ok(w, "swarm", "join", "--token", token, "--advertise-addr", two.addr(1), two.addr(0)).strip()
        == "This node joined a swarm as a worker."
    )
    wait(
        lambda: (
            sorted(ok(m, "node", "ls", "--format", "{{.Status}} {{.ManagerStatus}}").split("\n"))
            == ["", "Ready ", "Ready Leader"]
        ),
        30,
        "two ready nodes",
    )
    assert (
        ok(w, "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").strip()
        == "active false"
    )

    assert ok(m, "swarm", "update", "--task-history-limit", "3").strip() == "Swarm updated."
    assert (
        ok(m, "info", "--format", "{{.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit}}").strip()
        == "3"
    )
    ok(m, "swarm", "join-token", "--rotate", "worker")
    assert ok(m, "swarm", "join-token", "-q", "worker").strip() != token

    # node update/promote/demote: the CLI GETs the node and POSTs its whole spec with the version
    wid = ok(w, "info", "--format", "{{.Swarm.NodeID}}").strip()
    ok(m, "node", "update", "--label-add", "zone=a", "--availability", "drain", wid)
    assert (
        ok(m, "node", "inspect", wid, "--format", "{{json .Spec.Labels}} {{.Spec.Availability}}").strip()
        == '{"zone":"a"} drain'
    )
    assert ok(m, "node", "ls", "-q", "-f", "node.label=zone=a").split() == [wid[:25]]
    ok(m, "node", "promote", wid)
    wait(
        lambda: ok(w, "info", "--format", "{{.Swarm.ControlAvailable}}").strip() == "true",
        60,
        "the worker to become a manager",
    )
    # two managers need both for a quorum: demote once the new one is a reachable Raft member
    wait(
        lambda: (
            docker(m, "node", "inspect", wid, "--format", "{{.ManagerStatus.Reachability}}").stdout.strip()
            == "reachable"
            and docker(m, "node", "ls").returncode == 0
        ),
        60,
        "the new manager reachable",
    )
    ok(m, "node", "demote", wid)
    wait(
        lambda: ok(w, "info", "--format", "{{.Swarm.ControlAvailable}}").strip() == "false",
        60,
        "the manager to become a worker again",
    )

    assert ok(w, "swarm", "leave").strip() == "Node left the swarm."
    assert ok(w, "info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "inactive"
    wait(
        lambda: (
            wid in ok(m, "node", "ls", "-q", "-f", "role=worker", "--format", "{{.ID}} {{.Status}}")
            and "Down" in ok(m, "node", "inspect", wid, "--format", "{{.Status.State}}").title()
        ),
        60,
        "the node down",
    )
    ok(m, "node", "rm", wid)
    assert wid not in ok(m, "node", "ls", "-q")
    cp = docker(w, "swarm", "leave")
    assert cp.returncode == 1 and "This node is not part of a swarm" in cp.stderr, cp.stderr
    cp = docker(m, "swarm", "unlock-key")
    assert cp.returncode == 1 and "no unlock key is set" in cp.stderr, cp.stderr  # no autolock
    cp = docker(m, "swarm", "unlock")  # the CLI reads /info first: never locked here
    assert cp.returncode == 1 and "swarm is not locked" in cp.stderr, cp.stderr


AUTOLOCK = "{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}"


def test_docker_swarm_autolock_unlock_rotate_and_off(tmp_path: Path) -> None:
    import re

    c = LoopbackCluster(tmp_path, 1).start()
    m = c[0]
    sock = m.socket.parent / "docker.sock"
    try:
        wait(sock.exists, 15, "the Engine API socket")
        out = ok(m, "swarm", "init", "--autolock", "--advertise-addr", c.addr(0))
        assert "To unlock a swarm manager after it restarts, run the `docker swarm unlock`" in out, out
        key = re.search(r"^    (SWMKEY-1-\S{43})$", out, re.M).group(1)  # type: ignore[union-attr]
        assert ok(m, "swarm", "unlock-key", "-q").strip() == key
        assert ok(m, "info", "--format", AUTOLOCK).strip() == "true"
        m.stop()
        m.start()
        wait(sock.exists, 15, "the Engine API socket again")
        assert ok(m, "info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "locked"
        cp = docker(m, "node", "ls")
        assert cp.returncode == 1 and cp.stderr.strip() == (
            'Error response from daemon: Swarm is encrypted and needs to be unlocked before it can be used. '
            'Please use "docker swarm unlock" to unlock it.'), cp.stderr
        cp = docker(m, "swarm", "unlock", input="SWMKEY-1-" + "B" * 43 + "\n")
        assert cp.returncode == 1 and "could not be unlocked: invalid key provided" in cp.stderr, cp.stderr
        cp = docker(m, "swarm", "unlock", input=key + "\n")
        assert cp.returncode == 0, cp.stderr
        wait(lambda: docker(m, "node", "ls").returncode == 0, 30, "the unlocked manager")
        out = ok(m, "swarm", "unlock-key", "--rotate")
        assert out.startswith("Successfully rotated manager unlock key.\nTo unlock a swarm manager"), out
        assert key not in out and ok(m, "swarm", "unlock-key", "-q").strip() in out
        assert ok(m, "swarm", "update", "--autolock=false").strip() == "Swarm updated."
        cp = docker(m, "swarm", "unlock-key")
        assert cp.returncode == 1 and "no unlock key is set" in cp.stderr, cp.stderr
        assert ok(m, "info", "--format", AUTOLOCK).strip() == "false"
    finally:
        c.stop()


COMPOSE = """\
services:
  web:
    image: busybox
    deploy:
      replicas: 2
      labels: [tier=front]
    networks: [front]
    environment: [FAKE_LOG=from the stack]
    configs: [app]
    secrets: [pw]
  db:
    image: busybox
networks:
  front: {}
configs:
  app:
    file: ./app.conf
secrets:
  pw:
    file: ./pw.txt
"""


def test_docker_stack_deploy_runs_a_stack(two: LoopbackCluster, tmp_path: Path) -> None:
    m = two[0]
    ok(m, "swarm", "init", "--advertise-addr", two.addr(0))
    (tmp_path / "compose.yml").write_text(COMPOSE)
    (tmp_path / "app.conf").write_text("key=value\n")
    (tmp_path / "pw.txt").write_text("s3cr3t\n")
    out = ok(m, "stack", "deploy", "-c", "compose.yml", "s", cwd=tmp_path)
    for line in (
        "Creating network s_front",
        "Creating secret s_pw",
        "Creating config s_app",
        "Creating service s_web",
        "Creating service s_db",
    ):
        assert line in out, out
    assert ok(m, "stack", "ls", "--format", "{{.Name}} {{.Services}}").strip() == "s 2"
    wait(
        lambda: (
            sorted(ok(m, "stack", "services", "s", "--format", "{{.Name}} {{.Replicas}}").splitlines())
            == ["s_db 1/1", "s_web 2/2"]
        ),
        30,
        "the stack running",
    )
    ps = ok(m, "stack", "ps", "s", "--format", "{{.Name}} {{.CurrentState}}").splitlines()
    assert sorted(p.split()[0] for p in ps) == ["s_db.1", "s_web.1", "s_web.2"], ps
    labels = ok(m, "service", "inspect", "s_web", "--format", "{{json .Spec.Labels}}")
    assert '"tier":"front"' in labels and '"com.docker.stack.namespace":"s"' in labels, labels
    # deploying again updates in place
    assert "Updating service s_web" in ok(m, "stack", "deploy", "-c", "compose.yml", "s", cwd=tmp_path)
    out = ok(m, "stack", "rm", "s")
    assert "Removing service s_web" in out and "Removing network s_front" in out, out
    wait(lambda: ok(m, "service", "ls", "-q").strip() == "", 30, "the services gone")


def test_docker_cli_job_and_global_services(two: LoopbackCluster) -> None:
    m = two[0]
    ok(m, "swarm", "init", "--advertise-addr", two.addr(0))
    ok(
        m,
        "service",
        "create",
        "-d",
        "--no-resolve-image",
        "--name",
        "job",
        "--mode",
        "replicated-job",
        "--replicas",
        "3",
        "--max-concurrent",
        "2",
        "-e",
        "FAKE_RUN_SECONDS=0.2",
        "busybox",
    )
    ok(m, "service", "create", "-d", "--no-resolve-image", "--name", "gl", "--mode", "global", "busybox")
    wait(
        lambda: (
            sorted(ok(m, "service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}}").splitlines())
            == ["gl global 1/1", "job replicated job 0/0 (3/3 completed)"]
        ),
        60,
        "the job complete, the global running",
    )
    assert ok(m, "service", "ls", "--format", "{{.Name}}", "-f", "mode=replicated-job").split() == ["job"]
    assert (
        ok(m, "service", "inspect", "job", "--format", "{{json .Spec.Mode}}").strip()
        == '{"ReplicatedJob":{"MaxConcurrent":2,"TotalCompletions":3}}'
    )
    # `docker inspect NAME` walks the object types: containers and plugins answer 404, not 501
    assert ok(m, "inspect", "gl", "--format", "{{.Spec.Name}}").strip() == "gl"
    cp = docker(m, "inspect", "nothing")
    assert cp.returncode == 1 and "No such object: nothing" in cp.stderr, cp.stderr
