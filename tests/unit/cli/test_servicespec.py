"""`service update` / `create` flags -> ServiceSpec, parsed by the real click commands (no daemon)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from swarm.api.specs_pb2 import EndpointSpec, ServiceSpec
from swarm.api.types_pb2 import PortConfig, RestartPolicy, UpdateConfig
from swarm.cli import servicespec as ss
from swarm.cli.client import CLIError
from swarm.cli.commands.service import create, update


def update_flags(*args: str) -> dict[str, Any]:
    """The options dict `swarm service update ARGS web` hands to the command."""
    return update.make_context("update", [*args, "web"]).params


def create_flags(*args: str) -> dict[str, Any]:
    return create.make_context("create", [*args, "nginx"]).params


def current() -> ServiceSpec:
    spec = ss.default_spec()
    spec.annotations.name = "web"
    spec.annotations.labels.update({"a": "1", "b": "2"})
    spec.replicated.replicas = 2
    c = spec.task.container
    c.image = "nginx"
    c.args.extend(["x", "y"])
    c.env.extend(["A=1", "B=2"])
    c.labels.update({"cl": "v"})
    spec.task.placement.constraints.extend(["node.role==worker", "node.labels.x==y"])
    spec.task.placement.preferences.append(ss.placement_pref("spread=node.labels.dc"))
    spec.endpoint.ports.extend([ss.parse_port("8080:80"), ss.parse_port("53:53/udp")])
    spec.task.networks.extend(ss.networks(["front", "name=back,alias=b"]))
    return spec


def test_no_flags_change_nothing_and_the_current_spec_is_left_alone():
    spec = current()
    new = ss.updated_spec(spec, update_flags("--image", "busybox"))
    assert spec == current()
    assert new.task.container.image == "busybox"
    new.task.container.image = "nginx"
    assert new == spec
    assert ss.updated_spec(spec, update_flags()) == spec


def test_image_args_and_env():
    new = ss.updated_spec(current(), update_flags("--image", "busybox", "--args", "sleep  10",
                                                  "--env-add", "C=3", "--env-add", "B=9", "--env-rm", "A"))
    c = new.task.container
    assert (c.image, list(c.args), list(c.env)) == ("busybox", ["sleep", "10"], ["B=9", "C=3"])
    # `-e KEY` takes the client's value of KEY, and is left out when the client has none
    os.environ["PYSWARM_TEST_FROM_CLIENT"] = "v 1"
    try:
        new = ss.updated_spec(current(), update_flags("--env-add", "PYSWARM_TEST_FROM_CLIENT",
                                                      "--env-add", "PYSWARM_TEST_UNSET_XYZ"))
    finally:
        del os.environ["PYSWARM_TEST_FROM_CLIENT"]
    assert list(new.task.container.env) == ["A=1", "B=2", "PYSWARM_TEST_FROM_CLIENT=v 1"]
    with pytest.raises(CLIError, match="invalid environment variable: =x"):
        ss.updated_spec(current(), update_flags("--env-add", "=x"))


def test_constraints_and_placement_preferences():
    new = ss.updated_spec(current(), update_flags(
        "--constraint-rm", "node.role==worker", "--constraint-add", "node.labels.x==y",
        "--constraint-add", "node.role==manager",
        "--placement-pref-rm", "spread=node.labels.dc", "--placement-pref-add", "spread=node.labels.rack"))
    assert list(new.task.placement.constraints) == ["node.labels.x==y", "node.role==manager"]
    assert [p.spread_descriptor for p in new.task.placement.preferences] == ["node.labels.rack"]


def test_publish_rm_by_target_or_published_port_and_add():
    new = ss.updated_spec(current(), update_flags("--publish-rm", "8080", "--publish-add", "9090:90"))
    assert [(p.published_port, p.target_port, p.protocol) for p in new.endpoint.ports] == [
        (53, 53, PortConfig.UDP), (9090, 90, PortConfig.TCP)]
    new = ss.updated_spec(current(), update_flags("--publish-rm", "53/udp", "--publish-rm", "80"))
    assert list(new.endpoint.ports) == []
    assert len(ss.updated_spec(current(), update_flags("--publish-rm", "53")).endpoint.ports) == 2


def test_networks_and_labels():
    new = ss.updated_spec(current(), update_flags(
        "--network-rm", "front", "--network-add", "name=n2,alias=a",
        "--label-add", "c=3", "--label-add", "a", "--label-rm", "b",
        "--container-label-add", "k=v", "--container-label-rm", "cl"))
    assert [(n.target, list(n.aliases)) for n in new.task.networks] == [("back", ["b"]), ("n2", ["a"])]
    assert dict(new.annotations.labels) == {"a": "", "c": "3"}
    assert dict(new.task.container.labels) == {"k": "v"}


def test_force_bumps_the_counter():
    assert ss.updated_spec(current(), update_flags("--force")).task.force_update == 1


def test_common_flags_on_update():
    new = ss.updated_spec(current(), update_flags(
        "--replicas", "5", "--restart-condition", "on-failure", "--restart-delay", "2s",
        "--limit-cpu", "0.5", "--limit-memory", "64m", "--reserve-memory", "32MiB",
        "--stop-grace-period", "3s", "--endpoint-mode", "dnsrr", "--replicas-max-per-node", "2",
        "--update-order", "start-first", "--update-parallelism", "3",
        "--rollback-failure-action", "continue"))
    t = new.task
    assert new.replicated.replicas == 5
    assert (t.restart.condition, t.restart.delay.seconds) == (RestartPolicy.RESTART_ON_FAILURE, 2)
    assert (t.resources.limits.nano_cpus, t.resources.limits.memory_bytes) == (500_000_000, 64 << 20)
    assert t.resources.reservations.memory_bytes == 32 << 20
    assert t.container.stop_grace_period.seconds == 3
    assert (new.endpoint.mode, t.placement.max_replicas) == (EndpointSpec.DNSRR, 2)
    assert (new.update.order, new.update.parallelism) == (UpdateConfig.START_FIRST, 3)
    assert new.rollback.failure_action == UpdateConfig.CONTINUE


@pytest.mark.parametrize(("args", "message"), [
    (["--replicas", "-1"], 'invalid argument "-1" for "--replicas" flag: replicas must not be negative'),
    (["--restart-condition", "bogus"], 'invalid restart condition "bogus"'),
    (["--restart-max-attempts", "-2"], "--restart-max-attempts must not be negative"),
    (["--endpoint-mode", "x"], 'invalid endpoint mode "x"'),
    (["--limit-memory", "lots"],
     "invalid argument \"lots\" for \"--limit-memory\" flag: invalid size: 'lots'"),
    (["--rollback-failure-action", "rollback"],
     'invalid argument "rollback" for "--rollback-failure-action" flag: must be one of pause, continue'),
    # the first bad flag in the appliers' order is the one reported
    (["--endpoint-mode", "x", "--replicas", "-1"],
     'invalid argument "-1" for "--replicas" flag: replicas must not be negative'),
])
def test_bad_flags(args: list[str], message: str):
    with pytest.raises(CLIError) as ei:
        ss.updated_spec(current(), update_flags(*args))
    assert str(ei.value) == message


def test_replicas_on_a_global_service_is_refused():
    spec = ServiceSpec()
    getattr(spec, "global").SetInParent()
    with pytest.raises(CLIError, match="replicas can only be used with replicated or replicated-job mode"):
        ss.apply_common_flags(spec, create_flags("--replicas", "3"))


def test_create_flags_on_the_default_spec():
    spec = ss.default_spec()
    spec.replicated.replicas = 1
    ss.apply_common_flags(spec, create_flags("--workdir", "/w", "--user", "1000",
                                             "--entrypoint", "/bin/sh -c", "--update-delay", "1s"))
    c = spec.task.container
    assert (c.dir, c.user, list(c.command)) == ("/w", "1000", ["/bin/sh", "-c"])
    assert spec.update.delay.seconds == 1
    assert spec.replicated.replicas == 1
    assert ss.labels(["a=1", "b", "a=2=3"]) == {"a": "2=3", "b": ""}
