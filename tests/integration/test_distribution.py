"""Digest pinning against a real ``docker-registry``: a real swarmd (fake executor) answers
``GET /distribution/{name}/json`` by asking the registry itself, for docker-py's
``inspect_distribution()``, the docker CLI's ``service create`` (which no longer warns that it
could not record the digest) and our own ``swarm service create|update``; unknown images,
unknown registries and full image ids get dockerd's statuses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import Swarmd, free_port, manager_port
from tests.support.registry import registry_fixture

docker = pytest.importorskip("docker")

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
                       reason="umoci/skopeo/docker-registry not installed"),
]

registry = registry_fixture()
WARNING = "could not be accessed on a registry to record"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Swarmd]:
    d = Swarmd(tmp_path, extra_args=["--executor", "fake"]).start()
    sock = d.socket.parent / "docker.sock"
    for _ in range(150):
        if sock.exists():
            break
        time.sleep(0.1)
    d.ok("init", "--advertise-addr", f"127.0.0.1:{manager_port()}")
    yield d
    d.stop()


def api(d: Swarmd) -> Any:
    return docker.APIClient(base_url=f"unix://{d.socket.parent / 'docker.sock'}", version="auto", timeout=30)


def docker_cli(d: Swarmd, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DOCKER_HOST=f"unix://{d.socket.parent / 'docker.sock'}",
               DOCKER_CONFIG=str(d.root / "docker-config"))
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=120)


def spec_image(d: Swarmd, name: str) -> str:
    doc = json.loads(d.ok("service", "inspect", name))
    return str(doc[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"])


def registry_digest(reg: Any, repo_tag: str, accept: str) -> str:
    import urllib.request

    repo, tag = repo_tag.rsplit(":", 1)
    req = urllib.request.Request(f"http://{reg.address}/v2/{repo}/manifests/{tag}", method="HEAD",
                                 headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(r.headers["Docker-Content-Digest"])


def test_docker_py_inspect_distribution(manager: Swarmd, registry: Any) -> None:
    c = api(manager)
    oci = c.inspect_distribution(registry.refs["demo/web:1"])
    assert oci["Descriptor"]["mediaType"] == OCI_MANIFEST
    assert oci["Descriptor"]["digest"] == registry_digest(registry, "demo/web:1", OCI_MANIFEST)
    assert oci["Descriptor"]["size"] > 0 and oci["Platforms"] is None       # dockerd: null for OCI
    v2 = c.inspect_distribution(registry.refs["demo/web:1-v2s2"])
    assert v2["Descriptor"]["mediaType"] == DOCKER_MANIFEST
    assert v2["Platforms"] == [{"architecture": "amd64", "os": "linux"}]    # from the image config
    pinned = f"{registry.refs['demo/web:1']}@{oci['Descriptor']['digest']}"
    assert c.inspect_distribution(pinned)["Descriptor"] == oci["Descriptor"]


def test_docker_py_unknown_images_and_registries(manager: Swarmd, registry: Any) -> None:
    c = api(manager)
    with pytest.raises(docker.errors.NotFound) as nf:
        c.inspect_distribution(f"{registry.address}/demo/web:nope")
    assert nf.value.explanation == "manifest unknown: manifest unknown"      # dockerd's words
    with pytest.raises(docker.errors.NotFound):
        c.inspect_distribution(f"{registry.address}/demo/absent:1")
    with pytest.raises(docker.errors.APIError) as un:
        c.inspect_distribution(f"127.0.0.1:{free_port()}/demo/web:1")
    assert un.value.status_code == 500 and "unreachable" in str(un.value.explanation)
    with pytest.raises(docker.errors.APIError) as full:
        c.inspect_distribution("a" * 64)
    assert (full.value.status_code, full.value.explanation) == (500, "no manifest found for full image ID")
    with pytest.raises(docker.errors.APIError) as bad:
        c.inspect_distribution("Not/Lower:1")
    assert bad.value.status_code == 400 and "invalid reference format" in str(bad.value.explanation)


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on this machine")
def test_docker_cli_service_create_pins_the_digest(manager: Swarmd, registry: Any) -> None:
    ref = registry.refs["demo/web:1-v2s2"]
    cp = docker_cli(manager, "service", "create", "-d", "--name", "pinned", ref)
    assert cp.returncode == 0, cp.stdout + cp.stderr + manager.log()
    assert WARNING not in cp.stderr
    digest = registry_digest(registry, "demo/web:1-v2s2", DOCKER_MANIFEST)
    assert spec_image(manager, "pinned") == f"{ref}@{digest}"
    doc = json.loads(manager.ok("service", "inspect", "pinned"))[0]
    assert doc["Spec"]["TaskTemplate"]["Placement"]["Platforms"] == [{"Architecture": "amd64", "OS": "linux"}]
    # what Docker's CLI shows: ls and ps without the digest, inspect --pretty with it
    assert ref in manager.ok("service", "ls") and digest not in manager.ok("service", "ls")
    assert f"{ref}@{digest}" in manager.ok("service", "inspect", "--pretty", "pinned")
    cp = docker_cli(manager, "service", "create", "-d", "--name", "lost", f"{registry.address}/demo/web:nope")
    assert cp.returncode == 0 and WARNING in cp.stderr
    assert spec_image(manager, "lost") == f"{registry.address}/demo/web:nope"


def test_swarm_cli_resolves_unless_told_not_to(manager: Swarmd, registry: Any) -> None:
    ref = registry.refs["demo/web:1"]
    d1 = registry_digest(registry, "demo/web:1", OCI_MANIFEST)
    r = manager.cli("service", "create", "-d", "--name", "web", ref)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert spec_image(manager, "web") == f"{ref}@{d1}"
    two = registry.refs["demo/web:2"]
    manager.ok("service", "update", "-d", "--image", two, "web")
    assert spec_image(manager, "web") == f"{two}@{registry_digest(registry, 'demo/web:2', OCI_MANIFEST)}"
    manager.ok("service", "update", "-d", "--no-resolve-image", "--image", ref, "web")
    assert spec_image(manager, "web") == ref
    r = manager.cli("service", "create", "-d", "--no-resolve-image", "--name", "raw", ref)
    assert r.returncode == 0 and spec_image(manager, "raw") == ref
    r = manager.cli("service", "create", "-d", "--name", "lost", f"{registry.address}/demo/web:nope")
    assert r.returncode == 0 and r.stderr.startswith(f"image {registry.address}/demo/web:nope {WARNING}\n")
    assert spec_image(manager, "lost") == f"{registry.address}/demo/web:nope"


def test_swarm_stack_deploy_resolve_image(manager: Swarmd, registry: Any, tmp_path: Path) -> None:
    ref = registry.refs["demo/web:1"]
    compose = tmp_path / "stack.yml"
    compose.write_text(f"services:\n  web:\n    image: {ref}\n")
    manager.ok("stack", "deploy", "-c", str(compose), "app")
    pinned = f"{ref}@{registry_digest(registry, 'demo/web:1', OCI_MANIFEST)}"
    assert spec_image(manager, "app_web") == pinned
    out = manager.ok("stack", "deploy", "-c", str(compose), "app")          # always: same digest
    assert "Updating service" not in out and spec_image(manager, "app_web") == pinned
    out = manager.ok("stack", "deploy", "--resolve-image", "never", "-c", str(compose), "app")
    assert "Updating service" not in out and spec_image(manager, "app_web") == pinned   # kept
    compose.write_text(f"services:\n  web:\n    image: {registry.refs['demo/web:2']}\n")
    manager.ok("stack", "deploy", "--resolve-image", "never", "-c", str(compose), "app")
    assert spec_image(manager, "app_web") == registry.refs["demo/web:2"]
