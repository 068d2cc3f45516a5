"""Issue 17 on the testbed: the stock `docker` CLI (this machine's, no dockerd anywhere) drives a
real 1 + 2 swarm with real containers through each host's Engine API socket (`tb.client` runs the
CLI and docker-py here with DOCKER_HOST naming that host's swarmd --api-host socket; the VM
testbed forwards it from the VM)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from typing import Any

import pytest

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on this machine"),
]


def docker(sb: Any, *args: str, host: str = "mgr1", timeout: float = 180) -> subprocess.CompletedProcess[str]:
    cp: subprocess.CompletedProcess[str] = sb.tb.client(host, "docker", *args, timeout=timeout)
    return cp


def ok(sb: Any, *args: str, host: str = "mgr1", timeout: float = 180) -> str:
    cp = docker(sb, *args, host=host, timeout=timeout)
    assert cp.returncode == 0, f"docker {' '.join(args)} on {host}: {cp.returncode}\n{cp.stdout}{cp.stderr}"
    return cp.stdout


def rows(out: str) -> list[list[str]]:
    return [ln.split() for ln in out.splitlines() if ln.strip()]


def unpinned(image: str) -> str:
    """A pinned ``name:tag@sha256:<64 hex>`` (what the docker CLI stores after GET /distribution)
    as ``name:tag``; anything else fails the test."""
    name, _, digest = image.strip().partition("@")
    assert digest.startswith("sha256:") and len(digest) == 71, image
    return name


def spec_image(sb: Any, svc: str) -> str:
    return ok(sb, "service", "inspect", svc, "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}")


def running(sb: Any, svc: str) -> list[list[str]]:
    """[name, node, image] of the tasks desired and actually running."""
    out = ok(
        sb,
        "service",
        "ps",
        svc,
        "--format",
        "{{.Name}} {{.Node}} {{.Image}} {{.DesiredState}} {{.CurrentState}}",
    )
    return [r[:3] for r in rows(out) if r[3] == "Running" and r[4] == "Running"]


def test_the_docker_cli_drives_the_swarm(swarm_bed: Any) -> None:
    sb = swarm_bed(managers=1, workers=2)
    web1, web2 = sb.image("demo/web:1"), sb.image("demo/web:2")

    # negotiation and the swarm as the CLI sees it
    info = ok(sb, "info")
    assert "Swarm: active" in info and "Is Manager: true" in info and "Nodes: 3" in info, info
    assert json.loads(ok(sb, "version", "--format", "{{json .Server.APIVersion}}")) == "1.51"
    nodes = rows(ok(sb, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}} {{.Self}}"))
    assert sorted(nodes) == [
        ["mgr1", "Ready", "Leader", "true"],
        ["wkr1", "Ready", "false"],
        ["wkr2", "Ready", "false"],
    ], nodes

    # create waits for convergence: the CLI's progress polls services, tasks (_up-to-date) and nodes
    t0 = int(time.time()) - 1
    out = ok(sb, "service", "create", "--name", "web", "--replicas", "3", "-p", "8080:80", web1, timeout=300)
    sid = out.splitlines()[0]
    assert len(sid) == 25 and f"verify: Service {sid} converged" in out, out  # dockerd's words: the id
    tasks = running(sb, "web")
    assert sorted(t[1] for t in tasks) == ["mgr1", "wkr1", "wkr2"], tasks
    assert sorted(t[0] for t in tasks) == ["web.1", "web.2", "web.3"], tasks
    assert rows(ok(sb, "service", "ls", "--format", "{{.Name}} {{.Replicas}} {{.Image}} {{.Ports}}")) == [
        ["web", "3/3", web1, "*:8080->80/tcp"]
    ]
    # the cluster's events as `docker events` shows them: replayed from --since, ended by --until
    until = str(int(time.time()) + 1)
    evs = ok(sb, "events", "--since", str(t0), "--until", until, "--filter", "type=service",
             "--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{.Scope}}")
    assert evs.splitlines()[0] == f"service create {sid} web swarm", evs
    # the routing mesh answers on a node: the service is really there
    sb.tb.wait_for(
        lambda: "demo/web version 1" in sb.http("wkr1", sb.tb.address("mgr1"), 8080),
        timeout=30,
        what="the web service through the mesh",
    )

    # logs in Docker's multiplexed framing, with the task/node/service the CLI resolves
    def starts() -> str | None:
        out = ok(sb, "service", "logs", "web")
        return (
            out
            if sum("demo/web version 1 serving on port 80" in ln for ln in out.splitlines()) == 3
            else None
        )

    logs = sb.tb.wait_for(starts, timeout=30, what="the three start lines in service logs")
    assert all(ln.startswith("web.") and "@" in ln.split("|")[0] for ln in logs.splitlines() if ln.strip()), (
        logs
    )

    # update: the CLI GETs the service and POSTs its spec back with the version
    out = ok(sb, "service", "update", "--image", web2, "web", timeout=300)
    assert "verify: Service web converged" in out, out
    # the CLI pinned the new tag to its digest (GET /distribution): name:tag@sha256:...
    assert unpinned(spec_image(sb, "web")) == web2
    assert sorted(t[2] for t in running(sb, "web")) == [web2] * 3
    ok(sb, "service", "rollback", "web", timeout=300)
    assert unpinned(spec_image(sb, "web")) == web1
    sb.tb.wait_for(
        lambda: sorted(t[2] for t in running(sb, "web")) == [web1] * 3,
        timeout=120,
        what="3 tasks back on the first image",
    )

    # overlay networks
    nid = ok(sb, "network", "create", "-d", "overlay", "appnet").strip()
    assert len(nid) == 25, nid
    assert ["appnet", "overlay", "swarm"] in rows(
        ok(sb, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    )
    ok(sb, "network", "rm", "appnet")

    # the node's own images and volumes: pull with Docker's progress stream, list, inspect, remove
    out = ok(sb, "pull", web2, host="wkr1")
    assert f"Status: Downloaded image for {web2}" in out and "Digest: sha256:" in out, out
    assert [web2.rsplit(":", 1)[0], "2"] in [r[:2] for r in rows(ok(sb, "image", "ls", host="wkr1"))[1:]]
    assert json.loads(ok(sb, "image", "inspect", web2, "--format", "{{json .RepoTags}}", host="wkr1")) == [
        web2
    ]
    assert ok(sb, "volume", "create", "data", host="wkr2").strip() == "data"
    assert ok(sb, "volume", "ls", "-q", host="wkr2").split() == ["data"]
    assert ok(sb, "volume", "ls", "-q", host="wkr1").split() == []  # a node's own
    ok(sb, "volume", "rm", "data", host="wkr2")

    # the node's task containers, as in the course: docker ps / inspect / logs on a worker
    def one_running() -> list[list[str]] | None:   # the rolled-back task's container may still be stopping
        ps = rows(ok(sb, "ps", "--format", "{{.ID}} {{.Image}} {{.Names}} {{.State}}", host="wkr1"))
        return ps if len(ps) == 1 else None

    ps = sb.tb.wait_for(one_running, timeout=60, what="one running container on wkr1")
    # docker ps shows the image without its digest (docker/cli's ContainerContext.Image), --no-trunc with it
    assert ps[0][1] == web1 and ps[0][2].startswith("web.") and ps[0][3] == "running", ps
    full = ok(sb, "ps", "--no-trunc", "--format", "{{.Image}}", host="wkr1").strip()
    assert unpinned(full) == web1, full
    cid, name = ps[0][0], ps[0][2]
    assert len(cid) == 12, cid
    table = ok(sb, "ps", host="wkr1").splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert " Up " in table[1] and table[1].rstrip().endswith(name), table
    every = rows(ok(sb, "ps", "-a", "--format", "{{.Names}} {{.State}}", host="wkr1"))
    assert [name, "running"] in every, every
    assert rows(ok(sb, "ps", "-q", "-f", "label=com.docker.swarm.service.name=web", host="wkr1")) == [[cid]]
    assert ok(sb, "ps", "-q", "-f", "label=com.docker.swarm.service.name=other", host="wkr1").strip() == ""
    fmt = ("{{.State.Status}} {{.Config.Image}} {{.Name}} "
           '{{index .Config.Labels "com.docker.swarm.task.id"}}')
    got = ok(sb, "inspect", name, "--format", fmt, host="wkr1").split()
    assert [got[0], unpinned(got[1]), got[2]] == ["running", web1, "/" + name], got
    assert name.endswith("." + got[3]), got
    assert ok(sb, "inspect", cid, "--format", "{{.Id}}", host="wkr1").strip().startswith(cid)
    sb.tb.wait_for(lambda: "demo/web version 1 serving on port 80" in ok(sb, "logs", name, host="wkr1"),
                   timeout=30, what="the container's start line in docker logs")
    cp = docker(sb, "inspect", "--type", "container", "nosuch", host="wkr1")
    assert cp.returncode == 1 and "No such container: nosuch" in cp.stderr, cp.stderr
    cp = docker(sb, "ps", "-f", "ancestor=x", host="wkr1")
    assert cp.returncode == 1 and "filter 'ancestor' is not supported by pyswarm" in cp.stderr, cp.stderr

    # docker exec into the task's container (how Docker's secrets tutorial reads /run/secrets):
    # the output, the environment and working directory given, the exit code passed on
    assert ok(sb, "exec", name, "cat", "/etc/version", host="wkr1").strip() == "1"
    script = 'echo "$X $(pwd)"; echo err >&2'
    out = ok(sb, "exec", "-e", "X=from-exec", "-w", "/www", name, "sh", "-c", script, host="wkr1")
    assert out == "from-exec /www\nerr\n", out          # stdout and stderr interleaved (README)
    assert ok(sb, "exec", "-u", "nobody", name, "id", "-u", host="wkr1").strip() == "65534"
    assert docker(sb, "exec", name, "sh", "-c", "exit 3", host="wkr1").returncode == 3
    cp = docker(sb, "exec", name, "nosuch", host="wkr1")
    assert cp.returncode == 127 and 'exec: "nosuch": executable file not found in $PATH' in cp.stdout, cp
    cp = docker(sb, "exec", "-t", name, "true", host="wkr1")
    assert cp.returncode != 0 and "exec with a terminal (docker exec -t) is not supported" in cp.stderr, cp

    # what the node does not serve is a clear 501; a worker refuses manager calls as dockerd
    cp = docker(sb, "stop", name, host="wkr1")
    assert cp.returncode != 0 and "is not implemented by pyswarm's Engine API" in cp.stderr, cp.stderr
    cp = docker(sb, "node", "ls", host="wkr1")
    assert cp.returncode == 1 and "This node is not a swarm manager." in cp.stderr, cp.stderr

    # a stack: the CLI turns the compose file into a network and services itself
    compose = (
        f"services:\n  app:\n    image: {web1}\n    deploy:\n      replicas: 2\n    networks: [back]\n"
        "networks:\n  back: {}\n"
    )
    cp = sb.tb.client("mgr1", "docker", "stack", "deploy", "-c", "-", "s", input=compose, timeout=180)
    assert cp.returncode == 0 and "Creating service s_app" in cp.stdout, cp.stdout + cp.stderr
    sb.tb.wait_for(
        lambda: (
            ok(sb, "stack", "services", "s", "--format", "{{.Name}} {{.Replicas}}").split()
            == ["s_app", "2/2"]
        ),
        timeout=120,
        what="the stack's service running",
    )
    assert "Removing service s_app" in ok(sb, "stack", "rm", "s")

    # remove
    assert ok(sb, "service", "rm", "web").strip() == "web"
    assert ok(sb, "service", "ls", "-q").strip() == ""
    cp = docker(sb, "service", "ps", "web")
    assert cp.returncode == 1 and "no such service: web" in cp.stderr, cp.stderr


def test_docker_service_create_with_registry_auth(
    swarm_bed: Any, test_image_layout: Any, tmp_path: Any
) -> None:
    """`docker service create --with-registry-auth`: the CLI sends X-Registry-Auth from its config,
    the edge hands it to the control API (sealed there), the worker pulls from a registry that
    refuses anonymous pulls; inspect never shows it."""
    import base64

    from tests.e2e.conftest import private_registry

    sb = swarm_bed(managers=1, workers=1, daemon_args=["--insecure-registry=10.231.0.1:5001"])
    tb = sb.tb
    image, password = private_registry(sb, test_image_layout, tmp_path)
    basic = base64.b64encode(f"alice:{password}".encode()).decode()
    cfg = tmp_path / "dockercfg"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"auths": {"10.231.0.1:5001": {"auth": basic}}}))

    def dk(*args: str) -> str:
        cp = tb.client("mgr1", "docker", *args, timeout=180, env={"DOCKER_CONFIG": str(cfg)})
        assert cp.returncode == 0, f"docker {' '.join(args)}: {cp.stdout}{cp.stderr}"
        return cp.stdout + cp.stderr

    outputs = [
        dk("service", "create", "-d", "--name", "anon", "--constraint", "node.hostname==wkr1", image),
        dk(
            "service",
            "create",
            "-d",
            "--with-registry-auth",
            "--name",
            "authed",
            "--constraint",
            "node.hostname==wkr1",
            image,
        ),
    ]
    tb.wait_for(
        lambda: [["authed.1", "wkr1", image]] == running(sb, "authed"),
        timeout=120,
        what="the task pulled with the client's credentials running",
    )
    tb.wait_for(
        lambda: "unauthorized" in ok(sb, "service", "ps", "--no-trunc", "anon"),
        timeout=90,
        what="the anonymous pull refused",
    )
    outputs += [dk("service", "inspect", "authed"), dk("service", "ps", "--no-trunc", "authed")]
    assert "PullOptions" not in outputs[2] and "RegistryAuth" not in outputs[2]
    assert not any(n in out for out in outputs for n in (password, basic))


MAKE_SERVICE = """
import sys, docker
c = docker.from_env().api                     # DOCKER_HOST: this host's Engine API (mgr1)
image, data = sys.argv[1], sys.argv[2].encode()
sid = c.create_secret("favorite", data)["ID"]
spec = docker.types.ContainerSpec(image, ["sleep", "100000"],
                                  secrets=[docker.types.SecretReference(sid, "favorite")])
c.create_service(docker.types.TaskTemplate(spec, placement=docker.types.Placement(
    constraints=["node.hostname==wkr1"])), name="reader")
"""

READ_SECRET = """
import json, sys, time, docker
client = docker.from_env()                    # DOCKER_HOST: this host's Engine API (wkr1)
c = client.api
for _ in range(600):                          # docker-py's own suite waits for the container so
    found = c.containers(filters={"name": ["reader"]}, quiet=True)
    if found:
        break
    time.sleep(0.2)
cid = found[0]["Id"]
eid = c.exec_create(cid, "cat /run/secrets/favorite")
out = c.exec_start(eid)
code = c.exec_inspect(eid)["ExitCode"]
res = client.containers.get(cid).exec_run("sh -c 'echo to-out; echo to-err >&2; exit 4'", demux=False)
print(json.dumps({"secret": out.decode(), "code": code, "run": [res.exit_code, res.output.decode()]}))
"""


def test_docker_py_reads_a_secret_through_docker_exec(swarm_bed: Any) -> None:
    """What docker-py's own suite does (test_create_service_with_secret): the service gets its
    secret, and exec_create/exec_start in its container on the node read it back."""
    import sys

    sb = swarm_bed(managers=1, workers=2)
    value = "phantasmagoria of flower view"
    cp = sb.tb.client("mgr1", sys.executable, "-c", MAKE_SERVICE, sb.image("demo/web:1"), value, timeout=120)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    cp = sb.tb.client("wkr1", sys.executable, "-c", READ_SECRET, timeout=240)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    got = json.loads(cp.stdout.strip().splitlines()[-1])
    assert got == {"secret": value, "code": 0, "run": [4, "to-out\nto-err\n"]}, got
    ok(sb, "service", "rm", "reader")
    ok(sb, "secret", "rm", "favorite")


TOP_AND_STATS = """
import json, sys, docker
client = docker.from_env()                    # DOCKER_HOST: this host's Engine API (wkr1)
c = client.containers.get(sys.argv[1])
top = c.top()
once = c.stats(stream=False)
shot = c.stats(stream=False, one_shot=True)
samples = client.api.stats(c.id, stream=True, decode=True)
streamed = [next(samples), next(samples)]
print(json.dumps({"top": top, "once": once, "shot": shot, "streamed": streamed}))
"""


def size(text: str) -> float:
    """A go-units size as the docker CLI prints it (``1.5MiB``, ``2.8kB``, ``0B``) in bytes."""
    import re

    m = re.fullmatch(r"([0-9.]+)([kKMGT]?i?B)", text.strip())
    assert m, text
    scale = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
    return float(m.group(1)) * scale[m.group(2)]


def test_docker_top_and_stats_of_a_task_container(swarm_bed: Any) -> None:
    """`docker top` and `docker stats --no-stream` on a worker list the task container's own
    processes (the test image's httpd) and its cgroup counters; docker-py's top() and stats()
    read the same endpoints."""
    import sys

    sb = swarm_bed(managers=1, workers=1)
    ok(sb, "service", "create", "-d", "--name", "web", "-p", "8080:80", "--constraint",
       "node.hostname==wkr1", sb.image("demo/web:1"))

    def one_running() -> list[list[str]] | None:
        ps = rows(ok(sb, "ps", "--format", "{{.ID}} {{.Names}} {{.State}}", host="wkr1"))
        return ps if len(ps) == 1 and ps[0][2] == "running" else None

    cid, name, _ = sb.tb.wait_for(one_running, timeout=120, what="the task's container on wkr1")[0]
    sb.tb.wait_for(lambda: "demo/web version 1" in sb.http("wkr1", sb.tb.address("wkr1"), 8080),
                   timeout=60, what="the web task answering through the mesh")

    # docker top: ps -ef on the host, the container's rows only
    table = ok(sb, "top", name, host="wkr1").splitlines()
    assert table[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], table
    cmds = [ln.split(None, 7)[7] for ln in table[1:] if ln.strip()]
    assert any(c.startswith("httpd -f -v -p 80") for c in cmds), table
    assert not any("swarmd" in c or c.startswith("ps ") for c in cmds), table    # the host's own: not shown
    pids = [ln.split()[1] for ln in table[1:] if ln.strip()]
    inspect_pid = ok(sb, "inspect", name, "--format", "{{.State.Pid}}", host="wkr1").strip()
    assert inspect_pid in pids, (inspect_pid, table)
    short = rows(ok(sb, "top", cid, "-o", "pid,comm", host="wkr1"))
    assert short[0] == ["PID", "COMMAND"] and ["httpd"] in [r[1:] for r in short[1:]], short
    cp = docker(sb, "top", name, "-o", "user,comm", host="wkr1")
    assert cp.returncode != 0 and "Couldn't find PID field in ps output" in cp.stderr, cp
    cp = docker(sb, "top", name, "--no-such-ps-option", host="wkr1")
    assert cp.returncode != 0 and "Error response from daemon: ps: " in cp.stderr, cp
    cp = docker(sb, "top", "nosuch", host="wkr1")
    assert cp.returncode != 0 and "No such container: nosuch" in cp.stderr, cp

    # docker stats --no-stream: one row, from the container's cgroups and network namespace
    table = ok(sb, "stats", "--no-stream", name, host="wkr1").splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT",
                                "MEM", "%", "NET", "I/O", "BLOCK", "I/O", "PIDS"], table
    assert len(table) == 2 and table[1].startswith(cid) and name in table[1], table
    fmt = "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}"
    got = ok(sb, "stats", "--no-stream", "--format", fmt, name, host="wkr1").strip().split("|")
    assert got[0] == name and got[1].endswith("%"), got
    used, limit = got[2].split(" / ")
    assert size(used) > 0 and size(limit) > size(used), got
    rx, tx = got[3].split(" / ")
    assert size(rx) > 0 and size(tx) > 0, got           # the request through the mesh above
    assert int(got[5]) >= 2, got                          # the shell and httpd at least
    cp = docker(sb, "stats", "--no-stream", "nosuch", host="wkr1")
    assert cp.returncode != 0 and "No such container: nosuch" in cp.stderr, cp

    # docker-py: container.top() and container.stats()
    cp = sb.tb.client("wkr1", sys.executable, "-c", TOP_AND_STATS, name, timeout=120)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    got = json.loads(cp.stdout.strip().splitlines()[-1])
    top = got["top"]
    assert top["Titles"][1] == "PID" and inspect_pid in [p[1] for p in top["Processes"]], top
    assert any(p[-1].startswith("httpd") for p in top["Processes"]), top
    once, shot, streamed = got["once"], got["shot"], got["streamed"]
    assert once["name"] == "/" + name and once["id"].startswith(cid), once
    assert once["memory_stats"]["usage"] > 0 and once["pids_stats"]["current"] >= 2, once
    assert once["cpu_stats"]["online_cpus"] >= 1 and once["cpu_stats"]["system_cpu_usage"] > 0, once
    assert once["cpu_stats"]["cpu_usage"]["total_usage"] > 0, once
    # without one-shot the answer carries the sample taken a second before it
    assert once["preread"] != "0001-01-01T00:00:00Z" and once["preread"][:19] < once["read"][:19], once
    assert (once["precpu_stats"]["system_cpu_usage"] < once["cpu_stats"]["system_cpu_usage"]), once
    assert shot["preread"] == "0001-01-01T00:00:00Z" and shot["memory_stats"]["usage"] > 0, shot
    assert "eth0" in once["networks"] and once["networks"]["eth0"]["rx_bytes"] > 0, once
    assert streamed[1]["preread"] == streamed[0]["read"], streamed
    ok(sb, "service", "rm", "web")
