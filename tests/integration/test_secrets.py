"""Secrets and configs through real daemons on loopback (fake executor): the control API over
each manager's local socket, delivery to the one node whose task needs them, the secrets key
handed only to managers, and the value never on any manager's disk or in any answer."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from swarm.api import control_pb2 as c
from swarm.api import control_pb2_grpc, daemon_pb2, daemon_pb2_grpc
from swarm.api.specs_pb2 import ConfigSpec, SecretSpec, ServiceSpec
from tests.support.daemons import LoopbackCluster, Swarmd

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[LoopbackCluster]:
    cl = LoopbackCluster(tmp_path, 5)
    cl.start()
    cl.form(managers=3, workers=2)
    cl.wait(lambda: len([n for n in cl.node_ls(0) if n["Status"] == "Ready"]) == 5, 90, "5 ready nodes")
    yield cl
    cl.stop()


def control(d: Swarmd) -> control_pb2_grpc.ControlStub:
    return control_pb2_grpc.ControlStub(grpc.insecure_channel(f"unix://{d.socket}"))


def info(d: Swarmd) -> daemon_pb2.InfoResponse:
    return daemon_pb2_grpc.DaemonStub(grpc.insecure_channel(f"unix://{d.socket}")).Info(
        daemon_pb2.InfoRequest())


def refused(call, *args) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as e:
        call(*args)
    return e.value


def service_spec(name: str, node_id: str, secret: str = "", config: str = "") -> ServiceSpec:
    spec = ServiceSpec()
    spec.annotations.name = name
    spec.task.container.image = "busybox"
    spec.replicated.replicas = 1
    spec.task.placement.constraints.append(f"node.id=={node_id}")
    if secret:
        r = spec.task.container.secrets.add(secret_name=secret)
        r.file.name, r.file.mode = "app.key", 0o400
    if config:
        spec.task.container.configs.add(config_name=config)
    return spec


def test_secret_lifecycle_delivery_and_never_in_clear(swarm: LoopbackCluster) -> None:
    cl = swarm
    m0, m2 = control(cl[0]), control(cl[2])
    marker = b"pyswarm-marker-" + uuid.uuid4().hex.encode()
    spec = SecretSpec(data=marker)
    spec.annotations.name = "db.pass"
    spec.annotations.labels["tier"] = "db"
    sec = m0.CreateSecret(c.CreateSecretRequest(spec=spec)).secret
    assert len(sec.id) == 25 and not sec.spec.data and not sec.sealed
    # every manager answers, none with the value or its sealed form
    got = m2.GetSecret(c.GetSecretRequest(secret_id="db.pass")).secret
    assert got.id == sec.id and got.spec.annotations.labels["tier"] == "db"
    assert not got.spec.data and not got.sealed
    listed = m2.ListSecrets(c.ListSecretsRequest()).secrets
    assert [s.id for s in listed] == [sec.id] and not listed[0].spec.data and not listed[0].sealed

    workers = [info(cl[i]).node_id for i in (3, 4)]
    m0.CreateService(c.CreateServiceRequest(spec=service_spec("app", workers[0], secret="db.pass")))
    cl.wait(lambda: sec.id in info(cl[3]).held_secrets, 60, "the secret on the worker running the task")
    assert all(sec.id not in info(cl[i]).held_secrets for i in (0, 1, 2, 4))   # nobody else has it
    svc = m0.GetService(c.GetServiceRequest(service_id="app")).service
    ref = svc.spec.task.container.secrets[0]
    assert (ref.secret_id, ref.secret_name, ref.file.name, ref.file.uid, ref.file.gid, ref.file.mode) == (
        sec.id, "db.pass", "app.key", "0", "0", 0o400)

    e = refused(m0.RemoveSecret, c.RemoveSecretRequest(secret_id="db.pass"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.details() == "secret 'db.pass' is in use by the following service: app"

    m0.RemoveService(c.RemoveServiceRequest(service_id="app"))
    cl.wait(lambda: sec.id not in info(cl[3]).held_secrets, 60, "the worker drops it")
    m0.RemoveSecret(c.RemoveSecretRequest(secret_id="db.pass"))
    assert m2.ListSecrets(c.ListSecretsRequest()).secrets == [] or cl.wait(
        lambda: not m2.ListSecrets(c.ListSecretsRequest()).secrets, 10, "removal replicated")

    # at rest: nothing under any node's data root holds the value, in clear or base64
    needles = (marker, base64.b64encode(marker), base64.b64encode(marker)[:-2])
    for d in cl.daemons:
        for path in d.data_root.rglob("*"):
            if path.is_file() and not path.is_socket() and not path.is_symlink():
                data = path.read_bytes()
                assert not any(n in data for n in needles), f"secret value found in {path}"
        assert marker.decode() not in d.log()


def test_secrets_key_reaches_managers_only(swarm: LoopbackCluster) -> None:
    keys = [(d.data_root / "raft" / "secrets.key") for d in swarm.daemons]
    assert keys[0].stat().st_mode & 0o777 == 0o600
    assert keys[0].read_bytes() == keys[1].read_bytes() == keys[2].read_bytes()
    assert len(keys[0].read_bytes()) == 32
    assert not keys[3].exists() and not keys[4].exists()
    # a secret created through a joined manager opens on the leader's dispatcher
    spec = SecretSpec(data=b"from-m1")
    spec.annotations.name = "via-m1"
    sec = control(swarm[1]).CreateSecret(c.CreateSecretRequest(spec=spec)).secret
    worker = info(swarm[4]).node_id
    control(swarm[0]).CreateService(c.CreateServiceRequest(spec=service_spec("s1", worker, secret="via-m1")))
    swarm.wait(lambda: sec.id in info(swarm[4]).held_secrets, 60, "delivered")


def test_bad_secrets_and_references_are_refused_and_nothing_is_stored(swarm: LoopbackCluster) -> None:
    m = control(swarm[0])

    def create(name: str, data: bytes, **kw) -> grpc.RpcError:
        spec = SecretSpec(data=data, **kw)
        spec.annotations.name = name
        return refused(m.CreateSecret, c.CreateSecretRequest(spec=spec))

    assert create("-bad", b"x").details() == ("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and "
                                              "the start and end character must be [a-zA-Z0-9]")
    assert create("a" * 65, b"x").code() == grpc.StatusCode.INVALID_ARGUMENT
    size_msg = "secret data must be larger than 0 and less than 512000 bytes"
    assert create("empty", b"").details() == size_msg
    assert create("big", b"x" * 512000).details() == size_msg
    ok = SecretSpec(data=b"v")
    ok.annotations.name = "one"
    m.CreateSecret(c.CreateSecretRequest(spec=ok))
    e = refused(m.CreateSecret, c.CreateSecretRequest(spec=ok))
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS and e.details() == "secret one already exists"
    assert [s.spec.annotations.name for s in m.ListSecrets(c.ListSecretsRequest()).secrets] == ["one"]

    # immutable but for labels
    cur = m.GetSecret(c.GetSecretRequest(secret_id="one")).secret
    new = SecretSpec(data=b"changed")
    new.annotations.name = "one"
    e = refused(m.UpdateSecret,
                c.UpdateSecretRequest(secret_id=cur.id, secret_version=cur.meta.version, spec=new))
    assert e.details() == "only updates to Labels are allowed"
    new = SecretSpec(data=b"v")                         # the same value (stack deploy sends it): fine
    new.annotations.name = "one"
    new.annotations.labels["k"] = "v"
    up = m.UpdateSecret(c.UpdateSecretRequest(secret_id=cur.id, secret_version=cur.meta.version, spec=new))
    assert up.secret.spec.annotations.labels["k"] == "v" and not up.secret.sealed

    worker = info(swarm[3]).node_id
    spec = service_spec("x", worker, secret="nope")
    spec.task.container.configs.add(config_name="nada")
    e = refused(m.CreateService, c.CreateServiceRequest(spec=spec))
    assert e.details() == "secret not found: nope"
    spec = service_spec("x", worker)
    spec.task.container.secrets.add(secret_name="nope1")
    spec.task.container.secrets.add(secret_name="nope2")
    assert refused(m.CreateService, c.CreateServiceRequest(spec=spec)).details() == (
        "secrets not found: nope1, nope2")
    spec = service_spec("x", worker)
    spec.task.container.secrets.add(secret_name="one").file.name = "t"
    spec.task.container.secrets.add(secret_name="one").file.name = "t"
    assert refused(m.CreateService, c.CreateServiceRequest(spec=spec)).details() == (
        "secret references 'one' and 'one' have a conflicting target: 't'")
    spec = service_spec("x", worker)
    spec.task.container.mounts.add(type=1, source="v", target="/data")
    spec.task.container.mounts.add(type=2, target="/data/")
    assert refused(m.CreateService, c.CreateServiceRequest(spec=spec)).details() == (
        "ContainerSpec: duplicate mount point: /data/")
    spec = service_spec("x", worker)
    spec.task.container.mounts.add(type=0, source="relative", target="/b")
    e = refused(m.CreateService, c.CreateServiceRequest(spec=spec))
    assert "must be an absolute path: relative" in e.details()
    assert m.ListServices(c.ListServicesRequest()).services == []


def test_configs(swarm: LoopbackCluster) -> None:
    m = control(swarm[0])
    spec = ConfigSpec(data=b"listen 80;\n")
    spec.annotations.name = "nginx.conf"
    cfg = m.CreateConfig(c.CreateConfigRequest(spec=spec)).config
    got = control(swarm[2]).GetConfig(c.GetConfigRequest(config_id=cfg.id[:6])).config
    assert got.spec.data == b"listen 80;\n"
    big = ConfigSpec(data=b"x" * (1000 * 1024))
    big.annotations.name = "big"
    assert refused(m.CreateConfig, c.CreateConfigRequest(spec=big)).details() == (
        "config data must be larger than 0 and less than 1024000 bytes")
    tpl = ConfigSpec(data=b"{{.Service.Name}}")
    tpl.annotations.name = "tpl"
    tpl.templating.name = "mustache"
    assert refused(m.CreateConfig, c.CreateConfigRequest(spec=tpl)).details() == (
        "config template driver 'mustache' is not supported: only golang")
    worker = info(swarm[4]).node_id
    m.CreateService(c.CreateServiceRequest(spec=service_spec("web", worker, config="nginx.conf")))
    swarm.wait(lambda: cfg.id in info(swarm[4]).held_configs, 60, "config delivered")
    assert cfg.id not in info(swarm[3]).held_configs
    e = refused(m.RemoveConfig, c.RemoveConfigRequest(config_id="nginx.conf"))
    assert e.details() == "config 'nginx.conf' is in use by the following service: web"
    ref = m.GetService(c.GetServiceRequest(service_id="web")).service.spec.task.container.configs[0]
    assert (ref.config_id, ref.file.name, ref.file.mode) == (cfg.id, "nginx.conf", 0o444)
