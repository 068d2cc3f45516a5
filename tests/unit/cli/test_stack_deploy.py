"""swarm/cli/stack/deploy.py on a fake control API: the plan checks everything before the first
write, writes in Docker's order with Docker's lines, updates only changed services, prunes, says
what was made when a write fails midway, and `stack rm` removes in Docker's order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Config, Network, Secret, Service
from swarm.api.specs_pb2 import ServiceSpec
from swarm.api.types_pb2 import PortConfig
from swarm.cli.client import CLIError
from swarm.cli.stack import convert, deploy, schema

NS = "com.docker.stack.namespace"


class FakeControl:
    """The control API's list/create/update/remove calls over in-memory objects."""

    def __init__(self) -> None:
        self.networks: list[Network] = []
        self.secrets: list[Secret] = []
        self.configs: list[Config] = []
        self.services: list[Service] = []
        self.writes: list[str] = []
        self.fail_on: str | None = None
        self._n = 0

    def _id(self) -> str:
        self._n += 1
        return f"id{self._n}"

    def _write(self, what: str) -> None:
        if what == self.fail_on:
            raise CLIError(f"Error response from daemon: {what} refused")
        self.writes.append(what)

    def ListNetworks(self, req: Any) -> Any:
        return c.ListNetworksResponse(networks=self.networks)

    def ListSecrets(self, req: Any) -> Any:
        return c.ListSecretsResponse(secrets=self.secrets)

    def ListConfigs(self, req: Any) -> Any:
        return c.ListConfigsResponse(configs=self.configs)

    def ListServices(self, req: Any) -> Any:
        return c.ListServicesResponse(services=self.services)

    def ListTasks(self, req: Any) -> Any:
        return c.ListTasksResponse()

    def CreateNetwork(self, req: Any) -> Any:
        self._write(f"create network {req.spec.annotations.name}")
        self.networks.append(Network(id=self._id(), spec=req.spec))
        return c.CreateNetworkResponse(network=self.networks[-1])

    def CreateSecret(self, req: Any) -> Any:
        self._write(f"create secret {req.spec.annotations.name}")
        self.secrets.append(Secret(id=self._id(), spec=req.spec))
        return c.CreateSecretResponse(secret=self.secrets[-1])

    def UpdateSecret(self, req: Any) -> Any:
        self._write(f"update secret {req.spec.annotations.name}")
        return c.UpdateSecretResponse()

    def CreateConfig(self, req: Any) -> Any:
        self._write(f"create config {req.spec.annotations.name}")
        self.configs.append(Config(id=self._id(), spec=req.spec))
        return c.CreateConfigResponse(config=self.configs[-1])

    def UpdateConfig(self, req: Any) -> Any:
        self._write(f"update config {req.spec.annotations.name}")
        return c.UpdateConfigResponse()

    def _stored(self, spec: ServiceSpec) -> ServiceSpec:
        """As the manager stores a spec: references resolved to ids."""
        out = ServiceSpec()
        out.CopyFrom(spec)
        for r in out.task.container.secrets:
            r.secret_id = next(s.id for s in self.secrets if s.spec.annotations.name == r.secret_name)
        for cr in out.task.container.configs:
            cr.config_id = next(x.id for x in self.configs if x.spec.annotations.name == cr.config_name)
        return out

    def CreateService(self, req: Any) -> Any:
        self._write(f"create service {req.spec.annotations.name}")
        self.services.append(Service(id=self._id(), spec=self._stored(req.spec)))
        return c.CreateServiceResponse(service=self.services[-1])

    def UpdateService(self, req: Any) -> Any:
        self._write(f"update service {req.spec.annotations.name}")
        svc = next(s for s in self.services if s.id == req.service_id)
        svc.spec.CopyFrom(self._stored(req.spec))
        return c.UpdateServiceResponse(service=svc)

    def RemoveService(self, req: Any) -> Any:
        self._write(f"remove service {req.service_id}")
        self.services = [s for s in self.services if s.id != req.service_id]
        return c.RemoveServiceResponse()

    def RemoveSecret(self, req: Any) -> Any:
        self._write(f"remove secret {req.secret_id}")
        self.secrets = [s for s in self.secrets if s.id != req.secret_id]
        return c.RemoveSecretResponse()

    def RemoveConfig(self, req: Any) -> Any:
        self._write(f"remove config {req.config_id}")
        self.configs = [s for s in self.configs if s.id != req.config_id]
        return c.RemoveConfigResponse()

    def RemoveNetwork(self, req: Any) -> Any:
        self._write(f"remove network {req.network_id}")
        self.networks = [s for s in self.networks if s.id != req.network_id]
        return c.RemoveNetworkResponse()


class FakeClient:
    def __init__(self) -> None:
        self.control = FakeControl()

    def call(self, fn: Any, request: Any, timeout: float = 30) -> Any:
        return fn(request)


def objects(tmp_path: Path, doc: dict[str, Any], ns: str = "app") -> convert.StackObjects:
    schema.validate(doc)
    return convert.convert_stack(ns, doc, tmp_path, environ={})


def app(tmp_path: Path, replicas: int = 2, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "page").write_text("page\n")
    return {
        "services": {
            "web": {
                "image": "web:1",
                "ports": ["8080:80"],
                "configs": ["page"],
                "deploy": {"replicas": replicas},
            },
            "db": {"image": "db:1", "secrets": ["pw"], "volumes": ["data:/data"]},
            **(extra or {}),
        },
        "volumes": {"data": None},
        "secrets": {"pw": {"file": "pw"}},
        "configs": {"page": {"file": "page"}},
    }


def run(cl: FakeClient, objs: convert.StackObjects, prune: bool = False) -> list[str]:
    lines: list[str] = []
    deploy.execute(cl, deploy.make_plan(cl, objs, prune), echo=lines.append)
    return lines


def test_first_deploy_then_an_unchanged_one_writes_nothing(tmp_path):
    cl = FakeClient()
    assert run(cl, objects(tmp_path, app(tmp_path))) == [
        "Creating network app_default",
        "Creating secret app_pw",
        "Creating config app_page",
        "Creating service app_web",
        "Creating service app_db",
    ]
    cl.control.writes.clear()
    assert run(cl, objects(tmp_path, app(tmp_path))) == []
    assert cl.control.writes == [
        "update secret app_pw",
        "update config app_page",
    ]  # labels; data checked there


def test_redeploy_updates_only_the_changed_service(tmp_path):
    cl = FakeClient()
    run(cl, objects(tmp_path, app(tmp_path)))
    web = next(s for s in cl.control.services if s.spec.annotations.name == "app_web")
    assert run(cl, objects(tmp_path, app(tmp_path, replicas=5))) == [
        f"Updating service app_web (id: {web.id})"
    ]
    stored = next(s for s in cl.control.services if s.spec.annotations.name == "app_web")
    assert stored.spec.replicated.replicas == 5


def test_prune_removes_services_no_longer_in_the_file(tmp_path):
    cl = FakeClient()
    run(cl, objects(tmp_path, app(tmp_path, extra={"old": {"image": "old:1"}})))
    old = next(s for s in cl.control.services if s.spec.annotations.name == "app_old")
    assert run(cl, objects(tmp_path, app(tmp_path))) == []  # without --prune it stays
    assert run(cl, objects(tmp_path, app(tmp_path)), prune=True) == ["Removing service app_old"]
    assert old.id not in {s.id for s in cl.control.services}


def test_externals_are_looked_up_before_any_write(tmp_path):
    cl = FakeClient()
    doc = {
        "services": {"w": {"image": "i", "networks": ["n"], "secrets": ["s"]}},
        "networks": {"n": {"external": True, "name": "shared"}},
        "secrets": {"s": {"external": True}},
    }
    with pytest.raises(CLIError) as e:
        run(cl, objects(tmp_path, doc))
    assert str(e.value).startswith('network "shared" is declared as external, but could not be found.')
    cl.control.networks.append(
        Network(
            id="n1",
            spec=convert.convert_network(convert.StackContext("x", tmp_path), "shared", {"name": "shared"}),
        )
    )
    with pytest.raises(CLIError) as e:
        run(cl, objects(tmp_path, doc))
    assert str(e.value).startswith('secret "s" is declared as external, but could not be found.')
    assert cl.control.writes == []


def test_port_conflicts_are_refused_before_any_write(tmp_path):
    cl = FakeClient()
    other = ServiceSpec()
    other.annotations.name = "lonely"
    other.endpoint.ports.append(PortConfig(target_port=80, published_port=8080))
    cl.control.services.append(Service(id="x1", spec=other))
    with pytest.raises(CLIError) as e:
        run(cl, objects(tmp_path, app(tmp_path)))
    assert str(e.value) == (
        "port 8080/tcp of service 'app_web' is already published by service 'lonely' (outside stack app)"
    )
    cl.control.services.clear()
    doc = {"services": {"a": {"image": "i", "ports": ["9000:80"]}, "b": {"image": "i", "ports": ["9000:81"]}}}
    with pytest.raises(CLIError) as e:
        run(cl, objects(tmp_path, doc))
    assert str(e.value) == "port 9000/tcp of service 'app_b' is already published by service 'app_a'"
    assert cl.control.writes == []


def test_names_owned_by_something_else_are_refused(tmp_path):
    cl = FakeClient()
    run(cl, objects(tmp_path, app(tmp_path), ns="app"))
    cl.control.writes.clear()
    theirs = ServiceSpec()
    theirs.annotations.name = "other_web"
    cl.control.services.append(Service(id="x9", spec=theirs))
    with pytest.raises(CLIError) as e:
        run(cl, objects(tmp_path, {"services": {"web": {"image": "i"}}}, ns="other"))
    assert str(e.value) == "service other_web already exists and is not part of stack other"
    assert cl.control.writes == []


def test_a_write_failing_midway_says_what_was_done(tmp_path):
    cl = FakeClient()
    cl.control.fail_on = "create service app_db"
    with pytest.raises(CLIError) as e:
        run(cl, objects(tmp_path, app(tmp_path)))
    assert str(e.value) == (
        "failed to create service app_db: Error response from daemon: create service app_db refused "
        "(already done: create network app_default, create secret app_pw, create config app_page, "
        "create service app_web)"
    )


def test_stack_rm_order_and_lines(tmp_path):
    cl = FakeClient()
    run(cl, objects(tmp_path, app(tmp_path)))
    outsider = Network(
        id="keep", spec=convert.convert_network(convert.StackContext("zzz", tmp_path), "n", {})
    )
    cl.control.networks.append(outsider)
    waited: list[list[str]] = []
    lines: list[str] = []
    ids = sorted(s.id for s in cl.control.services)
    assert deploy.remove_stack(cl, "app", lambda sids: waited.append(sorted(sids)), echo=lines.append)
    assert lines == [
        "Removing service app_db",
        "Removing service app_web",
        "Removing secret app_pw",
        "Removing config app_page",
        "Removing network app_default",
    ]
    assert waited == [ids]
    assert cl.control.services == [] and cl.control.secrets == [] and cl.control.configs == []
    assert [n.id for n in cl.control.networks] == ["keep"]
    assert not deploy.remove_stack(cl, "app", lambda sids: None, echo=lines.append)
