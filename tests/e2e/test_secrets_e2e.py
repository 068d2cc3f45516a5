"""Secrets, configs, volumes, binds and tmpfs with real containers on the testbed.

A secret reaches only the node whose task uses it (the node's agent says which it holds, by
id), appears in the container as a tmpfs file with the asked owner and mode, is dropped by the
node when the task goes, is refused removal while a service uses it, and rotates with
``--secret-rm/--secret-add`` (the task is replaced). Its value is in no file under any node's
data root and in no CLI output. A named volume keeps its data across a task restart and a
rolling update on one node; a new volume gets the image's content; binds, tmpfs and read-only
mounts do what they say; an anonymous volume goes with its container.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import pytest

pytestmark = pytest.mark.timeout(900)

READER = ('stat -c "secret %a %u %g" /run/secrets/pw; md5sum /run/secrets/pw; '
          'stat -c "config %a %u %g" /etc/site.conf; cat /etc/site.conf; '
          'grep " /run/secrets/pw " /proc/mounts; exec sleep 100000')


def _logs(sb, svc: str) -> str:
    return sb.ok("service", "logs", "--raw", svc, timeout=60)


def _wait_log(sb, svc: str, needle: str, timeout: float = 90) -> str:
    last = [""]

    def seen() -> str | None:
        last[0] = out = _logs(sb, svc)
        return out if needle in out else None

    try:
        return sb.tb.wait_for(seen, timeout=timeout, what=f"{needle!r} in the logs of {svc}")
    except TimeoutError as e:
        raise AssertionError(f"{e}; logs were:\n{last[0]}") from None


def _held(sb, host: str) -> list[str]:
    out = sb.ok("info", "-f", "{{json .Swarm.HeldSecrets}}", host=host)
    return json.loads(out)


def _running_on(sb, svc: str) -> list[str]:
    return [t["Node"] for t in sb.tasks(svc)
            if t["DesiredState"] == "Running" and t["CurrentState"].startswith("Running")]


def test_secrets_and_configs_on_real_containers(swarm_bed) -> None:
    sb = swarm_bed(managers=1, workers=2)
    tb = sb.tb
    value = "s3cr3t-" + secrets.token_hex(8)
    value2 = "r0tated-" + secrets.token_hex(8)
    outputs: list[str] = []

    def run(*args: str, host: str = "mgr1", input: str | None = None) -> str:
        cp = tb.cli(host, *args, input=input, timeout=120)
        outputs.append(cp.stdout + cp.stderr)
        assert cp.returncode == 0, f"swarm {' '.join(args)}: {cp.stdout}{cp.stderr}"
        return cp.stdout

    sid = run("secret", "create", "--label", "app=db", "db_pass", "-", input=value).strip()
    cid = run("config", "create", "site.conf", "-", input="listen 8080\n").strip()
    assert len(sid) == 25 and len(cid) == 25
    ls = run("secret", "ls")
    assert ls.splitlines()[0].split() == ["ID", "NAME", "DRIVER", "CREATED", "UPDATED"] and "db_pass" in ls
    doc = json.loads(run("secret", "inspect", "db_pass"))[0]
    assert doc["ID"] == sid and doc["Spec"] == {"Name": "db_pass", "Labels": {"app": "db"}}
    assert "Name:              db_pass" in run("secret", "inspect", "--pretty", "db_pass")
    cdoc = json.loads(run("config", "inspect", "site.conf"))[0]
    assert base64.b64decode(cdoc["Spec"]["Data"]) == b"listen 8080\n"

    run("service", "create", "--detach", "--name", "reader", "--constraint", "node.hostname==wkr1",
        "--secret", "source=db_pass,target=pw,uid=33,gid=34,mode=0400",
        "--config", "source=site.conf,target=/etc/site.conf",
        "--entrypoint", "sh", sb.image("demo/web:1"), "-c", READER)
    logs = _wait_log(sb, "reader", "/run/secrets/pw tmpfs")
    assert "secret 400 33 34" in logs, logs
    assert f"{hashlib.md5(value.encode()).hexdigest()}  /run/secrets/pw" in logs, logs
    assert "config 444 0 0" in logs and "listen 8080" in logs, logs
    # on a tmpfs (never on disk), read-only in the container
    assert any(line.startswith("tmpfs /run/secrets/pw tmpfs ro,") for line in logs.splitlines()), logs
    svc = json.loads(run("service", "inspect", "reader"))[0]
    ref = svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]
    assert ref == {"SecretID": sid, "SecretName": "db_pass",
                   "File": {"Name": "pw", "UID": "33", "GID": "34", "Mode": 0o400}}, ref
    pretty = run("service", "inspect", "--pretty", "reader")
    assert "Secrets:\n Target:        pw\n  Source:       db_pass" in pretty, pretty

    # only the node with the task holds it, in its agent's memory
    assert _held(sb, "wkr1") == [sid]
    assert _held(sb, "wkr2") == [] and _held(sb, "mgr1") == []

    cp = tb.cli("mgr1", "secret", "rm", "db_pass")
    assert cp.returncode != 0 and "secret 'db_pass' is in use by the following service: reader" in cp.stderr
    assert tb.cli("mgr1", "config", "rm", "site.conf").returncode != 0

    # rotation: a new secret at the same target replaces the task
    sid2 = run("secret", "create", "db_pass2", "-", input=value2).strip()
    run("service", "update", "--detach", "--secret-rm", "db_pass", "--secret-add",
        "source=db_pass2,target=pw,mode=0400", "reader")
    _wait_log(sb, "reader", f"{hashlib.md5(value2.encode()).hexdigest()}  /run/secrets/pw")
    tb.wait_for(lambda: _held(sb, "wkr1") == [sid2], timeout=60, what="wkr1 to hold only the new secret")
    run("secret", "rm", "db_pass")
    assert run("secret", "ls", "--format", "{{.Name}}").split() == ["db_pass2"]

    run("service", "rm", "reader")
    tb.wait_for(lambda: _held(sb, "wkr1") == [], timeout=60, what="wkr1 to drop the secret")
    run("secret", "rm", "db_pass2")
    run("config", "rm", "site.conf")
    assert run("secret", "ls", "-q") == "" and run("config", "ls", "-q") == ""

    # the values: in no file under any node's data root, in no CLI output
    needles = [v for x in (value, value2) for v in (x, base64.b64encode(x.encode()).decode())]
    for host in tb.hosts:
        root = tb.host(host).data_root
        for needle in needles:
            cp = tb.exec(host, "grep", "-r", "-l", "-a", "-F", needle, root, timeout=120)
            assert cp.returncode == 1, f"{needle!r} found under {host}:{root}: {cp.stdout}{cp.stderr}"
    for out in outputs:
        assert not any(n in out for n in needles)


TEMPLATE = ('svc={{.Service.Name}} slot={{.Task.Slot}} node={{.Node.Hostname}} '
            'greet={{env "GREETING"}} pw={{secret "tpw"}} tier={{index .Service.Labels "tier"}}\n')


def test_a_templated_config_is_rendered_for_each_task(swarm_bed) -> None:
    """``--template-driver golang``: each task's file is the template rendered with its own
    service, slot, node, environment and a secret of its own (swarmkit's template context)."""
    sb = swarm_bed(managers=1, workers=2)
    tb = sb.tb
    assert tb.cli("mgr1", "secret", "create", "tpw", "-", input="pw-42", timeout=60).returncode == 0
    cp = tb.cli("mgr1", "config", "create", "--template-driver", "golang", "tpl", "-",
                 input=TEMPLATE, timeout=60)
    assert cp.returncode == 0, cp.stderr
    doc = json.loads(sb.ok("config", "inspect", "tpl"))[0]
    assert doc["Spec"]["Templating"] == {"Name": "golang"}, doc
    assert base64.b64decode(doc["Spec"]["Data"]).decode() == TEMPLATE     # stored as given
    sb.ok("service", "create", "--detach", "--name", "tpl", "--replicas", "2", "--replicas-max-per-node", "1",
          "--constraint", "node.role==worker", "--label", "tier=front", "-e", "GREETING=hello",
          "--secret", "tpw", "--config", "source=tpl,target=/etc/t.conf",
          "--entrypoint", "sh", sb.image("demo/web:1"), "-c", "cat /etc/t.conf; exec sleep 100000")
    logs = _wait_log(sb, "tpl", "slot=2")
    logs = _wait_log(sb, "tpl", "slot=1")
    lines = sorted(ln[ln.index("svc="):] for ln in logs.splitlines() if "svc=" in ln)
    nodes = sorted(ln.split("node=")[1].split()[0] for ln in lines)
    assert nodes == ["wkr1", "wkr2"], lines
    for slot, line in zip((1, 2), lines, strict=True):
        assert line.startswith(f"svc=tpl slot={slot} node=") and line.endswith(
            " greet=hello pw=pw-42 tier=front"), lines
    sb.ok("service", "rm", "tpl")
    sb.ok("config", "rm", "tpl")
    sb.ok("secret", "rm", "tpw")


def test_bad_references_are_refused_before_anything_is_stored(swarm_bed) -> None:
    sb = swarm_bed(managers=1, workers=0)
    cp = sb.cli("service", "create", "--name", "x", "--secret", "nope", "--secret", "nada",
                sb.image("demo/web:1"))
    assert cp.returncode != 0 and "secrets not found: nope, nada" in cp.stderr, cp.stderr
    cp = sb.cli("service", "create", "--name", "x", "--mount", "target=/a", "--mount", "type=tmpfs,target=/a",
                sb.image("demo/web:1"))
    assert cp.returncode != 0 and "duplicate mount point: /a" in cp.stderr, cp.stderr
    cp = sb.cli("service", "create", "--name", "x", "--mount", "type=bind,target=/a",
                sb.image("demo/web:1"))
    assert cp.returncode != 0 and "source" in cp.stderr, cp.stderr
    cp = sb.cli("service", "create", "--name", "x", "--mount", "type=volume,source=a,target=/a,colour=red",
                sb.image("demo/web:1"))
    assert cp.returncode != 0 and "unexpected key 'colour'" in cp.stderr, cp.stderr
    cp = sb.tb.cli("mgr1", "secret", "create", "big", "-", input="x" * 600_000)
    assert cp.returncode != 0 and "secret data must be larger than 0 and less than 512000 bytes" in cp.stderr
    cp = sb.tb.cli("mgr1", "secret", "create", "bad/name", "-", input="v")
    assert cp.returncode != 0 and "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed" in cp.stderr
    cp = sb.tb.cli("mgr1", "config", "create", "--template-driver", "mustache", "t", "-", input="v")
    assert cp.returncode != 0, cp.stdout
    assert "config template driver 'mustache' is not supported: only golang" in cp.stderr, cp.stderr
    assert sb.ok("service", "ls", "-q") == "" and sb.ok("secret", "ls", "-q") == ""


COUNTER = ('n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo "count=$n"; '
           'cat /host/f; echo "ro=$(touch /host/x 2>&1)"; ls /etc/passwd; grep " /scratch " /proc/mounts; '
           'touch /scratch/ok && echo scratch-writable; '
           '[ "$n" = 1 ] && exit 1; exec sleep 100000')


def test_volumes_binds_and_tmpfs_on_one_node(swarm_bed, tmp_path) -> None:
    sb = swarm_bed(managers=1, workers=1)
    tb = sb.tb
    host_dir = tmp_path / "bind"      # on wkr1 (on the VM testbed: in that VM)
    tb.put_file("wkr1", str(host_dir / "f"), "from-the-host\n")
    assert tb.exec("wkr1", "cat", str(host_dir / "f")).stdout == "from-the-host\n"

    sb.ok("service", "create", "--detach", "--name", "counter", "--constraint", "node.hostname==wkr1",
          "--restart-delay", "0s",
          "--mount", "type=volume,source=counter,target=/data",
          "--mount", "source=etcvol,target=/etc",
          "--mount", f"type=bind,source={host_dir},target=/host,readonly",
          "--mount", "type=tmpfs,target=/scratch,tmpfs-size=1m",
          "--mount", "type=volume,target=/anon",
          "--entrypoint", "sh", sb.image("demo/web:1"), "-c", COUNTER)
    # the first run exits 1 after counting; the restart policy starts a second one on the volume
    logs = _wait_log(sb, "counter", "count=2", timeout=120)
    assert "count=1" in logs and "from-the-host" in logs, logs
    assert "Read-only file system" in logs, logs                 # the bind is read-only
    assert "/etc/passwd" in logs, logs                           # the image's /etc copied into etcvol
    assert "tmpfs /scratch tmpfs rw" in logs and "size=1024k" in logs and "scratch-writable" in logs, logs

    vols = sb.ok("volume", "ls", "--format", "{{.Name}}", host="wkr1").split()
    assert "counter" in vols and "etcvol" in vols, vols
    anon = [v for v in vols if len(v) == 64]
    assert anon, vols
    assert sb.ok("volume", "ls", "-q", host="mgr1") == ""                    # volumes are per node
    doc = json.loads(sb.ok("volume", "inspect", "counter", host="wkr1"))[0]
    assert doc["Driver"] == "local" and doc["Mountpoint"].endswith("/counter/_data"), doc
    cp = tb.cli("wkr1", "volume", "rm", "counter")
    assert cp.returncode != 0 and "remove counter: volume is in use - [" in cp.stderr, cp.stderr
    assert tb.exec("wkr1", "cat", doc["Mountpoint"] + "/n").stdout.strip() == "2"

    # a rolling update on the same node keeps the data
    sb.ok("service", "update", "--detach", "--force", "counter")
    _wait_log(sb, "counter", "count=3", timeout=120)
    tb.wait_for(lambda: _running_on(sb, "counter") == ["wkr1"], timeout=60, what="the updated task")

    sb.ok("service", "rm", "counter")
    tb.wait_for(lambda: not [v for v in sb.ok("volume", "ls", "-q", host="wkr1").split() if len(v) == 64]
                and tb.cli("wkr1", "volume", "rm", "counter").returncode == 0,
                timeout=60, what="the anonymous volume gone and counter free")
    assert sb.ok("volume", "ls", "-q", host="wkr1").split() == ["etcvol"]
    out = sb.ok("volume", "prune", "-a", "-f", host="wkr1")
    assert out.startswith("Deleted Volumes:\netcvol\n") and "Total reclaimed space:" in out, out
    cp = tb.cli("wkr1", "volume", "inspect", "counter")
    assert cp.returncode != 0 and "no such volume" in cp.stderr


def test_a_missing_bind_source_rejects_the_task_with_dockers_message(swarm_bed) -> None:
    sb = swarm_bed(managers=1, workers=0)
    sb.ok("service", "create", "--detach", "--name", "nobind", "--mount",
          "type=bind,source=/nonexistent-swarm-e2e,target=/x", sb.image("demo/web:1"))

    def rejected() -> str | None:
        out = sb.ok("service", "ps", "--no-trunc", "nobind")
        return out if "bind source path does not exist: /nonexistent-swarm-e2e" in out else None

    out = sb.tb.wait_for(rejected, timeout=90, what="the task rejected")
    assert "Rejected" in out, out


def test_with_registry_auth_pulls_from_a_private_registry(swarm_bed, test_image_layout, tmp_path) -> None:
    from tests.e2e.conftest import private_registry

    sb = swarm_bed(managers=1, workers=1, daemon_args=["--insecure-registry=10.231.0.1:5001"])
    tb = sb.tb
    image, password = private_registry(sb, test_image_layout, tmp_path)
    basic = base64.b64encode(f"alice:{password}".encode()).decode()
    cfg_dir = tmp_path / "dockercfg"   # the client's, on mgr1 where the CLI runs
    tb.put_file("mgr1", str(cfg_dir / "config.json"),
                json.dumps({"auths": {"10.231.0.1:5001": {"auth": basic}}}), mode=0o600)

    def swarm(*args: str) -> str:
        cp = tb.exec("mgr1", "env", f"DOCKER_CONFIG={cfg_dir}", "swarm", *args, timeout=120)
        assert cp.returncode == 0, f"swarm {' '.join(args)}: {cp.stdout}{cp.stderr}"
        return cp.stdout + cp.stderr

    outputs = [swarm("service", "create", "--detach", "--name", "anon", "--constraint", "node.hostname==wkr1",
                     image)]
    outputs.append(swarm("service", "create", "--detach", "--name", "authed", "--with-registry-auth",
                         "--constraint", "node.hostname==wkr1", image))
    tb.wait_for(lambda: any(t["CurrentState"].startswith("Running") for t in sb.tasks("authed")),
                timeout=120, what="the task pulled with the client's credentials running")

    def anon_refused() -> str | None:
        out = sb.ok("service", "ps", "--no-trunc", "anon")
        return out if "unauthorized" in out else None

    tb.wait_for(anon_refused, timeout=90, what="the anonymous pull refused")
    outputs += [swarm("service", "inspect", "authed"), swarm("service", "ps", "--no-trunc", "authed"),
                swarm("service", "update", "--detach", "--env-add", "X=1", "authed")]
    # an update without the flag keeps the credentials: the new task pulls too
    def updated_running() -> bool:
        ts = sb.tasks("authed")
        return len(ts) == 2 and any(t["DesiredState"] == "Running" and t["CurrentState"].startswith("Running")
                                    for t in ts) and any(t["DesiredState"] == "Shutdown" for t in ts)

    tb.wait_for(updated_running, timeout=120, what="the updated task running")
    # a stack deployed with --with-registry-auth pulls the same way
    compose = tmp_path / "stack.yml"
    tb.put_file("mgr1", str(compose), f"services:\n  web:\n    image: {image}\n    deploy:\n"
                "      placement:\n        constraints: [node.hostname==wkr1]\n")
    outputs.append(swarm("stack", "deploy", "--with-registry-auth", "-c", str(compose), "priv"))
    tb.wait_for(lambda: any(t["CurrentState"].startswith("Running") for t in sb.tasks("priv_web")),
                timeout=120, what="the stack's task pulled with the client's credentials running")
    encoded = json.loads(outputs[2])[0]
    assert "PullOptions" not in json.dumps(encoded)
    needles = [password, basic]
    for out in outputs:
        assert not any(n in out for n in needles), out
    for host in tb.hosts:
        root = tb.host(host).data_root
        for needle in needles:
            cp = tb.exec(host, "grep", "-r", "-l", "-a", "-F", needle, root, timeout=120)
            assert cp.returncode == 1, f"{needle!r} found under {host}:{root}: {cp.stdout}{cp.stderr}"
