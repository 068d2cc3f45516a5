"""Task -> container config mapping and error translation of the runtime executor (pure)."""

from __future__ import annotations

import pytest

from node.exec import errors as xe
from node.exec.containerspec import capabilities, container_id, expand
from node.exec.executor import LABEL_SERVICE_NAME, LABEL_TASK_ID, LABEL_TASK_NAME, stop_grace, task_name
from node.exec.fake import Behavior
from tests.unit.agent.helpers import make_task

try:
    from node.exec.containerspec import container_config
    from node.exec.runtime import translate
    from node.runtime.spec import merge_process
    HAVE_RUNTIME = True
except ImportError:  # pragma: no cover - runtime not importable here
    HAVE_RUNTIME = False
needs_runtime = pytest.mark.skipif(not HAVE_RUNTIME, reason="node.runtime not importable")


def test_names_replicated_global_and_explicit() -> None:
    t = make_task("abc", service="web", slot=3)
    assert task_name(t) == "web.3.abc"
    g = make_task("abc", service="mon", slot=0)
    assert task_name(g) == "mon.node1.abc"
    t.annotations.name = "custom"
    assert task_name(t) == "custom"


def test_container_id_is_stable_short_and_per_task() -> None:
    a, b = container_id("t1"), container_id("t2")
    assert a == container_id("t1") and a != b
    assert len(a) == 32 and int(a, 16) >= 0


def test_stop_grace_default_and_spec() -> None:
    assert stop_grace(make_task("t")) == 10.0
    assert stop_grace(make_task("t", stop_grace=2.5)) == 2.5


def test_templates() -> None:
    t = make_task("tid", service="web", slot=2)
    out = expand("{{.Node.Hostname}}-{{.Service.Name}}-{{ .Task.Slot }}-{{.Task.Name}}", t, "h1")
    assert out == "h1-web-2-web.2.tid"
    assert expand("plain", t, "h1") == "plain"
    with pytest.raises(xe.InvalidSpecError, match="unsupported placeholder"):
        expand("{{.Nope.X}}", t, "h1")


def test_capabilities_add_drop() -> None:
    base = ("CHOWN", "KILL", "NET_RAW")
    assert capabilities(base, [], []) is None
    assert capabilities(base, ["CAP_NET_ADMIN"], ["net_raw"]) == ["CHOWN", "KILL", "NET_ADMIN"]
    assert capabilities(base, ["KILL"], ["ALL"]) == ["KILL"]
    with pytest.raises(xe.InvalidSpecError):
        capabilities(base, ["ALL"], [])


@needs_runtime
def test_container_config_from_spec() -> None:
    t = make_task("tid", service="web", slot=1, env=["A=1", "H={{.Node.Hostname}}"])
    c = t.spec.container
    c.dir, c.user, c.stop_signal = "/srv", "nobody", "SIGINT"
    t.spec.resources.limits.memory_bytes = 64 << 20
    t.spec.resources.limits.pids = 50
    cfg = container_config(t, image="IMG", node_hostname="h1", default_caps=("CHOWN",))
    assert cfg.id == container_id("tid") and cfg.name == "web.1.tid"
    assert cfg.command is None and cfg.args is None          # unset: the image decides
    assert list(cfg.env) == ["A=1", "H=h1"]
    assert (cfg.workdir, cfg.user, cfg.stop_signal, cfg.hostname) == ("/srv", "nobody", "SIGINT", "")
    assert (cfg.limits.memory_bytes, cfg.limits.nano_cpus, cfg.limits.pids) == (64 << 20, None, 50)
    assert cfg.labels[LABEL_TASK_ID] == "tid" and cfg.labels[LABEL_TASK_NAME] == "web.1.tid"
    assert cfg.labels[LABEL_SERVICE_NAME] == "web"
    assert cfg.capabilities is None


@needs_runtime
def test_docker_merge_rules_through_the_runtime() -> None:
    """command replaces the entrypoint and drops Cmd; args replace Cmd; env merged by key."""
    from node.images import ImageConfig

    img = ImageConfig(entrypoint=("/entry.sh",), cmd=("serve",), env=("A=img", "B=img"), workdir="/w")
    t = make_task("tid", env=["B=task"])
    t.spec.container.args.extend(["x", "y"])
    p = merge_process(container_config(t, None, "h", ()), img)
    assert p["argv"] == ["/entry.sh", "x", "y"]
    assert "A=img" in p["env"] and "B=task" in p["env"] and p["cwd"] == "/w"
    assert p["hostname"] == container_id("tid")[:12]        # Docker: hostname = short id
    t.spec.container.command.extend(["/bin/sh", "-c"])
    p = merge_process(container_config(t, None, "h", ()), img)
    assert p["argv"] == ["/bin/sh", "-c", "x", "y"]
    t2 = make_task("t2", command=["/bin/true"])
    assert merge_process(container_config(t2, None, "h", ()), img)["argv"] == ["/bin/true"]


@needs_runtime
def test_error_translation() -> None:
    from node.images import errors as ie
    from node.runtime import errors as re_

    cases = [
        (ie.ImageNotFoundError("x: manifest unknown"), xe.ImagePullError, False),
        (ie.AuthError("unauthorized"), xe.ImagePullError, False),
        (ie.RegistryUnavailableError("down"), xe.RegistryUnavailableError, True),
        (re_.InvalidConfigError("bad memory"), xe.InvalidSpecError, False),
        (re_.ContainerStartError("exec failed"), xe.ContainerStartError, False),
        (re_.ContainerNotFoundError("no such"), xe.ContainerGoneError, False),
        (re_.ShimUnavailableError("no shim"), xe.RuntimeUnavailableError, True),
        (re_.RuntimeSetupError("no cgroup"), xe.PermanentError, False),
    ]
    for err, kind, temporary in cases:
        out = translate(err)
        assert type(out) is kind and out.temporary is temporary and str(out) == str(err)


def test_fake_behavior_from_env() -> None:
    b = Behavior.from_env(["FAKE_RUN_SECONDS=2.5", "FAKE_EXIT_CODE=3", "FAKE_PREPARE_ERROR=boom",
                           "FAKE_IGNORE_STOP=1", "FAKE_LOG=hi", "OTHER=x=y"])
    assert (b.run_seconds, b.exit_code, b.prepare_error, b.ignore_stop, b.log_lines) == (
        2.5, 3, "boom", True, ("hi",))
    assert Behavior.from_env(["FAKE_RUN_SECONDS=inf"]).run_seconds is None
    assert Behavior.from_env([]) == Behavior()
