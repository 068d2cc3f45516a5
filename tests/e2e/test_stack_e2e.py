"""Issue 16 on the testbed: the course's two-service app (a web front end counting visits in
Redis) deployed from a Compose file as a stack, with real containers.

Redis runs from Debian's binaries (tests/support/stack_images.py) with its ACL file as a
secret, the count on a named volume and a healthcheck; three web replicas (busybox httpd + a
CGI script speaking RESP through ``nc`` to the service name ``redis``) fill a page template
that is a config, behind a published port. The test asks the port on every node through the
routing mesh and sees the count grow, restarts the Redis task and sees the count kept on the
volume, re-deploys with an override file changing the replica count (only that service is
updated), and `stack rm` leaves no service, network, secret or config.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)

ACL = "user default on nopass -@all +ping\nuser counter on >c0unt-s3cret ~* +@all\n"

COMPOSE = """\
version: "3.8"
services:
  web:
    image: {registry}/demo/counter:1
    ports:
      - "8080:80"
    environment:
      # the full service name: the short alias `redis` resolves only on nodes where a redis
      # task ran (node/network learns aliases from local tasks; see the test's note)
      REDIS_HOST: app_redis
    secrets: [redis_acl]
    configs:
      - source: page
        target: /etc/page.tmpl
    deploy:
      replicas: ${{WEB_REPLICAS:-3}}
  redis:
    image: {registry}/demo/redis:7
    command: [/run/secrets/redis_acl, --dir, /data, --appendonly, "yes", --appendfsync, always,
              --protected-mode, "no"]
    volumes:
      - counts:/data
    secrets: [redis_acl]
    healthcheck:
      test: [CMD, /usr/bin/redis-cli, ping]
      interval: 1s
      timeout: 5s
      retries: 5
    deploy:
      placement:
        constraints: [node.labels.redis == yes]
    depends_on: [web]
    container_name: should-be-ignored
volumes:
  counts:
secrets:
  redis_acl:
    file: ./redis-acl.conf
configs:
  page:
    file: ./page.tmpl
"""

OVERRIDE = """\
services:
  web:
    deploy:
      replicas: 4
"""


@pytest.fixture
def stack_bed(swarm_bed, tmp_path_factory):
    from tests.support import stack_images

    why = stack_images.missing()
    if why:
        pytest.skip(why)
    layout = stack_images.build_stack_images(tmp_path_factory.mktemp("stack-images"))
    sb = swarm_bed(managers=1, workers=2)
    infra = sb.registry
    for name, ref in stack_images.STACK_IMAGES.items():
        cp = sb.tb.exec("infra", "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                        f"oci:{layout}:{ref}", f"docker://{infra}/{name}", timeout=120)
        assert cp.returncode == 0, cp.stderr
    return sb


def running(sb, svc: str) -> list[dict]:
    return [t for t in sb.tasks(svc, "-f", "desired-state=running")
            if t["CurrentState"].startswith("Running")]


def page(sb, client: str, addr: str) -> str:
    cp = sb.tb.exec(client, "curl", "-s", "--max-time", "8", f"http://{addr}:8080/cgi-bin/count", timeout=20)
    return str(cp.stdout)


def visits(sb, client: str, addr: str) -> tuple[int, str] | None:
    m = re.search(r"Hello from (\S+): (\d+) visits", page(sb, client, addr))
    return (int(m.group(2)), m.group(1)) if m else None


def in_task(sb, host: str, task_prefix: str, script: str) -> str:
    """Run a busybox shell script in the namespaces of a task's container on host."""
    files = sb.tb.data_files(host, "runtime/containers/*/*.json")
    for p, text in files.items():
        if not p.endswith("/state.json") or not text:
            continue
        st = json.loads(text)
        config = files.get(p[: -len("state.json")] + "config.json") or "{}"
        tid = json.loads(config).get("labels", {}).get("com.docker.swarm.task.id", "")
        if st.get("status") == "running" and tid.startswith(task_prefix):
            cp = sb.tb.exec(host, "nsenter", "-t", str(st["pid"]), "-n", "-m", "-u", "-p", "--",
                            "/bin/busybox", "sh", "-c", script, timeout=30)
            return str(cp.stdout) + str(cp.stderr)
    raise AssertionError(f"no running container of task {task_prefix} on {host}")


def test_course_app_as_a_stack(stack_bed, tmp_path):
    sb = stack_bed
    d = tmp_path / "app"
    d.mkdir()
    (d / "docker-compose.yml").write_text(COMPOSE.format(registry=sb.registry))
    (d / "override.yml").write_text(OVERRIDE)
    (d / "redis-acl.conf").write_text(ACL)
    (d / "page.tmpl").write_text("Hello from {{host}}: {{visits}} visits\n")
    compose, override = str(d / "docker-compose.yml"), str(d / "override.yml")
    sb.ok("node", "update", "--label-add", "redis=yes", "wkr1")

    # an external secret that does not exist: refused before anything is made
    (d / "bad.yml").write_text("services:\n  x:\n    image: busybox\n    secrets: [nope]\n"
                               "secrets:\n  nope:\n    external: true\n")
    cp = sb.cli("stack", "deploy", "-c", str(d / "bad.yml"), "app")
    assert cp.returncode == 1 and 'secret "nope" is declared as external, but could not be found' in cp.stderr
    assert sb.ok("service", "ls", "-q").strip() == ""
    assert "app_default" not in sb.ok("network", "ls")

    cp = sb.cli("stack", "deploy", "-c", compose, "app")
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout
    assert "Ignoring deprecated options:" in cp.stderr and "container_name: " in cp.stderr, cp.stderr
    assert out.splitlines() == ["Creating network app_default", "Creating secret app_redis_acl",
                                "Creating config app_page", "Creating service app_web",
                                "Creating service app_redis"], out
    assert sb.ok("stack", "ls", "--format", "{{.Name}} {{.Services}}").split() == ["app", "2"]
    svcs = sb.ok("stack", "services", "app", "--format", "{{.Name}} {{.Mode}}").splitlines()
    assert sorted(svcs) == ["app_redis replicated", "app_web replicated"]
    insp = json.loads(sb.ok("service", "inspect", "app_web"))[0]
    assert insp["Spec"]["Labels"]["com.docker.stack.namespace"] == "app"
    assert insp["Spec"]["Labels"]["com.docker.stack.image"] == f"{sb.registry}/demo/counter:1"

    sb.tb.wait_for(lambda: len(running(sb, "app_web")) == 3 and len(running(sb, "app_redis")) == 1,
                   timeout=240, what="3 web tasks and redis running (healthy)")
    (redis_task,) = running(sb, "app_redis")
    assert redis_task["Node"] == "wkr1"
    ps = sb.ok("stack", "ps", "app", "--format", "{{.Name}}").split()
    assert sorted(n.rsplit(".", 1)[0] for n in ps) == ["app_redis", "app_web", "app_web", "app_web"], ps

    # the short name is an alias on the stack network: `redis` and `app_redis` give one VIP in
    # a web container on the redis node (elsewhere the alias is not known yet: node/network
    # learns aliases from tasks that ran on the node)
    (web_wkr1,) = [t for t in running(sb, "app_web") if t["Node"] == "wkr1"]
    names = in_task(sb, "wkr1", web_wkr1["ID"], "nslookup redis 127.0.0.11; nslookup app_redis 127.0.0.11")
    vips = re.findall(r"Address: (10\.\d+\.\d+\.\d+)", names)
    assert len(vips) == 2 and vips[0] == vips[1], names

    # through the routing mesh on every node, the count grows, served by several replicas
    addrs = [sb.tb.address(h) for h in ("mgr1", "wkr1", "wkr2")]
    for addr in addrs:
        sb.tb.wait_for(lambda a=addr: visits(sb, "mgr1", a), timeout=60, what=f"a count from {addr}")
    counts, hosts = [], set()
    for _ in range(3):
        for client, addr in zip(("wkr2", "mgr1", "wkr1"), addrs, strict=True):
            body = page(sb, client, addr)
            m = re.search(r"Hello from (\S+): (\d+) visits", body)
            assert m, (client, addr, body)
            got = (int(m.group(2)), m.group(1))
            counts.append(got[0])
            hosts.add(got[1])
    assert counts == sorted(counts) and counts[-1] >= counts[0] + 8, counts
    assert len(hosts) >= 2, hosts

    # restart the redis task (same node: the constraint): the count is kept on its volume
    before = counts[-1]
    sb.ok("service", "update", "-d", "--force", "app_redis")
    sb.tb.wait_for(lambda: [t for t in running(sb, "app_redis") if t["ID"] != redis_task["ID"]],
                   timeout=180, what="a new redis task running")
    after = sb.tb.wait_for(lambda: visits(sb, "wkr2", addrs[2]), timeout=60, what="a count after the restart")
    assert after[0] == before + 1, (before, after)

    # re-deploy with an override: only the web service changes
    (new_redis,) = running(sb, "app_redis")
    web_id = json.loads(sb.ok("service", "inspect", "app_web"))[0]["ID"]
    out = sb.ok("stack", "deploy", "-c", compose, "-c", override, "app")
    assert out.splitlines() == [f"Updating service app_web (id: {web_id})"], out
    sb.tb.wait_for(lambda: len(running(sb, "app_web")) == 4, timeout=120, what="4 web tasks")
    assert [t["ID"] for t in running(sb, "app_redis")] == [new_redis["ID"]]
    assert sb.ok("stack", "deploy", "-c", compose, "-c", override, "app").strip() == ""   # nothing changed

    # stack rm: services, then secret, config and network; nothing of the stack is left
    out = sb.ok("stack", "rm", "app", timeout=400)
    assert out.splitlines() == ["Removing service app_redis", "Removing service app_web",
                                "Removing secret app_redis_acl", "Removing config app_page",
                                "Removing network app_default"], out
    assert sb.ok("service", "ls", "-q").strip() == ""
    for h in ("mgr1", "wkr1", "wkr2"):       # rm waited for the tasks: their containers are gone
        sb.tb.wait_for(lambda h=h: not sb.tb.data_files(h, "runtime/containers/*"),
                       timeout=60, what=f"containers removed on {h}")
    assert "app_" not in sb.ok("network", "ls")
    assert "app_" not in sb.ok("secret", "ls")
    assert "app_" not in sb.ok("config", "ls")
    assert sb.ok("stack", "ls", "--format", "{{.Name}}").strip() == ""


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "compose"


def test_fixtures_deploy_prune_and_refusals(swarm_bed, tmp_path):
    """The fixtures with several networks and with configs and secrets deploy for real (their
    registry from a .env beside them); --prune; refusals leave nothing half-deployed."""
    sb = swarm_bed(managers=1, workers=2)
    d = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, d)
    (d / ".env").write_text(f"REGISTRY={sb.registry}\n")
    nets_file, cfg_file = str(d / "networks.yml"), str(d / "configs-secrets.yml")

    # the merged, interpolated file; from stdin too
    assert f"image: {sb.registry}/demo/web:1" in sb.ok("stack", "config", "-c", nets_file)
    cp = sb.tb.exec("mgr1", "swarm", "stack", "config", "-c", "-",
                    input="services:\n  s:\n    image: x:${T:-9}\n")
    assert cp.returncode == 0 and "image: x:9" in cp.stdout, cp.stderr

    # externals first: the network and the secret the files name
    cp = sb.cli("stack", "deploy", "-c", nets_file, "nets")
    assert cp.returncode == 1 and 'network "shared-net" is declared as external' in cp.stderr
    sb.ok("network", "create", "shared-net")
    sb.tb.exec("mgr1", "swarm", "secret", "create", "site-tls-key", "-", input="key\n", check=True)

    out = sb.ok("stack", "deploy", "-c", nets_file, "nets")
    assert out.splitlines() == ["Creating network nets_backend", "Creating network nets_frontend",
                                "Creating service nets_proxy", "Creating service nets_api",
                                "Creating service nets_shared"], out
    out = sb.ok("stack", "deploy", "--no-detach", "-c", cfg_file, "cfg", timeout=300)   # waits
    assert out.splitlines()[:6] == ["Creating network cfg_default", "Creating secret cfg_api_key",
                                    "Creating config cfg_app_conf", "Creating config plain-motd",
                                    "Creating service cfg_app", "Waiting for service cfg_app"], out
    assert out.rstrip().endswith("converged"), out
    assert len(running(sb, "cfg_app")) == 1
    backend = json.loads(sb.ok("network", "inspect", "nets_backend"))[0]
    assert backend["Spec"]["Internal"] is True and backend["IPAM"]["Config"][0]["Subnet"] == "10.77.0.0/24"
    assert backend["Spec"]["Annotations"]["Labels"]["com.docker.stack.namespace"] == "nets"
    assert json.loads(sb.ok("network", "inspect", "nets_frontend"))[0]["Attachable"] is True
    assert "nets_unused" not in sb.ok("network", "ls")
    sb.tb.wait_for(lambda: len(running(sb, "nets_api")) == 3 and len(running(sb, "nets_proxy")) == 1
                   and len(running(sb, "nets_shared")) == 1 and len(running(sb, "cfg_app")) == 1,
                   timeout=240, what="every fixture service running")
    assert sb.ok("stack", "ls").split() == ["NAME", "SERVICES", "cfg", "1", "nets", "3"]

    # the files' secrets and configs are where the references say, with their modes
    (app_task,) = running(sb, "cfg_app")
    files = in_task(sb, app_task["Node"], app_task["ID"],
                    "cat /etc/app.conf /run/secrets/api_key /motd; stat -c '%a %u %n' /etc/app.conf "
                    "/run/secrets/server.key /run/secrets/api_key")
    assert files.splitlines() == ["listen=80", "k-123", "hello", "440 0 /etc/app.conf",
                                  "400 33 /run/secrets/server.key", "444 0 /run/secrets/api_key"], files

    # a published port held by another stack: refused, nothing made
    (d / "clash.yml").write_text(f"services:\n  web:\n    image: {sb.registry}/demo/web:1\n"
                                 "    ports: ['8081:80']\n")
    cp = sb.cli("stack", "deploy", "-c", str(d / "clash.yml"), "clash")
    assert cp.returncode == 1
    assert cp.stderr.strip() == ("port 8081/tcp of service 'clash_web' is already published by service "
                                 "'nets_proxy' (outside stack clash)"), cp.stderr
    # a schema error: the key path, nothing made
    (d / "bad.yml").write_text("services:\n  web:\n    image: x\n    deploy:\n      replicas: many\n")
    cp = sb.cli("stack", "deploy", "-c", str(d / "bad.yml"), "clash")
    assert cp.returncode == 1 and "services.web.deploy.replicas: must be an integer" in cp.stderr, cp.stderr
    assert "clash" not in sb.ok("service", "ls") + sb.ok("network", "ls")

    # --prune: a service no longer in the file goes, the others are left as they are
    pruned = d / "networks-pruned.yml"
    text = (d / "networks.yml").read_text()
    pruned.write_text(text.replace(text[text.index("  shared:"):text.index("networks:\n  frontend")], ""))
    api_tasks = sorted(t["ID"] for t in running(sb, "nets_api"))
    assert sb.ok("stack", "deploy", "-c", str(pruned), "nets").strip() == ""       # no --prune: kept
    out = sb.ok("stack", "deploy", "--prune", "-c", str(pruned), "nets")
    assert out.splitlines() == ["Removing service nets_shared"], out
    assert sorted(t["ID"] for t in running(sb, "nets_api")) == api_tasks

    for ns in ("nets", "cfg"):
        sb.ok("stack", "rm", ns, timeout=400)
    assert sb.ok("service", "ls", "-q").strip() == ""
    nets = sb.ok("network", "ls")
    assert "shared-net" in nets and "nets_" not in nets and "cfg_" not in nets   # external ones stay
    secrets = sb.ok("secret", "ls")
    assert "site-tls-key" in secrets and "cfg_api_key" not in secrets
    assert sb.ok("config", "ls", "-q").strip() == ""
    r = sb.cli("stack", "rm", "nets")
    assert r.returncode == 0 and r.stderr.strip() == "Nothing found in stack: nets"
