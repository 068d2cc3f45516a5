"""Issue 7 on the testbed: real containers on a VXLAN overlay across hosts, service VIPs and DNS,
the ingress routing mesh answering on every node, and nothing of ours left afterwards."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(600)


def running(sb, svc: str) -> list[dict]:
    return [t for t in sb.tasks(svc, "-f", "desired-state=running")
            if t["CurrentState"].startswith("Running")]


def container_pid(sb, host: str, task_prefix: str) -> int:
    """Host PID of a task's container, from the runtime's state files under the data root."""
    files = sb.tb.data_files(host, "runtime/containers/*/*.json")
    for p, text in files.items():
        if not p.endswith("/state.json"):
            continue
        st = json.loads(text)
        labels = json.loads(files.get(p.removesuffix("state.json") + "config.json", "{}")).get("labels", {})
        tid = labels.get("com.docker.swarm.task.id", "")
        if st.get("status") == "running" and tid.startswith(task_prefix):
            return int(st["pid"])
    raise AssertionError(f"no running container of task {task_prefix} on {host}")


def in_container(sb, host: str, pid: int, *cmd: str) -> str:
    cp = sb.tb.exec(host, "nsenter", "-t", str(pid), "-n", "-m", "-u", "-i", "-p", "--", *cmd, timeout=30)
    return str(cp.stdout) + str(cp.stderr)


def test_overlay_vip_dns_and_routing_mesh(swarm_bed):
    sb = swarm_bed(managers=1, workers=2)
    sb.ok("network", "create", "-d", "overlay", "appnet")
    sb.ok("service", "create", "-d", "--name", "web", "--replicas", "3", "--network", "appnet",
          "-p", "8080:80", sb.image("demo/web:1"))
    sb.tb.wait_for(lambda: len(running(sb, "web")) == 3, timeout=120, what="3 running")
    tasks = running(sb, "web")
    assert sorted(t["Node"] for t in tasks) == ["mgr1", "wkr1", "wkr2"]
    a = next(t for t in tasks if t["Node"] == "wkr1")
    pid = container_pid(sb, "wkr1", a["ID"])
    # DNS: the service name gives its VIP, tasks.NAME every task address (the embedded resolver)
    vip = json.loads(sb.ok("service", "inspect", "web"))[0]["Endpoint"]["VirtualIPs"]
    appnet_id = json.loads(sb.ok("network", "inspect", "appnet"))[0]["ID"]
    app_vip = next(v["Addr"] for v in vip if v["NetworkID"] == appnet_id).split("/")[0]
    out = in_container(sb, "wkr1", pid, "busybox", "nslookup", "web", "127.0.0.11")
    assert app_vip in out, out
    out = in_container(sb, "wkr1", pid, "busybox", "nslookup", "tasks.web", "127.0.0.11")
    assert out.count("Address") >= 3, out
    # across hosts through the VIP (balanced over tasks on every node)
    seen = set()
    for _ in range(12):
        page = in_container(sb, "wkr1", pid, "sh", "-c",
                            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 web 80")
        if "demo/web version 1 on" in page:
            seen.add(page.strip().splitlines()[-1])
    assert len(seen) >= 2, seen
    # the routing mesh: the published port answers on every node, from tasks on >= 2 nodes
    addrs = [sb.tb.address(h) for h in ("mgr1", "wkr1", "wkr2")]
    answers = set()
    for client in ("mgr1", "wkr2"):
        for addr in addrs:
            for _ in range(4):
                body = sb.http(client, addr, 8080)
                assert "demo/web version 1" in body, (client, addr, body)
                answers.add(body.strip())
    assert len(answers) >= 2, answers
    # scaled down to one task, every node still answers
    sb.ok("service", "scale", "-d", "web=1")
    sb.tb.wait_for(lambda: len(running(sb, "web")) == 1 and len(sb.tasks("web")) == 1,
                   timeout=60, what="1 task")
    for addr in addrs:
        sb.tb.wait_for(lambda a=addr: "demo/web" in sb.http("wkr1", a, 8080), timeout=20,
                       what=f"{addr} answers")
    # the port is taken
    r = sb.cli("service", "create", "-d", "--name", "web2", "-p", "8080:80", sb.image("demo/web:1"))
    assert r.returncode == 1 and "already in use by service 'web'" in r.stderr
    # remove everything; a clean stop of every daemon leaves no nft table, link or netns of ours
    sb.ok("service", "rm", "web")
    sb.tb.wait_for(lambda: "web" not in sb.ok("service", "ls"), timeout=30, what="service gone")
    for h in ("wkr1", "wkr2", "mgr1"):
        sb.tb.wait_for(lambda h=h: not sb.tb.data_files(h, "runtime/containers/*"),
                       timeout=60, what=f"containers removed on {h}")
    for h in ("wkr1", "wkr2", "mgr1"):
        sb.tb.kill(h, signal="TERM")
    for h in ("wkr1", "wkr2", "mgr1"):
        nft = sb.tb.exec(h, "nft", "list", "tables").stdout
        links = sb.tb.exec(h, "ip", "-o", "link").stdout
        # the host's own: loopback and the interface holding its address (a veth in a namespace,
        # the NIC of a VM)
        uplink = sb.tb.exec(h, "ip", "-o", "-4", "addr", "show", "to", sb.tb.address(h)).stdout.split()[1]
        assert "table" not in nft.replace("table ip filter", ""), (h, nft)
        ours = [x for x in links.splitlines() if x.split()[1].split("@")[0].rstrip(":") not in ("lo", uplink)]
        assert ours == [], (h, links)


def test_dnsrr_and_a_drained_node_still_routes(swarm_bed):
    sb = swarm_bed(managers=1, workers=2)
    sb.ok("network", "create", "appnet")
    sb.ok("service", "create", "-d", "--name", "rr", "--endpoint-mode", "dnsrr", "--replicas", "2",
          "--network", "appnet", sb.image("demo/web:1"))
    sb.ok("service", "create", "-d", "--name", "pub", "--replicas", "2", "-p", "8081:80",
          "--constraint", "node.hostname!=wkr2", sb.image("demo/web:1"))
    sb.tb.wait_for(lambda: len(running(sb, "rr")) == 2 and len(running(sb, "pub")) == 2, timeout=120,
                   what="both services running")
    rr = running(sb, "rr")[0]
    pid = container_pid(sb, rr["Node"], rr["ID"])
    out = in_container(sb, rr["Node"], pid, "busybox", "nslookup", "rr", "127.0.0.11")
    assert out.count("Address") >= 3, out       # the server line + one per task: no VIP in dnsrr
    assert json.loads(sb.ok("service", "inspect", "rr"))[0]["Endpoint"].get("VirtualIPs", []) == []
    # wkr2 runs no task of `pub` and is drained: the mesh still answers there
    wk2 = next(json.loads(x)["ID"] for x in sb.ok("node", "ls", "--format", "json").splitlines()
               if json.loads(x)["Hostname"] == "wkr2")
    sb.ok("node", "update", "--availability", "drain", wk2)
    sb.tb.wait_for(lambda: "demo/web version 1" in sb.http("mgr1", sb.tb.address("wkr2"), 8081),
                   timeout=30, what="the drained node answers on the published port")


def test_host_mode_publishes_only_where_a_task_runs(swarm_bed):
    sb = swarm_bed(managers=1, workers=2)
    sb.ok("service", "create", "-d", "--name", "hp", "--replicas", "2",
          "--publish", "published=8082,target=80,mode=host", "--constraint", "node.role==worker",
          sb.image("demo/web:1"))
    sb.tb.wait_for(lambda: len(running(sb, "hp")) == 2, timeout=120, what="2 running on the workers")
    assert "8082" not in sb.ok("service", "ls")           # service ls lists ingress ports only
    for host in ("wkr1", "wkr2"):
        sb.tb.wait_for(lambda h=host: "demo/web version 1" in sb.http("mgr1", sb.tb.address(h), 8082),
                       timeout=30, what=f"{host}:8082 answers")
    assert sb.http("wkr1", sb.tb.address("mgr1"), 8082, timeout=2) == ""   # no task there: no port


def test_an_alias_resolves_on_a_node_that_never_ran_the_service(swarm_bed):
    """A stack's short service names (and `--network name=,alias=`) come with the service's route
    to every node on the network, not only to the nodes that ran one of its tasks."""
    sb = swarm_bed(managers=1, workers=1)
    sb.ok("network", "create", "-d", "overlay", "appnet")
    sb.ok("service", "create", "--detach", "--name", "db", "--network", "name=appnet,alias=database",
          "--constraint", "node.hostname==wkr1", sb.image("demo/web:1"))
    probe = ('for i in $(seq 1 30); do nslookup database 2>&1 | grep -q "^Name:" && '
             '{ echo alias-resolved; break; }; sleep 1; done; echo probe-done; exec sleep 100000')
    sb.ok("service", "create", "--detach", "--name", "client", "--network", "appnet",
          "--constraint", "node.hostname==mgr1", "--entrypoint", "sh", sb.image("demo/web:1"), "-c", probe)

    def done() -> str | None:
        out = sb.ok("service", "logs", "--raw", "client")
        return out if "probe-done" in out else None

    out = sb.tb.wait_for(done, timeout=120, what="the client's probe")
    assert "alias-resolved" in out, out
