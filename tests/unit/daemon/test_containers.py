"""swarm.daemon.containers: Docker's container JSON and lookup from the runtime's view of a node
(the views are built here; the real executor's are proven in tests/e2e/test_engineapi_e2e.py)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from node.exec.runtime import ContainerView
from node.runtime.spec import ContainerState, Status
from swarm.api import daemon_pb2 as d
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
