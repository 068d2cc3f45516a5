"""`--with-registry-auth`: which credentials of the client's docker config go with the spec."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from swarm.cli.client import CLIError
from swarm.cli.registryauth import credentials_for, encoded_auth, registry_of


def test_registry_of_an_image() -> None:
    assert registry_of("10.231.0.1:5000/demo/web:1") == "10.231.0.1:5000"
    assert registry_of("localhost/x") == "localhost"
    assert registry_of("reg.example.com/team/app") == "reg.example.com"
    assert registry_of("library/redis") == registry_of("redis:7") == "docker.io"


def test_credentials_from_auths() -> None:
    alice = base64.b64encode(b"alice:pw:with:colons").decode()
    cfg = {"auths": {"https://reg.test:5000/v1/": {"auth": alice},
                     "https://index.docker.io/v1/": {"username": "hubuser", "password": "hubpw"}}}
    assert credentials_for("reg.test:5000", cfg) == {"username": "alice", "password": "pw:with:colons",
                                                     "serveraddress": "https://reg.test:5000/v1/"}
    assert credentials_for("docker.io", cfg)["username"] == "hubuser"  # type: ignore[index]
    assert credentials_for("other.test", cfg) is None
    with pytest.raises(CLIError, match="auth is not base64 user:password"):
        credentials_for("bad.test", {"auths": {"bad.test": {"auth": "%%%"}}})


def test_credential_helpers(tmp_path, monkeypatch) -> None:
    helper = tmp_path / "docker-credential-fake"
    helper.write_text('#!/bin/sh\nread server\n'
                      'echo "{\\"Username\\": \\"u-$server\\", \\"Secret\\": \\"s\\"}"\n')
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    got = credentials_for("reg.test", {"credHelpers": {"reg.test": "fake"}})
    assert got == {"username": "u-reg.test", "password": "s", "serveraddress": "reg.test"}
    with pytest.raises(CLIError, match='exec: "docker-credential-missing": executable file not found'):
        credentials_for("reg.test", {"credsStore": "missing"})


def test_encoded_auth_reads_docker_config(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert encoded_auth("reg.test/app") == ""                        # no config file: nothing sent
    cfg = {"auths": {"reg.test": {"username": "a", "password": "b"}}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    doc = json.loads(base64.urlsafe_b64decode(encoded_auth("reg.test/app")))
    assert doc == {"username": "a", "password": "b", "serveraddress": "reg.test"}
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CLIError, match="loading config file"):
        encoded_auth("reg.test/app")
