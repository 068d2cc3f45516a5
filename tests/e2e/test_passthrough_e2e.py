"""`service create` pass-through flags and healthchecks with real containers on the testbed:
what the flags ask for is what the process inside sees, and a healthcheck holds a task in
STARTING until it passes and fails the task when it does not."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.timeout(600)

PROBE = "; ".join([
    'echo "pid1=$(tr "\\0" " " < /proc/1/cmdline)"', 'echo "somaxconn=$(cat /proc/sys/net/core/somaxconn)"',
    'echo "nofile=$(ulimit -n)"', 'echo "groups=$(id -G)"',
    'grep -q "10.9.9.9.*db" /etc/hosts && echo hosts-ok', 'echo "oom=$(cat /proc/self/oom_score_adj)"',
    'touch /rootfs-write 2>/dev/null || echo rootfs-ro', 'echo "env=$FROM_FILE/$FROM_CLIENT"',
    'echo "caps=$(grep CapEff /proc/self/status)"', "exec sleep 100000"])


def _wait_log(sb, svc: str, needle: str, timeout: float = 90) -> str:
    last = [""]

    def seen() -> str | None:
        last[0] = out = sb.ok("service", "logs", "--raw", svc, timeout=60)
        return out if needle in out else None

    try:
        return sb.tb.wait_for(seen, timeout=timeout, what=f"{needle!r} in the logs of {svc}")
    except TimeoutError as e:
        raise AssertionError(f"{e}; logs were:\n{last[0]}") from None


def test_pass_through_flags_reach_the_container(swarm_bed) -> None:
    sb = swarm_bed(managers=1, workers=0)
    sb.tb.exec("mgr1", "sh", "-c", "printf 'FROM_FILE=f1\\n# comment\\n' > /tmp/e2e-pt.env", check=True)
    try:
        cp = sb.tb.exec("mgr1", "env", "FROM_CLIENT=c1", "swarm", "service", "create", "--detach",
                        "--name", "pt", "--init", "--sysctl", "net.core.somaxconn=512",
                        "--ulimit", "nofile=1234:2345", "--group", "4321", "--host", "db:10.9.9.9",
                        "--oom-score-adj", "500", "--read-only", "--cap-drop", "ALL",
                        "--env-file", "/tmp/e2e-pt.env", "-e", "FROM_CLIENT",
                        "--log-driver", "json-file", "--log-opt", "max-size=1m",
                        "--entrypoint", "sh", sb.image("demo/web:1"), "-c", PROBE, timeout=120)
    finally:
        sb.tb.exec("mgr1", "rm", "-f", "/tmp/e2e-pt.env")
    assert cp.returncode == 0, cp.stderr
    logs = _wait_log(sb, "pt", "caps=")
    assert "pid1=/sbin/docker-init -- sh -c" in logs, logs
    for want in ("somaxconn=512", "nofile=1234", "hosts-ok", "oom=500", "rootfs-ro", "env=f1/c1",
                 "caps=CapEff:\t0000000000000000"):
        assert want in logs, (want, logs)
    assert "4321" in next(x for x in logs.splitlines() if x.startswith("groups=")), logs
    import json

    spec = json.loads(sb.ok("service", "inspect", "pt"))[0]["Spec"]
    c = spec["TaskTemplate"]["ContainerSpec"]
    assert c["Init"] is True and c["ReadOnly"] is True and c["Sysctls"] == {"net.core.somaxconn": "512"}
    assert c["Ulimits"] == [{"Name": "nofile", "Soft": 1234, "Hard": 2345}] and c["Hosts"] == ["10.9.9.9 db"]
    assert spec["TaskTemplate"]["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "1m"}}

    sb.ok("service", "update", "--detach", "--sysctl-rm", "net.core.somaxconn", "--ulimit-add", "nofile=999",
          "--host-rm", "db", "pt")
    logs = _wait_log(sb, "pt", "nofile=999")
    lines = logs.splitlines()
    assert sum(x.startswith("somaxconn=") for x in lines) == 2 and lines.count("somaxconn=512") == 1, logs
    assert lines.count("hosts-ok") == 1 and sum(x.startswith("caps=") for x in lines) == 2, logs


def test_healthchecks_hold_starting_and_fail_unhealthy_tasks(swarm_bed) -> None:
    sb = swarm_bed(managers=1, workers=0)
    # healthy only once the file exists: the task is Starting until then, Running after
    sb.ok("service", "create", "--detach", "--name", "slow", "--health-cmd", "test -f /tmp/ready",
          "--health-interval", "1s", "--health-retries", "100", "--entrypoint", "sh", sb.image("demo/web:1"),
          "-c", "sleep 4; touch /tmp/ready; exec sleep 100000")
    sb.tb.wait_for(lambda: any(t["CurrentState"].startswith("Starting") for t in sb.tasks("slow")),
                   timeout=60, what="the task starting (not yet healthy)")
    sb.tb.wait_for(lambda: any(t["CurrentState"].startswith("Running") for t in sb.tasks("slow")),
                   timeout=60, what="the task running once healthy")
    # never healthy: the task fails as Docker's does and the restart policy replaces it
    sb.ok("service", "create", "--detach", "--name", "sick", "--health-cmd", "false",
          "--health-interval", "1s", "--health-retries", "1", "--entrypoint", "sh", sb.image("demo/web:1"),
          "-c", "exec sleep 100000")

    def failed() -> str | None:
        out = sb.ok("service", "ps", "--no-trunc", "sick")
        return out if "unhealthy container" in out else None

    out = sb.tb.wait_for(failed, timeout=90, what="the unhealthy task failed")
    assert "Failed" in out, out
    cp = sb.cli("service", "create", "--name", "x", "--no-healthcheck", "--health-cmd", "true",
                sb.image("demo/web:1"))
    assert cp.returncode != 0 and "--no-healthcheck conflicts with --health-* options" in cp.stderr


def test_service_logs_since(swarm_bed) -> None:
    sb = swarm_bed(managers=1, workers=0)
    sb.ok("service", "create", "--detach", "--name", "clock", "--label", "team=a", "--entrypoint", "sh",
          "--container-label", "tier=back", "-e", "STAGE=prod", "--log-driver", "json-file",
          "--log-opt", "labels=tier,absent", "--log-opt", "env=STAGE", sb.image("demo/web:1"),
          "-c", "echo early; sleep 2; echo late; exec sleep 100000")
    logs = _wait_log(sb, "clock", "late")
    stamped = sb.ok("service", "logs", "--raw", "--timestamps", "clock").splitlines()
    late_ts = next(x.split()[0] for x in stamped if x.endswith(" late"))
    out = sb.ok("service", "logs", "--raw", "--since", late_ts, "clock")
    assert out.splitlines() == ["late"], (out, logs)
    tail1 = sb.ok("service", "logs", "--raw", "--since", "2000-01-01", "--tail", "1", "clock")
    assert tail1.splitlines() == ["late"]
    assert sb.ok("service", "logs", "--raw", "--since", "1h", "clock").splitlines() == ["early", "late"]
    # --details: the attributes the log options name; Docker's order with timestamps
    detailed = sb.ok("service", "logs", "--details", "--timestamps", "clock").splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z clock\.1\.[0-9a-z]{12}@mgr1    \| "
                        r"STAGE=prod,tier=back early", detailed[0]), detailed
    assert sb.ok("service", "logs", "--raw", "--details", "clock").splitlines() == \
        ["STAGE=prod,tier=back early", "STAGE=prod,tier=back late"]
    # node ps / service ps -f label= match the service's labels
    assert len(sb.ok("node", "ps", "-q", "-f", "label=team=a", "self").split()) == 1
    assert len(sb.ok("service", "ps", "-q", "-f", "label=team", "clock").split()) == 1
    assert sb.ok("node", "ps", "-q", "-f", "label=team=b", "self") == ""
    # -t: stdin, stdout and stderr are a pseudo-terminal (isatty), its output logged; the pty comes
    # from the shim's side, so ttyname() inside finds no /dev/pts entry for it (README deviations)
    sb.ok("service", "create", "--detach", "--name", "term", "-t", "--entrypoint", "sh",
          sb.image("demo/web:1"), "-c",
          'test -t 0 && test -t 1 && test -t 2 && echo "on a tty"; exec sleep 100000')
    term = _wait_log(sb, "term", "on a tty")
    assert "on a tty" in term, term
    assert json.loads(sb.ok("service", "inspect", "term"))[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["TTY"]
    cp = sb.cli("service", "logs", "--since", "yesterday", "clock")
    assert cp.returncode != 0 and 'invalid argument "yesterday" for "--since" flag' in cp.stderr


def test_dns_flags_name_the_embedded_dns_upstream_and_resolv_conf(swarm_bed) -> None:
    import sys
    from pathlib import Path

    sb = swarm_bed(managers=1, workers=1)
    fake = Path(__file__).resolve().parent.parent / "support" / "fakedns.py"
    sb.tb.infra(sys.executable, str(fake), "10.231.0.1", "192.0.2.77")     # killed with the testbed
    sb.ok("network", "create", "-d", "overlay", "appnet")
    probe = ('cat /etc/resolv.conf; for i in 1 2 3 4 5 6 7 8 9 10; do '
             'nslookup outside.test 2>&1 | grep -q 192.0.2.77 && { echo resolved-outside; break; }; '
             'sleep 1; done; nslookup dnsweb 2>&1 | grep -q "^Name:" && echo resolved-service; '
             'echo probe-done; exec sleep 100000')
    sb.ok("service", "create", "--detach", "--name", "dnsweb", "--network", "appnet", "--dns", "10.231.0.1",
          "--dns-search", "corp.test", "--dns-option", "timeout:2", "--entrypoint", "sh",
          sb.image("demo/web:1"), "-c", probe)
    logs = _wait_log(sb, "dnsweb", "probe-done")
    lines = logs.splitlines()
    assert "search corp.test" in lines and "nameserver 127.0.0.11" in lines, logs
    assert "options timeout:2 ndots:0" in lines, logs
    assert "resolved-outside" in lines, logs          # other names asked of the --dns server
    assert "resolved-service" in lines, logs          # the stack's own names still answered here
    # without --dns the host's upstreams are asked: the fake server's answer never comes
    sb.ok("service", "create", "--detach", "--name", "plain", "--network", "appnet", "--entrypoint", "sh",
          sb.image("demo/web:1"), "-c", 'nslookup outside.test 2>&1 | grep -c 192.0.2.77; echo done-plain; '
          'exec sleep 100000')
    plain = _wait_log(sb, "plain", "done-plain")
    assert "resolved" not in plain and plain.splitlines()[0] == "0", plain
    cp = sb.cli("service", "create", "--name", "x", "--dns", "not-an-ip", sb.image("demo/web:1"))
    assert cp.returncode != 0 and "IP address is not correctly formatted: not-an-ip" in cp.stderr


def test_generic_resources_are_counted_and_each_task_gets_its_own(swarm_bed) -> None:
    sb = swarm_bed(managers=1, workers=1, daemon_args=["--node-generic-resource=gpu=GPU-0",
                                                       "--node-generic-resource=gpu=GPU-1"])
    sb.ok("service", "create", "--detach", "--name", "gpu", "--replicas", "4", "--generic-resource", "gpu=1",
          "--entrypoint", "sh", sb.image("demo/web:1"),
          "-c", 'echo "got=$(hostname):$DOCKER_RESOURCE_GPU"; exec sleep 100000')

    def four_lines() -> list[str] | None:
        out = sb.ok("service", "logs", "--raw", "gpu")
        got = sorted(x for x in out.splitlines() if x.startswith("got="))
        return got if len(got) == 4 else None

    got = sb.tb.wait_for(four_lines, timeout=120, what="4 tasks with a gpu each")
    by_node: dict[str, list[str]] = {}
    for t in sb.tasks("gpu"):
        by_node.setdefault(t["Node"], []).append(t["ID"])
    assert sorted(len(v) for v in by_node.values()) == [2, 2], by_node      # 2 GPUs per node
    assert sorted(x.split(":")[1] for x in got) == ["GPU-0", "GPU-0", "GPU-1", "GPU-1"], got
    sb.ok("service", "scale", "--detach", "gpu=5")

    def one_pending() -> str | None:
        out = sb.ok("service", "ps", "--no-trunc", "gpu")
        return out if "insufficient resources on 2 nodes" in out else None

    sb.tb.wait_for(one_pending, timeout=60, what="the fifth task pending for lack of a gpu")
    spec = json.loads(sb.ok("service", "inspect", "gpu"))[0]["Spec"]["TaskTemplate"]["Resources"]
    assert spec["Reservations"]["GenericResources"] == [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}]
    node = json.loads(sb.ok("node", "inspect", "self"))[0]["Description"]["Resources"]
    assert node["GenericResources"] == [{"NamedResourceSpec": {"Kind": "gpu", "Value": "GPU-0"}},
                                        {"NamedResourceSpec": {"Kind": "gpu", "Value": "GPU-1"}}], node
