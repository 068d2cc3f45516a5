"""Fixtures of the e2e tier: the network-namespace testbed (deploy/testbed).

    def test_something(testbed):
        tb = testbed(managers=3, workers=2)          # up, with a unique prefix
        assert tb.cli("mgr1", "info").returncode == 0
        # torn down (down --purge) after the test, pass or fail

Tests skip cleanly when not run as root or when ip/nsenter/swarmd are missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.testbed import Testbed, missing_requirements


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the VM testbed, each test's pytest timeout is scaled as its waits are (VMTestbed.slowness)."""
    if config.getoption("--testbed") != "vm":
        return
    from tests.support.vmtestbed import VMTestbed, slowness_for

    try:
        accel = VMTestbed().vms()[0].get("accel", "tcg")
    except Exception:   # not up: the fixture skips each test saying why
        return
    factor = slowness_for(accel)
    for item in items:
        marker = item.get_closest_marker("timeout")
        if marker is not None and marker.args:
            item.add_marker(pytest.mark.timeout(float(marker.args[0]) * factor), append=False)


@pytest.fixture
def testbed_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Testbed]]:
    """Like `testbed` but hands back a Testbed that is not up yet (for tests of `up` itself).

    With `pytest --testbed vm` it is a tests.support.vmtestbed.VMTestbed (same methods)."""
    vm = request.config.getoption("--testbed") == "vm"
    if vm:
        from tests.support.vmtestbed import VMTestbed, missing_vm_requirements
    why = missing_vm_requirements() if vm else missing_requirements()
    if why:
        pytest.skip(why)
    made: list[Testbed] = []

    def make() -> Testbed:
        tb: Any = VMTestbed() if vm else Testbed()
        made.append(tb)
        return tb  # type: ignore[no-any-return]

    yield make
    _teardown(made)


@pytest.fixture
def testbed(testbed_factory: Callable[..., Testbed]) -> Callable[..., Testbed]:
    """Factory: testbed(managers=1, workers=0, **up_options) -> a running Testbed."""

    def make(managers: int = 1, workers: int = 0, **kw: Any) -> Testbed:
        from tests.support.vmtestbed import NotEnoughVMs

        try:
            return testbed_factory().up(managers, workers, **kw)
        except NotEnoughVMs as e:
            pytest.skip(str(e))

    return make


def _teardown(made: list[Testbed]) -> None:
    failures = []
    for tb in reversed(made):
        for host in tb.hosts if tb.is_up and tb.run_dir.exists() else []:
            # shown by pytest only when the test failed
            print(f"----- {tb.prefix} {host} log (tail) -----\n{tb.logs(host, 40)}")
        cp = tb.down(purge=True, check=False)
        if cp.returncode != 0:
            failures.append(f"{tb.prefix}: {cp.stderr.strip()}")
    if failures:
        pytest.fail("testbed teardown failed: " + "; ".join(failures))


# ---- a swarm with a real registry ---------------------------------------------------------------

REGISTRY_PORT = 5000


@pytest.fixture(scope="session")
def test_image_layout(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The offline OCI layout with demo/web:1, demo/web:2 and demo/fail:1 (built once)."""
    import shutil

    from tests.support.images import build_test_images

    if not shutil.which("umoci") or not shutil.which("skopeo"):
        pytest.skip("umoci and skopeo are needed to build and push test images")
    return build_test_images(tmp_path_factory.mktemp("images"))


class SwarmBed:
    """A formed swarm on the testbed with a real registry in its infra namespace."""

    def __init__(self, tb: Testbed, registry: str) -> None:
        self.tb = tb
        self.registry = registry

    def image(self, name: str) -> str:
        return f"{self.registry}/{name}"

    def cli(self, *args: str, host: str = "mgr1", timeout: float = 120) -> Any:
        return self.tb.cli(host, *args, timeout=timeout)

    def ok(self, *args: str, host: str = "mgr1", timeout: float = 120) -> str:
        cp = self.tb.cli(host, *args, timeout=timeout)
        if cp.returncode != 0:
            raise AssertionError(f"swarm {' '.join(args)} on {host}: {cp.returncode}\n{cp.stdout}{cp.stderr}")
        return str(cp.stdout)

    def tasks(self, svc: str, *flags: str) -> list[dict[str, str]]:
        import json

        out = self.ok("service", "ps", svc, "--format", "json", *flags)
        return [json.loads(x) for x in out.splitlines() if x.strip()]

    def docker(self, host: str) -> Any:
        """docker-py's client of host's Engine API (its socket as seen from this machine)."""
        import docker

        return docker.DockerClient(base_url=f"unix://{self.tb.engine_socket(host)}", timeout=120)

    def task_container(self, svc: str, slot: int) -> tuple[str, str]:
        """(node hostname, container name) of svc's running task in slot: the container is named
        as Docker names it, ``<service>.<slot>.<task id>``."""
        (t,) = [t for t in self.tasks(svc, "--no-trunc")
                if t["Name"] == f"{svc}.{slot}" and t["CurrentState"].startswith("Running")]
        return t["Node"], f"{svc}.{slot}.{t['ID']}"

    def http(self, host: str, addr: str, port: int = 80, timeout: float = 5) -> str:
        """GET / from inside host's namespaces (curl in the testbed host)."""
        cp = self.tb.exec(host, "curl", "-s", "--max-time", str(timeout), f"http://{addr}:{port}/",
                          timeout=timeout + 10)
        return str(cp.stdout) if cp.returncode == 0 else ""


@pytest.fixture
def swarm_bed(testbed: Callable[..., Testbed], test_image_layout: Any,
              tmp_path: Any) -> Callable[..., SwarmBed]:
    """Factory: swarm_bed(managers=1, workers=3) -> SwarmBed with images pushed."""

    def make(managers: int = 1, workers: int = 2, **kw: Any) -> SwarmBed:
        from tests.support.images import TEST_IMAGES

        # the registry answers on the infra address; every daemon may pull from it over HTTP
        tb = testbed(managers, workers, form_swarm=True,
                     insecure_registries=[f"10.231.0.1:{REGISTRY_PORT}"], **kw)
        infra = "10.231.0.1"
        regdir = tmp_path / "registry"
        (regdir / "data").mkdir(parents=True)
        cfg = regdir / "config.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {regdir / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {infra}:{REGISTRY_PORT}\n")
        tb.infra("docker-registry", "serve", str(cfg))
        Testbed.wait_for(
            lambda: tb.exec("infra", "curl", "-sf", f"http://{infra}:{REGISTRY_PORT}/v2/").returncode == 0,
            timeout=20, what="the registry")
        for name, ref in TEST_IMAGES.items():
            cp = tb.exec("infra", "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                         f"oci:{test_image_layout}:{ref}", f"docker://{infra}:{REGISTRY_PORT}/{name}",
                         timeout=120)
            assert cp.returncode == 0, cp.stderr
        return SwarmBed(tb, f"{infra}:{REGISTRY_PORT}")

    return make


PRIVATE = "10.231.0.1:5001"


def private_registry(sb: SwarmBed, layout: Any, tmp_path: Any) -> tuple[str, str]:
    """A docker-registry wanting alice's password (htpasswd) at 10.231.0.1:5001 in the testbed's
    infra namespace, holding demo/web:1 as ``private/web:1``; returns (image, password). The
    swarm must have been made with ``daemon_args=["--insecure-registry=10.231.0.1:5001"]``."""
    import secrets

    from tests.support.registry import bcrypt_hash

    tb = sb.tb
    password = "pw-" + secrets.token_hex(8)
    reg = tmp_path / "private"
    (reg / "data").mkdir(parents=True)
    (reg / "htpasswd").write_text(f"alice:{bcrypt_hash(password)}\n")
    (reg / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {reg / 'data'}\nauth:\n  htpasswd:\n    realm: private\n"
        f"    path: {reg / 'htpasswd'}\nhttp:\n  addr: {PRIVATE}\n")
    tb.infra("docker-registry", "serve", str(reg / "config.yml"))
    tb.wait_for(lambda: tb.exec("infra", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                f"http://{PRIVATE}/v2/").stdout == "401",
                timeout=20, what="the private registry asking for credentials")
    cp = tb.exec("infra", "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                 f"--dest-creds=alice:{password}", f"oci:{layout}:web-1",
                 f"docker://{PRIVATE}/private/web:1", timeout=120)
    assert cp.returncode == 0, cp.stderr
    return f"{PRIVATE}/private/web:1", password
