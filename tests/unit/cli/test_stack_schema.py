"""swarm/cli/stack/schema.py: the Compose JSON Schema's errors, named by key path."""

from __future__ import annotations

import pytest

from swarm.cli.client import CLIError
from swarm.cli.stack import schema


def error(doc: dict) -> str:
    with pytest.raises(CLIError) as e:
        schema.validate(doc)
    return str(e.value)


def svc(**kw: object) -> dict:
    return {"services": {"web": {"image": "i", **kw}}}


def test_the_schema_is_the_shipped_one_with_its_licence():
    assert schema.SCHEMA_PATH.is_file()
    lic = schema.SCHEMA_PATH.with_name("LICENSE").read_text()
    assert "Apache License" in lic and "Version 2.0" in lic
    schema.validate(svc(deploy={"replicas": 2}))


@pytest.mark.parametrize(
    "doc, msg",
    [
        (svc(deploy={"replicas": "two"}), "services.web.deploy.replicas: must be an integer"),
        (svc(frobnicate=1), "services.web: additional property 'frobnicate' is not allowed"),
        (svc(ports=[{"target": "http"}]), "services.web.ports.0.target: must be an integer"),
        (
            svc(ports=[{"target": 80, "publish": 80}]),
            "services.web.ports.0: additional property 'publish' is not allowed",
        ),
        (svc(volumes=[3]), "services.web.volumes.0: must be a string or a mapping"),
        (svc(read_only="maybe"), "services.web.read_only: must be a boolean"),
        (svc(healthcheck={"interval": 5}), "services.web.healthcheck.interval: must be a string"),
        (svc(healthcheck={"start_interval": 5}), "services.web.healthcheck.start_interval: must be a string"),
        (
            svc(deploy={"resources": {"limits": {"pids": "many"}}}),
            "services.web.deploy.resources.limits.pids: must be an integer",
        ),
        (
            svc(deploy={"resources": {"reservations": {"pids": 5}}}),
            "services.web.deploy.resources.reservations: additional property 'pids' is not allowed",
        ),
        (
            svc(deploy={"placement": {"constraints": "node.role==manager"}}),
            "services.web.deploy.placement.constraints: must be a list",
        ),
        ({"services": {"web": "image: i"}}, "services.web: must be a mapping"),
        ({"services": {}, "networks": {"n": {"driver": 3}}}, "networks.n.driver: must be a string"),
        ({"services": {}, "bogus": 1}, "(top level): additional property 'bogus' is not allowed"),
        (svc(volumes=[{"source": "a", "target": "/b"}]), "services.web.volumes.0: type is required"),
    ],
)
def test_errors_name_the_key_path(doc, msg):
    assert error(doc) == msg


def test_several_errors_one_line_each_in_document_order():
    msg = error({"services": {"a": {"image": 1}, "b": {"image": "i", "deploy": {"replicas": "x"}}}})
    assert msg.splitlines() == [
        "invalid Compose file:",
        "services.a.image: must be a string",
        "services.b.deploy.replicas: must be an integer",
    ]


def test_extension_keys_are_allowed():
    schema.validate({"x-common": {"anything": 1}, "services": {"web": {"image": "i", "x-note": "n"}}})


def test_docker_cli_28_keys_the_shipped_schema_lacked_are_accepted():
    schema.validate(svc(deploy={"resources": {"limits": {"cpus": "1", "memory": "1G", "pids": 100}}},
                        healthcheck={"test": "true", "start_period": "30s", "start_interval": "2s"}))
