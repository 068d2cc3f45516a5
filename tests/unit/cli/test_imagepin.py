"""Digest pinning in the CLI (swarm/cli/imagepin.py, as Docker's client library): the image's
familiar tagged form, the pinned form, placement platforms from the registry's, Docker's warning
when the registry cannot be asked; `service create|update` and `stack deploy --resolve-image`
on a fake daemon; the IMAGE columns of `service ls|ps` for a pinned image."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from swarm.api import control_pb2, daemon_pb2
from swarm.api.objects_pb2 import Service
from swarm.api.specs_pb2 import ServiceSpec
from swarm.api.types_pb2 import Platform, Version
from swarm.cli import imagepin
from swarm.cli.client import CLIError
from swarm.cli.commands.service import create, update
from swarm.cli.stack import deploy
from swarm.cli.tasks import short_image

DIGEST = "sha256:" + "a" * 64
P = daemon_pb2.DistributionPlatform
WARNING = ("image web:1 could not be accessed on a registry to record\n"
           "its digest. Each node will access web:1 independently,\n"
           "possibly leading to different nodes running different\n"
           "versions of the image.\n")


@pytest.mark.parametrize(("image", "want"), [
    ("busybox", "busybox:latest"),
    ("busybox:1.36", "busybox:1.36"),
    ("docker.io/library/busybox", "busybox:latest"),
    ("index.docker.io/library/busybox:1", "busybox:1"),
    ("docker.io/library/a/b", "library/a/b:latest"),
    ("docker.io/me/app", "me/app:latest"),
    ("127.0.0.1:5000/demo/web", "127.0.0.1:5000/demo/web:latest"),
    ("127.0.0.1:5000/demo/web:1", "127.0.0.1:5000/demo/web:1"),
    (f"web@{DIGEST}", f"web@{DIGEST}"),
    (f"web:1@{DIGEST}", f"web:1@{DIGEST}"),
    ("", ""),
    ("bad name", "bad name"),
])
def test_tagged(image: str, want: str) -> None:
    assert imagepin.tagged(image) == want


def test_with_digest_keeps_a_pinned_image() -> None:
    assert imagepin.with_digest("web:1", DIGEST) == f"web:1@{DIGEST}"
    other = "sha256:" + "b" * 64
    assert imagepin.with_digest(f"web:1@{other}", DIGEST) == f"web:1@{other}"


def test_swarm_platforms_skip_unknown_clear_arm_and_dedupe() -> None:
    found = [P(os="linux", architecture="amd64"), P(os="linux", architecture="amd64", variant="v2"),
             P(os="unknown", architecture="unknown"), P(os="linux", architecture="arm", variant="v7"),
             P(os="linux", architecture="ARM", variant="v6"), P(os="windows", architecture="amd64")]
    assert imagepin.swarm_platforms(found) == [
        Platform(os="linux", architecture="amd64"), Platform(os="linux", architecture=""),
        Platform(os="windows", architecture="amd64")]


class FakeDaemon:
    def __init__(self, answers: dict[str, daemon_pb2.DistributionInspectResponse]) -> None:
        self.answers = answers
        self.asked: list[daemon_pb2.DistributionInspectRequest] = []

    def DistributionInspect(self, req: daemon_pb2.DistributionInspectRequest) -> Any:
        self.asked.append(req)
        if req.reference not in self.answers:
            raise CLIError("Error response from daemon: manifest unknown: manifest unknown")
        return self.answers[req.reference]


class FakeControl:
    def __init__(self, service: Service | None = None) -> None:
        self.service = service
        self.written: list[ServiceSpec] = []

    def CreateService(self, req: Any) -> Any:
        self.written.append(req.spec)
        return control_pb2.CreateServiceResponse(service=Service(id="svc1", spec=req.spec),
                                                 warnings=["from the manager"])

    def GetService(self, req: Any) -> Any:
        return control_pb2.GetServiceResponse(service=self.service)

    def UpdateService(self, req: Any) -> Any:
        self.written.append(req.spec)
        return control_pb2.UpdateServiceResponse(service=Service(id="svc1", spec=req.spec))


class FakeClient:
    def __init__(self, answers: dict[str, daemon_pb2.DistributionInspectResponse],
                 service: Service | None = None) -> None:
        self.daemon = FakeDaemon(answers)
        self.control = FakeControl(service)

    def call(self, fn: Any, request: Any, timeout: float = 30) -> Any:
        return fn(request)


def found(*platforms: daemon_pb2.DistributionPlatform) -> daemon_pb2.DistributionInspectResponse:
    return daemon_pb2.DistributionInspectResponse(media_type="m", digest=DIGEST, size=1, platforms=platforms)


def spec_of(image: str) -> ServiceSpec:
    s = ServiceSpec()
    s.annotations.name = "web"
    s.task.container.image = image
    return s


def test_pin_image_pins_and_sets_platforms() -> None:
    cl = FakeClient({"web:1": found(P(os="linux", architecture="amd64"))})
    spec = spec_of("web:1")
    spec.task.container.pull_options.registry_auth = "e30"
    assert imagepin.pin_image(cl, spec, resolve=True) is None
    assert spec.task.container.image == f"web:1@{DIGEST}"
    assert list(spec.task.placement.platforms) == [Platform(os="linux", architecture="amd64")]
    assert cl.daemon.asked[0].registry_auth == "e30"     # --with-registry-auth's, as Docker sends it


def test_pin_image_without_platforms_leaves_placement_alone() -> None:
    spec = spec_of("web")
    assert imagepin.pin_image(FakeClient({"web:latest": found()}), spec, resolve=True) is None
    assert spec.task.container.image == f"web:latest@{DIGEST}" and not spec.task.HasField("placement")


def test_pin_image_failure_warns_and_keeps_the_tag() -> None:
    spec = spec_of("web:1")
    assert imagepin.pin_image(FakeClient({}), spec, resolve=True) == WARNING
    assert spec.task.container.image == "web:1" and not spec.task.HasField("placement")


def test_no_resolution_only_tags() -> None:
    cl = FakeClient({"web:latest": found()})
    spec = spec_of("web")
    assert imagepin.pin_image(cl, spec, resolve=False) is None
    assert spec.task.container.image == "web:latest" and cl.daemon.asked == []


def invoke(command: Any, cl: FakeClient, *args: str) -> Any:
    r = CliRunner().invoke(command, list(args), obj=SimpleNamespace(client=cl))
    assert r.exit_code == 0, r.output
    return r


def test_service_create_resolves_by_default() -> None:
    cl = FakeClient({"web:1": found(P(os="linux", architecture="amd64"))})
    r = invoke(create, cl, "-d", "--name", "web", "web:1")
    assert cl.control.written[0].task.container.image == f"web:1@{DIGEST}"
    assert r.stdout == "svc1\n" and r.stderr == "from the manager\n"


def test_service_create_warns_as_docker_when_the_registry_cannot_be_asked() -> None:
    cl = FakeClient({})
    r = invoke(create, cl, "-d", "--name", "web", "web:1")
    assert cl.control.written[0].task.container.image == "web:1"
    assert r.stderr == WARNING + "\nfrom the manager\n"         # Docker's Fprintln of it


def test_service_create_no_resolve_image_asks_nothing() -> None:
    cl = FakeClient({"web:1": found()})
    r = invoke(create, cl, "-d", "--no-resolve-image", "--name", "web", "web")
    assert cl.daemon.asked == [] and cl.control.written[0].task.container.image == "web:latest"
    assert r.stderr == "from the manager\n"


def stored(image: str) -> Service:
    svc = Service(id="svc1", spec=spec_of(image))
    svc.meta.version.CopyFrom(Version(index=3))
    return svc


def test_service_update_resolves_a_new_image_only() -> None:
    cl = FakeClient({"web:2": found()}, stored(f"web:1@{DIGEST}"))
    invoke(update, cl, "-d", "--image", "web:2", "web")
    assert cl.control.written[-1].task.container.image == f"web:2@{DIGEST}"
    invoke(update, cl, "-d", "--force", "web")                 # no --image: no registry, pin kept
    assert cl.control.written[-1].task.container.image == f"web:1@{DIGEST}" and len(cl.daemon.asked) == 1
    invoke(update, cl, "-d", "--no-resolve-image", "--image", "web:2", "web")
    assert cl.control.written[-1].task.container.image == "web:2" and len(cl.daemon.asked) == 1


def test_service_update_warns_when_the_new_image_cannot_be_resolved() -> None:
    cl = FakeClient({}, stored(f"web:0@{DIGEST}"))
    r = invoke(update, cl, "-d", "--image", "web:1", "web")
    assert cl.control.written[-1].task.container.image == "web:1" and r.stderr == WARNING + "\n"


# ---- stack deploy --resolve-image ----------------------------------------------------------------

def stack_spec(image: str, pinned: str | None = None) -> ServiceSpec:
    s = spec_of(pinned or image)
    s.annotations.name = "app_web"
    s.annotations.labels["com.docker.stack.image"] = image
    return s


def plan_with(new: list[ServiceSpec], old: list[tuple[ServiceSpec, ServiceSpec]]) -> deploy.Plan:
    return deploy.Plan("app", services_new=new,
                       services_old=[(Service(id="s", spec=have), want) for have, want in old])


@pytest.mark.parametrize(("mode", "asked"), [("always", 1), ("changed", 1), ("never", 0)])
def test_stack_new_services(mode: str, asked: int) -> None:
    cl = FakeClient({"web:1": found()})
    spec = stack_spec("web:1")
    deploy.pin_images(cl, plan_with([spec], []), mode)
    assert len(cl.daemon.asked) == asked
    assert spec.task.container.image == (f"web:1@{DIGEST}" if asked else "web:1")


@pytest.mark.parametrize(("mode", "image", "want", "asked"), [
    ("always", "web:1", f"web:1@{DIGEST}", 1),              # asked again even if unchanged
    ("changed", "web:1", "web:1@sha256:" + "0" * 64, 0),    # unchanged: keeps the stored pin
    ("never", "web:1", "web:1@sha256:" + "0" * 64, 0),
    ("changed", "web:2", f"web:2@{DIGEST}", 1),             # changed: asked
    ("never", "web:2", "web:2", 0),                         # changed, never: the tag as it is
])
def test_stack_existing_services(mode: str, image: str, want: str, asked: int) -> None:
    cl = FakeClient({"web:1": found(), "web:2": found()})
    have = stack_spec("web:1", pinned="web:1@sha256:" + "0" * 64)
    have.task.placement.platforms.add(os="linux", architecture="amd64")
    spec = stack_spec(image)
    deploy.pin_images(cl, plan_with([], [(have, spec)]), mode)
    assert (spec.task.container.image, len(cl.daemon.asked)) == (want, asked)
    if want == have.task.container.image:
        assert spec == have                                  # an unchanged re-deploy writes nothing


def test_stack_warning_is_printed_after_the_write(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tests.unit.cli.test_stack_deploy import FakeClient as StackClient

    cl = StackClient()
    cl.daemon = FakeDaemon({})       # type: ignore[attr-defined]
    plan = plan_with([stack_spec("web:1")], [])
    deploy.pin_images(cl, plan, "always")
    lines: list[str] = []
    deploy.execute(cl, plan, echo=lines.append)
    assert lines == ["Creating service app_web"] and capsys.readouterr().err == WARNING + "\n"
    assert cl.control.services[0].spec.task.container.image == "web:1"


# ---- the IMAGE columns ---------------------------------------------------------------------------

@pytest.mark.parametrize(("image", "want"), [
    (f"127.0.0.1:5000/web:1@{DIGEST}", "127.0.0.1:5000/web:1"),
    (f"web@{DIGEST}", f"web@{DIGEST}"),          # no tag: shown as it is (docker/cli)
    ("web:1", "web:1"),
])
def test_ls_and_ps_show_a_pinned_image_without_its_digest(image: str, want: str) -> None:
    assert short_image(image, no_trunc=False) == want
    assert short_image(image, no_trunc=True) == image
