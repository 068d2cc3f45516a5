"""swarm.daemon.containers: Docker's container JSON and lookup from the runtime's view of a node
(the views are built here, and by RuntimeExecutor.container_views over a fake runtime and network
layer; the real executor's are proven in tests/integration/test_exec_network.py and
tests/e2e/test_engineapi_e2e.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest

from node.exec.runtime import ContainerView, HostPort, host_ports
from node.network.errors import NetworkError
from node.network.model import Endpoint
from node.runtime.spec import ContainerState, Status
from swarm.api import daemon_pb2 as d
from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import PortConfig
from swarm.daemon import containers as c

NOW = 1_800_000_000.0


def iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "123456789Z"


def view(cid: str, name: str, status: str = "running", *, started: float = NOW - 200,
         health: dict[str, Any] | None = None, labels: dict[str, str] | None = None,
         exit_code: int | None = None, finished: float | None = None) -> ContainerView:
    st = ContainerState(id=cid, status=Status(status), pid=42 if status == "running" else None,
                        exit_code=exit_code, started_at=iso(started), created_at=iso(started - 1),
                        finished_at=iso(finished) if finished else None, name=name,
                        labels=labels or {})
    cfg = {"image": "demo/web:1", "image_id": "sha256:" + "ab" * 32,
           "process": {"argv": ["/bin/httpd", "-f", "-p", "80"], "env": ["A=1"], "cwd": "/",
                       "user": "0", "hostname": cid[:12], "groups": [], "rlimits": [["nofile", 10, 20]]},
           "rootfs": f"/data/runtime/containers/{cid}/rootfs", "lowers": ["/l1", "/l2"],
           "mounts": [{"type": "bind", "source": "/vol/_data", "target": "/data", "read_only": False,
                       "propagation": "rprivate", "volume": "data"},
                      {"type": "tmpfs", "source": "", "target": "/tmp", "read_only": False,
                       "propagation": "", "volume": None}],
           "limits": {"memory_bytes": 64 << 20, "nano_cpus": None, "pids": 10}, "tty": False}
    return ContainerView(st, cfg, health)


def daemon_with(views: list[ContainerView]) -> Any:
    async def container_views() -> list[ContainerView]:
        return views

    return SimpleNamespace(agent=SimpleNamespace(executor=SimpleNamespace(container_views=container_views)))


def test_status_text_is_dockers() -> None:
    assert c.status_text(view("a" * 32, "w.1.x"), NOW) == "Up 3 minutes"
    healthy = view("a" * 32, "w.1.x", health={"Status": "healthy"})
    assert c.status_text(healthy, NOW) == "Up 3 minutes (healthy)"
    assert (c.status_text(view("a" * 32, "w.1.x", health={"Status": "starting"}), NOW)
            == "Up 3 minutes (health: starting)")
    exited = view("a" * 32, "w.1.x", "exited", exit_code=137, finished=NOW - 7200)
    assert c.status_text(exited, NOW) == "Exited (137) 2 hours ago"
    assert c.status_text(view("a" * 32, "w.1.x", "created"), NOW) == "Created"


def test_summary_and_inspect_shapes() -> None:
    v = view("a" * 32, "web.1.abc")
    s = c.summary(v, NOW)
    assert s["Names"] == ["/web.1.abc"] and s["Image"] == "demo/web:1" and s["State"] == "running"
    assert s["Command"] == "/bin/httpd -f -p 80" and s["Created"] == int(NOW - 201)
    assert s["Mounts"][0] == {"Type": "volume", "Name": "data", "Source": "/vol/_data",
                              "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True,
                              "Propagation": ""}
    assert s["Mounts"][1]["Type"] == "tmpfs" and s["Mounts"][1]["Source"] == ""
    i = c.inspect_doc(v)
    assert i["Path"] == "/bin/httpd" and i["Args"] == ["-f", "-p", "80"] and i["Name"] == "/web.1.abc"
    assert i["State"]["Running"] is True and i["State"]["Pid"] == 42
    assert i["State"]["FinishedAt"] == c.ZERO_TIME
    assert "Health" not in i["State"]
    assert i["Config"]["Image"] == "demo/web:1" and i["Image"] == "sha256:" + "ab" * 32
    assert i["HostConfig"]["Memory"] == 64 << 20 and i["HostConfig"]["PidsLimit"] == 10
    assert i["HostConfig"]["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert i["LogPath"] == f"/data/runtime/containers/{'a' * 32}/container.log"
    json.dumps(i)     # the daemon sends it as JSON text
    healthy = c.inspect_doc(view("b" * 32, "x", health={"Status": "healthy", "FailingStreak": 0, "Log": []}))
    assert healthy["State"]["Health"]["Status"] == "healthy"


def test_find_by_id_name_and_unique_prefix() -> None:
    a, b = view("abc1" + "0" * 28, "web.1.x"), view("abc2" + "0" * 28, "web.2.y")
    assert c.find([a, b], a.state.id) is a
    assert c.find([a, b], "web.2.y") is b and c.find([a, b], "/web.2.y") is b
    assert c.find([a, b], "abc2") is b
    with pytest.raises(c.AmbiguousContainerError, match="multiple IDs found with provided prefix: abc"):
        c.find([a, b], "abc")
    with pytest.raises(c.NoSuchContainerError, match="No such container: nope"):
        c.find([a, b], "nope")
    with pytest.raises(c.NoSuchContainerError):
        c.find([a, b], "")


def listed(views: list[ContainerView], *filters: str, all: bool = False) -> list[str]:
    r = asyncio.run(c.list_containers(daemon_with(views), d.ContainerListRequest(all=all, filters=filters)))
    return [json.loads(x)["Names"][0] for x in r.containers_json]


def test_list_filters_and_all() -> None:
    up = view("a" * 32, "web.1.x", labels={"com.docker.swarm.service.name": "web", "tier": "front"},
              health={"Status": "healthy"})
    old = view("b" * 32, "web.1.old", "exited", exit_code=0, finished=NOW - 60, started=NOW - 600,
               labels={"com.docker.swarm.service.name": "web"})
    db = view("c" * 32, "db.1.z", started=NOW - 30, labels={"com.docker.swarm.service.name": "db"})
    views = [up, old, db]
    assert listed(views) == ["/db.1.z", "/web.1.x"]                       # running only, newest first
    assert listed(views, all=True) == ["/db.1.z", "/web.1.x", "/web.1.old"]
    assert listed(views, "status=exited") == ["/web.1.old"]               # a status filter implies all
    assert listed(views, "label=com.docker.swarm.service.name=web", all=True) == ["/web.1.x", "/web.1.old"]
    assert listed(views, "label=tier") == ["/web.1.x"]
    assert listed(views, "name=db") == ["/db.1.z"]
    assert listed(views, "id=ccc") == ["/db.1.z"]
    assert listed(views, "health=healthy") == ["/web.1.x"]
    assert listed(views, "health=none") == ["/db.1.z"]
    assert listed(views, "is-task=false") == []


@pytest.mark.parametrize(("flt", "msg"), [
    ("color=red", "invalid filter 'color'"),
    ("status=sleeping", "invalid filter 'status=sleeping'"),
    ("health=meh", "Unrecognised filter value for health: meh"),
    ("label", "invalid filter 'label'"),
])
def test_bad_filters_are_refused_naming_them(flt: str, msg: str) -> None:
    with pytest.raises(c.InvalidRequestError, match=msg):
        listed([], flt)


def test_a_node_without_the_runtime_executor_has_no_containers() -> None:
    nobody = SimpleNamespace(agent=None)
    assert asyncio.run(c.list_containers(nobody, d.ContainerListRequest(all=True))).containers_json == []
    with pytest.raises(c.NoSuchContainerError):
        asyncio.run(c.inspect(nobody, d.ContainerInspectRequest(id="x")))


def test_the_name_is_dockers_svc_slot_taskid_so_an_old_task_of_the_slot_does_not_shadow_it() -> None:
    old = view("a" * 32, "web.2", "exited", exit_code=0, finished=NOW - 5,
               labels={"com.docker.swarm.task.id": "old1"})
    new = view("b" * 32, "web.2", labels={"com.docker.swarm.task.id": "new2"})
    assert c.summary(new, NOW)["Names"] == ["/web.2.new2"]
    assert c.find([old, new], "web.2.new2") is new and c.find([old, new], "web.2.old1") is old
    with pytest.raises(c.NoSuchContainerError):
        c.find([old, new], "web.2")


def on_networks(v: ContainerView, *ports: HostPort) -> ContainerView:
    """``v`` with the interfaces of its sandbox (ingress first, as attached) and host ports."""
    eps = (Endpoint("ingid", "ingress", "10.0.0.7/24", "02:42:0a:00:00:07", "e1" * 32, ""),
           Endpoint("appid", "app", "10.0.1.5/24", "02:42:0a:00:01:05", "e2" * 32, ""))
    v.config["netns_path"] = "/run/netns/swc-abc"
    return dataclasses.replace(v, endpoints=eps, ports=ports)


def test_inspect_networks_keyed_by_name_with_the_sandboxes_addresses() -> None:
    v = on_networks(view("a" * 32, "web.1", labels={"com.docker.swarm.task.id": "t1"}))
    ns = c.inspect_doc(v)["NetworkSettings"]
    assert list(ns["Networks"]) == ["app", "ingress"]           # Go marshals the map sorted
    assert ns["SandboxKey"] == "/run/netns/swc-abc"
    assert ns["Networks"]["app"] == {
        "IPAMConfig": {"IPv4Address": "10.0.1.5"}, "Links": None, "Aliases": None,
        "MacAddress": "02:42:0a:00:01:05", "DriverOpts": None, "NetworkID": "appid",
        "EndpointID": "e2" * 32, "Gateway": "", "IPAddress": "10.0.1.5", "IPPrefixLen": 24,
        "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "DNSNames": ["web.1.t1", "a" * 12],                      # name, short id; hostname = short id
    }
    assert ns["Networks"]["ingress"]["IPAddress"] == "10.0.0.7"
    assert ns["Ports"] == {}
    json.dumps(ns)


def test_list_networks_carry_moby_views_subset() -> None:
    s = c.summary(on_networks(view("a" * 32, "web.1")), NOW)
    app = s["NetworkSettings"]["Networks"]["app"]
    assert (app["IPAddress"], app["NetworkID"]) == ("10.0.1.5", "appid")
    assert app["MacAddress"] == "02:42:0a:00:01:05"
    assert app["DNSNames"] is None and app["Aliases"] is None
    assert s["Ports"] == []


def test_host_mode_ports_are_container_ports_as_docker_shows_them() -> None:
    v = on_networks(view("a" * 32, "web.1"), HostPort("tcp", 80, 8080), HostPort("udp", 53, 5353),
                    HostPort("tcp", 9000, 0))
    s = c.summary(v, NOW)
    assert s["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                          {"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"},
                          {"PrivatePort": 9000, "Type": "tcp"}]      # exposed, not bound
    i = c.inspect_doc(v)
    assert i["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                                             "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
                                             "9000/tcp": None}
    assert i["HostConfig"]["PortBindings"]["80/tcp"] == [{"HostIp": "", "HostPort": "8080"}]
    assert i["Config"]["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "9000/tcp": {}}


def test_a_container_without_a_sandbox_has_no_networks_nor_ports() -> None:
    v = view("a" * 32, "web.1")
    i = c.inspect_doc(v)
    assert i["NetworkSettings"]["Networks"] == {} and i["NetworkSettings"]["Ports"] == {}
    assert i["NetworkSettings"]["SandboxKey"] == "" and i["Config"]["ExposedPorts"] is None
    assert c.summary(v, NOW)["NetworkSettings"] == {"Networks": {}}


def test_host_ports_take_host_mode_only_ingress_is_the_meshs() -> None:
    t = Task(id="t1")
    t.endpoint.ports.add(protocol=PortConfig.TCP, target_port=80, published_port=8080,
                         publish_mode=PortConfig.INGRESS)
    t.endpoint.ports.add(protocol=PortConfig.UDP, target_port=53, published_port=5353,
                         publish_mode=PortConfig.HOST)
    assert host_ports(t) == (HostPort("udp", 53, 5353),)


class _Net:
    """The executor's SandboxNetwork, answering sandbox_endpoints only."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.asked: list[str] = []

    async def sandbox_endpoints(self, container_id: str) -> list[Endpoint]:
        self.asked.append(container_id)
        if self.fail:
            raise NetworkError("driver gone")
        return [Endpoint("appid", "app", "10.0.1.5/24", "02:42:0a:00:01:05", "e2" * 32, "")]


def _executor_views(net: _Net, cfgs: dict[str, dict[str, Any]],
                    task: Task | None = None) -> list[ContainerView]:
    from node.exec.runtime import RuntimeExecutor

    states = [ContainerState(id=cid, status=Status("running"), name="web.1", labels={}) for cid in cfgs]
    rt = SimpleNamespace(root="/data/runtime", list=lambda: states, config=lambda cid: cfgs[cid])

    async def go() -> list[ContainerView]:
        x = RuntimeExecutor(rt, images=SimpleNamespace(), hostname="n1", network=net)  # type: ignore[arg-type]
        held = x.controller(task) if task is not None else None     # the agent holds its controllers
        try:
            return await x.container_views()
        finally:
            del held
            await x.close()

    return asyncio.run(go())


def test_the_executor_puts_the_sandboxes_interfaces_and_the_tasks_host_ports_in_the_views() -> None:
    from node.exec.containerspec import container_id

    t = Task(id="t1")
    t.endpoint.ports.add(protocol=PortConfig.TCP, target_port=80, published_port=8080,
                         publish_mode=PortConfig.HOST)
    cid, bare = container_id("t1"), "b" * 32
    net = _Net()
    views = _executor_views(net, {cid: {"netns_path": "/run/netns/x"}, bare: {}}, task=t)
    by_id = {v.state.id: v for v in views}
    assert [e.ip_cidr for e in by_id[cid].endpoints] == ["10.0.1.5/24"]
    assert by_id[cid].ports == (HostPort("tcp", 80, 8080),)
    assert by_id[bare].endpoints == () and by_id[bare].ports == ()   # no sandbox, no controller
    assert net.asked == [cid]


def test_a_sandbox_the_network_layer_cannot_describe_does_not_fail_the_listing() -> None:
    views = _executor_views(_Net(fail=True), {"c" * 32: {"netns_path": "/run/netns/x"}})
    assert [v.endpoints for v in views] == [()]
