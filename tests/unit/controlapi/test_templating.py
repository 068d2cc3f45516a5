"""``--template-driver``: a golang template is stored as given for secrets and configs (the node
renders it per task: tests/unit/exec/test_templates.py); any other driver is refused by name and
nothing is stored."""

from __future__ import annotations

import pytest

from swarm.api import control_pb2 as c
from swarm.api.specs_pb2 import ConfigSpec, SecretSpec
from swarm.controlapi import configs, secrets

from .conftest import Swarm
from .helpers import call, refused


def spec(kind: str, driver: str) -> ConfigSpec | SecretSpec:
    s = (ConfigSpec if kind == "config" else SecretSpec)(data=b"{{.Service.Name}}")
    s.annotations.name = f"t-{kind}"
    s.templating.name = driver
    return s


@pytest.mark.parametrize("kind", ["config", "secret"])
def test_golang_templates_are_stored_and_other_drivers_refused(swarm: Swarm, kind: str) -> None:
    create = configs.create_config if kind == "config" else secrets.create_secret
    request = c.CreateConfigRequest if kind == "config" else c.CreateSecretRequest
    refused(create, swarm.ctx, request(spec=spec(kind, "mustache")), "INVALID_ARGUMENT",
            f"{kind} template driver 'mustache' is not supported: only golang")
    if kind == "config":      # (a secret needs the managers' secrets key: tests/e2e/test_secrets_e2e.py)
        made = call(create, swarm.ctx, request(spec=spec(kind, "golang"))).config
        assert made.spec.templating.name == "golang"
