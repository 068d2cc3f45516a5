"""Issue 17 on loopback: a real swarmd (fake executor) serving the Engine API on the socket next to
its control socket, driven by docker-py (PyPI, pinned) and by raw HTTP for the framing, headers
and status codes; the docker CLI on real containers is tests/e2e/test_engineapi_e2e.py."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import Swarmd, manager_port

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.timeout(300)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=30)
        self.path = str(path)

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.path)
        self.sock = s


def request(sock: Path, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    c = UnixHTTP(sock)
    try:
        data = None if body is None else json.dumps(body).encode()
        c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def wait(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def answers(sock: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(sock))
        return True
    except OSError:
        return False
    finally:
        s.close()


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[Swarmd, Path]]:
    d = Swarmd(tmp_path, extra_args=["--executor", "fake"]).start()
    sock = d.socket.parent / "docker.sock"  # the default: next to the control socket
    wait(lambda: answers(sock), 15, "the Engine API socket")
    d.ok("init", "--advertise-addr", f"127.0.0.1:{manager_port()}")
    yield d, sock
    d.stop()


def test_negotiation_statuses_and_501(manager: tuple[Swarmd, Path]) -> None:
    _, sock = manager
    for method in ("HEAD", "GET"):
        status, headers, body = request(sock, method, "/_ping")
        assert status == 200 and headers["api-version"] == "1.51" and headers["ostype"] == "linux"
        assert headers["swarm"] == "active/manager" and headers["docker-experimental"] == "false"
        assert body == (b"OK" if method == "GET" else b"")
    status, _, body = request(sock, "GET", "/version")
    doc = json.loads(body)
    assert status == 200 and (doc["ApiVersion"], doc["MinAPIVersion"]) == ("1.51", "1.24")
    status, _, body = request(sock, "GET", "/v1.20/info")
    assert status == 400 and b"client version 1.20 is too old" in body
    status, headers, body = request(sock, "GET", "/v1.47/services/nope")
    assert status == 404 and headers["content-type"] == "application/json"
    assert json.loads(body)["message"] == "no such service: nope"  # the control API's words, passed through
    status, _, body = request(sock, "GET", "/v1.47/containers/json")
    assert (status, json.loads(body)) == (200, [])      # the fake executor runs no containers
    status, _, body = request(sock, "POST", "/v1.47/containers/create")
    assert status == 501
    assert json.loads(body) == {
        "message": "POST /v1.47/containers/create is not implemented by pyswarm's Engine API"
    }
    spec = {"Name": "dup", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
    assert request(sock, "POST", "/v1.47/services/create", spec)[0] == 201
    status, _, body = request(sock, "POST", "/v1.47/services/create", spec)
    assert status == 409, body
    status, _, body = request(
        sock, "POST", "/v1.47/services/create", {"Name": "x", "Mode": {"Replicated": 3}}
    )
    assert (
        status == 400
        and json.loads(body)["message"]
        == "invalid ServiceSpec.Mode.Replicated: expected a JSON object, got a number"
    )


def test_docker_py_drives_swarm_nodes_services_networks_secrets_configs(manager: tuple[Swarmd, Path]) -> None:
    _, sock = manager
    client = docker.DockerClient(base_url=f"unix://{sock}", version="auto", timeout=30)
    try:
        assert client.version()["ApiVersion"] == "1.51"
        info = client.info()
        assert info["Swarm"]["LocalNodeState"] == "active" and info["Swarm"]["ControlAvailable"] is True
        assert info["Swarm"]["Cluster"]["ID"] == client.swarm.attrs["ID"]
        assert client.swarm.attrs["JoinTokens"]["Worker"].startswith("SWMTKN-1-")

        (node,) = client.nodes.list()
        assert node.attrs["ManagerStatus"]["Leader"] is True
        node.update({"Availability": "active", "Role": "manager", "Labels": {"zone": "a"}})
        node.reload()
        assert node.attrs["Spec"]["Labels"] == {"zone": "a"}
        assert [n.id for n in client.nodes.list(filters={"node.label": "zone=a"})] == [node.id]
        assert client.nodes.list(filters={"role": "worker"}) == []

        net = client.networks.create("appnet", driver="overlay", labels={"l": "1"})
        assert client.networks.get(net.id).attrs["Labels"] == {"l": "1"}
        assert [n.name for n in client.networks.list(names=["appnet"])] == ["appnet"]

        secret = client.secrets.create(name="pw", data=b"s3cr3t")
        assert client.secrets.get(secret.id).name == "pw"
        assert "Data" not in client.secrets.get(secret.id).attrs["Spec"]
        config = client.configs.create(name="cfg", data=b"key=value")
        assert base64.b64decode(client.configs.get(config.id).attrs["Spec"]["Data"]) == b"key=value"

        t0 = int(time.time()) - 1
        svc = client.services.create(
            "busybox",
            name="web",
            mode=docker.types.ServiceMode("replicated", replicas=3),
            networks=["appnet"],
            env=["FAKE_LOG=hello from web"],
            secrets=[docker.types.SecretReference(secret.id, "pw")],
            configs=[docker.types.ConfigReference(config.id, "cfg")],
        )
        wait(
            lambda: (
                len(
                    [
                        t
                        for t in svc.tasks(filters={"desired-state": "running"})
                        if t["Status"]["State"] == "running"
                    ]
                )
                == 3
            ),
            30,
            "3 running tasks",
        )
        (listed,) = client.api.services(status=True)
        assert listed["ServiceStatus"] == {"RunningTasks": 3, "DesiredTasks": 3, "CompletedTasks": 0}
        task = svc.tasks()[0]
        assert client.api.inspect_task(task["ID"])["ServiceID"] == svc.id
        # the network given by name is stored by ID, as dockerd's populateNetworkID does
        assert svc.attrs["Spec"]["TaskTemplate"]["Networks"] == [{"Target": net.id}]
        with pytest.raises(docker.errors.NotFound):
            client.services.create("busybox", name="lost", networks=["nosuchnet"])
        refs = svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
        assert [s["SecretName"] for s in refs["Secrets"]] == ["pw"]

        # events: what happened since t0, ended by until (docker-py decodes the JSON lines)
        evs = list(client.events(since=t0, until=int(time.time()) + 1, decode=True,
                                 filters={"type": "service"}))
        assert evs[0]["Action"] == "create" and evs[0]["Actor"]["ID"] == svc.id, evs
        assert evs[0]["Actor"]["Attributes"]["name"] == "web" and evs[0]["scope"] == "swarm"
        node.reload()
        node.update({"Availability": "drain", "Role": "manager", "Labels": {"zone": "a"}})
        nodes_seen = list(client.events(since=t0, until=int(time.time()) + 1, decode=True,
                                        filters={"type": "node", "node": node.id}))
        assert {e["Actor"]["ID"] for e in nodes_seen} == {node.id}, nodes_seen
        drained = [e for e in nodes_seen if e["Actor"]["Attributes"].get("availability.new") == "drain"]
        assert drained and drained[0]["Action"] == "update", nodes_seen
        node.reload()
        node.update({"Availability": "active", "Role": "manager", "Labels": {"zone": "a"}})

        # logs: docker-py reads the multiplexed frames itself
        logs = wait(lambda: b"".join(svc.logs(stdout=True, stderr=True)), 30, "service logs")
        assert logs.count(b"hello from web") == 3, logs

        svc.reload()  # the service's version moved since create (endpoint allocation, task writes)
        svc.update(image="busybox:2", force_update=True)
        svc.reload()
        assert svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:2"
        assert svc.attrs["Spec"]["TaskTemplate"]["ForceUpdate"] == 1
        # the rolling update writes the service as it goes: scale once it is done, at the version then
        wait(
            lambda: client.services.get(svc.id).attrs.get("UpdateStatus", {}).get("State") == "completed",
            120,
            "the rolling update to complete",
        )
        svc.reload()
        assert svc.scale(5) is not None
        wait(
            lambda: client.services.get(svc.id).attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 5,
            10,
            "scaled to 5",
        )
        with pytest.raises(docker.errors.APIError) as e:  # a stale version
            client.api.update_service(svc.id, version=1, task_template={"ContainerSpec": {"Image": "x"}})
        # the exact text: docker-py retries an update whose explanation ends with it
        assert e.value.status_code == 409 and e.value.explanation == "update out of sequence"

        # the secret is in use: refused; after the service goes, everything can be removed
        with pytest.raises(docker.errors.APIError) as e:
            secret.remove()
        assert "in use" in str(e.value)
        client.networks.create("spare", driver="overlay")
        assert client.networks.prune() == {"NetworksDeleted": ["spare"]}  # appnet is in use
        svc.remove()
        wait(lambda: client.services.list() == [], 10, "no services")
        secret.remove()
        config.remove()
        net.remove()
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("appnet")
        with pytest.raises(docker.errors.NotFound):
            client.secrets.get("pw")
    finally:
        client.close()


def test_log_stream_framing_and_details(manager: tuple[Swarmd, Path]) -> None:
    d, sock = manager
    d.ok("service", "create", "--detach", "--name", "lg", "-e", "FAKE_LOG=line one", "busybox")
    sid = d.ok("service", "inspect", "lg", "--format", "{{.ID}}").strip()

    def frames() -> list[tuple[int, bytes]] | None:
        status, headers, body = request(
            sock, "GET", f"/v1.47/services/{sid}/logs?stdout=1&stderr=1&details=1"
        )
        assert status == 200 and headers["content-type"] == "application/vnd.docker.multiplexed-stream"
        out = []
        while body:
            stream, size = struct.unpack(">BxxxL", body[:8])
            out.append((stream, body[8 : 8 + size]))
            body = body[8 + size :]
        return out or None

    ((stream, data),) = wait(frames, 30, "a log frame")
    assert stream == 1
    meta, _, text = data.partition(b" ")
    assert text == b"line one\n"
    pairs = dict(kv.split("=", 1) for kv in meta.decode().split(","))
    assert sorted(pairs) == [
        "com.docker.swarm.node.id",
        "com.docker.swarm.service.id",
        "com.docker.swarm.task.id",
    ]
    assert pairs["com.docker.swarm.service.id"] == sid


def test_a_followed_log_stream_does_not_hold_the_daemon_up(manager: tuple[Swarmd, Path]) -> None:
    """aiohttp waits 60 s for open handlers by default; swarmd must stop cleanly (exit 0, not the
    kill Swarmd.stop sends after 20 s) while `docker service logs -f` is attached."""
    d, sock = manager
    d.ok("service", "create", "--detach", "--name", "lg", "-e", "FAKE_LOG=tick", "busybox")
    c = UnixHTTP(sock)
    c.request("GET", "/v1.47/services/lg/logs?stdout=1&follow=1")
    r = c.getresponse()
    assert r.status == 200
    stream, size = struct.unpack(">BxxxL", r.read(8))
    assert (stream, r.read(size)) == (1, b"tick\n")
    assert d.stop() == 0
    assert r.read() == b""          # the stream ended with the daemon
    c.close()
