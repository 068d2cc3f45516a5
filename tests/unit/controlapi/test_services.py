"""Services through the control API's handlers: create (what is stored, validation), update
(versions, previous spec), rollback, remove, list filters, and resolving what users type.
Published ports are in ``test_service_ports.py``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Service, Task
from swarm.api.specs_pb2 import EndpointSpec, ServiceSpec
from swarm.api.types_pb2 import (
    REMOVE,
    RUNNING,
    GenericResource,
    PlacementPreference,
    UpdateConfig,
    UpdateStatus,
)
from swarm.controlapi import services
from swarm.store import typed

from .conftest import Swarm
from .helpers import call, create, port, refused, service_spec, snapshot

ID_RE = re.compile(r"[0-9a-z]{25}")


def get(s: Swarm, sid: str) -> Service:
    svc = s.ctx.read.get(Service, sid)
    assert svc is not None
    return svc


def update(s: Swarm, svc: Service, **kw: object) -> Service:
    req = c.UpdateServiceRequest(service_id=svc.id, spec=svc.spec, **kw)  # type: ignore[arg-type]
    req.service_version.index = svc.meta.version.index
    out: Service = call(services.update_service, s.ctx, req).service
    return out


def add_service(s: Swarm, sid: str, name: str) -> Service:
    """A service stored with a chosen id (for prefix tests); what create would store otherwise."""
    svc = Service(id=sid, spec=service_spec(name))
    svc.spec_version.index = 1
    call(lambda ctx, _: ctx.apply([typed.create(svc)]), s.ctx, None)
    return get(s, sid)


# ---- create --------------------------------------------------------------------------------


def test_create_stores_the_spec_as_given_with_version_one_and_times(swarm: Swarm) -> None:
    spec = service_spec("web", replicas=3, labels={"tier": "front"})
    svc = create(swarm.ctx, spec)
    assert ID_RE.fullmatch(svc.id)
    assert svc.spec == spec                      # no server-side defaults are filled in
    assert svc.spec_version.index == 1
    assert svc.meta.version.index == swarm.store.index
    assert svc.meta.created_at.seconds == svc.meta.updated_at.seconds == int(swarm.clock.now)
    assert not svc.HasField("previous_spec") and not svc.HasField("update_status")
    assert svc.endpoint.spec == spec.endpoint and not svc.endpoint.ports
    assert get(swarm, svc.id) == svc


def test_create_global_service(swarm: Swarm) -> None:
    svc = create(swarm.ctx, service_spec("agent", mode_global=True))
    assert svc.spec.WhichOneof("mode") == "global"


def test_create_name_of_63_characters_is_accepted(swarm: Swarm) -> None:
    assert create(swarm.ctx, service_spec("a" * 63)).spec.annotations.name == "a" * 63


@pytest.mark.parametrize(("name", "message"), [
    ("", "name must be provided"),
    ("a" * 64, "name must be 63 characters or fewer"),
    ("-web", "name must be valid as a DNS name component"),
    ("web-", "name must be valid as a DNS name component"),
    ("we b", "name must be valid as a DNS name component"),
    ("web.1", "name must be valid as a DNS name component"),
    ("wéb", "name must be valid as a DNS name component"),
])
def test_create_refuses_a_bad_name(swarm: Swarm, name: str, message: str) -> None:
    refused(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=service_spec(name)),
            "INVALID_ARGUMENT", message)


def test_create_refuses_a_duplicate_name_also_in_other_case(swarm: Swarm) -> None:
    create(swarm.ctx, service_spec("web"))
    for name in ("web", "WEB"):
        # reference §1.10: "<err>: service <name> already exists" (AlreadyExists)
        refused(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=service_spec(name)),
                "ALREADY_EXISTS", re.compile(rf"(.+: )?service {name} already exists"))


def test_create_refuses_a_missing_image(swarm: Swarm) -> None:
    refused(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=service_spec(image="")),
            "INVALID_ARGUMENT", "ContainerSpec: image reference must be provided")


def test_create_refuses_a_spec_without_mode(swarm: Swarm) -> None:
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec(replicas=None)),
            "INVALID_ARGUMENT", "service mode must be replicated or global")


def _set(spec: ServiceSpec, path: str, value: object) -> None:
    *parents, leaf = path.split(".")
    msg: Any = spec
    for p in parents:
        msg = getattr(msg, p)
    if isinstance(value, list):
        getattr(msg, leaf).extend(value)
    else:
        setattr(msg, leaf, value)


@pytest.mark.parametrize(("path", "value", "message"), [
    ("task.resources.reservations.memory_bytes", 1024,
     "invalid memory value 1024: Must be at least 4MiB"),
    ("task.resources.limits.memory_bytes", 1024, "invalid memory value 1024: Must be at least 4MiB"),
    ("update.max_failure_ratio", 1.5, "update-maxfailureratio cannot be less than 0 or bigger than 1"),
    ("rollback.failure_action", UpdateConfig.ROLLBACK,
     "RollbackConfig: rollback is not a valid failure action for a rollback"),
    ("endpoint.mode", EndpointSpec.DNSRR,
     "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"),
    ("task.resources.reservations.nano_cpus", 500_000,
     "invalid cpu reservation value 0.0005: Must be at least 0.001"),
    ("task.resources.limits.nano_cpus", 1, "invalid cpu limit value 1e-09: Must be at least 0.001"),
    ("task.resources.limits.pids", -1, "invalid pids limit: must not be negative"),
    ("task.resources.reservations.generic",
     [GenericResource(named=GenericResource.Named(kind="gpu", value=""))],
     "invalid generic resource gpu=: want a kind and a value"),
    ("task.resources.reservations.generic",
     [GenericResource(discrete=GenericResource.Discrete(kind="gpu", value=0))],
     "invalid generic resource gpu=0: want KIND=COUNT with a count above 0"),
    ("task.resources.limits.generic",
     [GenericResource(discrete=GenericResource.Discrete(kind="gpu", value=1))],
     "generic resources can only be reserved, not limited"),
    ("task.restart.delay.seconds", -1, "TaskSpec: restart-delay cannot be negative"),
    ("task.restart.window.seconds", -1, "TaskSpec: restart-window cannot be negative"),
    ("update.delay.seconds", -1, "UpdateConfig: delay cannot be negative"),
    ("rollback.monitor.seconds", -1, "RollbackConfig: monitor cannot be negative"),
    ("task.container.stop_grace_period.seconds", -1,
     "ContainerSpec: stop grace period must not be negative"),
    ("task.container.privileges.seccomp.mode", 2,
     "ContainerSpec: a custom seccomp profile is not supported by pyswarm (modes: default, unconfined)"),
    ("task.placement.constraints", ["node.role=manager"],
     "constraint expected one operator from ==, !="),
    ("task.placement.preferences", [PlacementPreference()],
     "placement preference: spread descriptor must be provided"),
], ids=["reserve-memory", "limit-memory", "failure-ratio", "rollback-action", "dnsrr-ingress",
        "reserve-cpu", "limit-cpu", "pids",
        "generic-named", "generic-zero", "generic-limit", "restart-delay", "restart-window", "update-delay",
        "rollback-monitor", "stop-grace", "seccomp-custom", "constraint", "placement-pref"])
def test_create_refuses_an_invalid_spec(swarm: Swarm, path: str, value: object, message: str) -> None:
    spec = service_spec(ports=[port(80)])
    _set(spec, path, value)
    refused(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=spec),
            "INVALID_ARGUMENT", message)


def test_a_named_reservation_is_stored_as_dockerd_stores_it(swarm: Swarm) -> None:
    """swarmkit's validateResources drops genericresource.ValidateTask's error: the service is
    created with its named reservation (docker-py's test_create_service_with_generic_resources);
    the scheduler then finds no node for it (tests/unit/scheduler/test_generic_resources.py)."""
    spec = service_spec()
    wanted = [GenericResource(discrete=GenericResource.Discrete(kind="gpu", value=1)),
              GenericResource(named=GenericResource.Named(kind="gpu", value="test"))]
    spec.task.resources.reservations.generic.extend(wanted)
    svc = call(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=spec)).service
    assert list(svc.spec.task.resources.reservations.generic) == wanted


def test_create_refuses_an_unknown_network_and_the_ingress_network(swarm: Swarm) -> None:
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec(networks=["nope"])),
            "INVALID_ARGUMENT", "network nope not found")
    refused(services.create_service, swarm.ctx,
            c.CreateServiceRequest(spec=service_spec(networks=["ingress"])),
            "INVALID_ARGUMENT", 'service cannot be explicitly attached to the ingress network "ingress"')


# ---- update and rollback -------------------------------------------------------------------


def test_update_with_a_stale_version_is_refused(swarm: Swarm) -> None:
    svc = create(swarm.ctx, service_spec(replicas=1))
    stale = svc.meta.version.index
    svc = update(swarm, svc)                    # someone else's update lands first
    req = c.UpdateServiceRequest(service_id=svc.id, spec=service_spec(replicas=5))
    req.service_version.index = stale
    refused(services.update_service, swarm.ctx, req, "FAILED_PRECONDITION", "update out of sequence")


def test_update_keeps_the_previous_spec_and_raises_the_spec_version(swarm: Swarm) -> None:
    svc = create(swarm.ctx, service_spec(replicas=1))
    first = svc.spec
    swarm.clock.now += 10
    new = service_spec(replicas=4)
    req = c.UpdateServiceRequest(service_id=svc.id, spec=new)
    req.service_version.index = svc.meta.version.index
    out = call(services.update_service, swarm.ctx, req).service
    assert out.spec == new and out.previous_spec == first
    assert out.previous_spec_version.index == 1
    assert out.spec_version.index > svc.meta.version.index      # above every earlier version
    assert out.meta.updated_at.seconds == int(swarm.clock.now)
    assert out.meta.created_at == svc.meta.created_at
    again = update(swarm, out)
    assert again.previous_spec == new and again.spec_version.index > out.spec_version.index


def test_update_clears_a_paused_update_status(swarm: Swarm) -> None:
    # reference §5.5: the next UpdateService call resets UpdateStatus to nil
    svc = create(swarm.ctx, service_spec())
    svc.update_status.state = UpdateStatus.PAUSED
    call(lambda ctx, _: ctx.apply([typed.update(svc)]), swarm.ctx, None)
    assert not update(swarm, get(swarm, svc.id)).HasField("update_status")


def test_update_refuses_rename_mode_change_and_invalid_specs(swarm: Swarm) -> None:
    svc = create(swarm.ctx, service_spec("web", replicas=2))
    cases = [(service_spec("web2"), "INVALID_ARGUMENT", "renaming services is not supported"),
             (service_spec("web", mode_global=True), "INVALID_ARGUMENT",
              "service mode change is not allowed"),
             (service_spec("web", image=""), "INVALID_ARGUMENT",
              "ContainerSpec: image reference must be provided")]
    for spec, code, message in cases:
        req = c.UpdateServiceRequest(service_id=svc.id, spec=spec)
        req.service_version.index = svc.meta.version.index
        refused(services.update_service, swarm.ctx, req, code, message)


def test_update_of_an_unknown_service_is_not_found(swarm: Swarm) -> None:
    refused(services.update_service, swarm.ctx,
            c.UpdateServiceRequest(service_id="nope", spec=service_spec("nope")),
            "NOT_FOUND", "no such service: nope")


def test_rollback_without_a_previous_spec_is_refused(swarm: Swarm) -> None:
    svc = create(swarm.ctx, service_spec())
    req = c.UpdateServiceRequest(service_id=svc.id, rollback=c.UpdateServiceRequest.PREVIOUS)
    refused(services.update_service, swarm.ctx, req, "FAILED_PRECONDITION",
            f"service {svc.id} does not have a previous spec")


def test_rollback_swaps_spec_and_previous_spec_with_their_versions(swarm: Swarm) -> None:
    # reference §5.4
    svc = create(swarm.ctx, service_spec(replicas=1))
    svc.spec.replicated.replicas = 3
    v2 = update(swarm, svc)
    swarm.clock.now += 5
    req = c.UpdateServiceRequest(service_id=svc.id, rollback=c.UpdateServiceRequest.PREVIOUS)
    back = call(services.update_service, swarm.ctx, req).service
    assert back.spec.replicated.replicas == 1 and back.previous_spec.replicated.replicas == 3
    assert back.spec_version.index == 1
    assert back.previous_spec_version.index == v2.spec_version.index
    assert back.update_status.state == UpdateStatus.ROLLBACK_STARTED
    assert back.update_status.message == "manually requested rollback"
    assert back.update_status.started_at.seconds == int(swarm.clock.now)
    forth = call(services.update_service, swarm.ctx, req).service   # twice: back to the newer spec
    assert forth.spec.replicated.replicas == 3 and forth.spec_version.index == v2.spec_version.index


# ---- remove --------------------------------------------------------------------------------


def test_remove_deletes_the_service_and_marks_its_tasks_remove_in_one_write(swarm: Swarm) -> None:
    svc = create(swarm.ctx, service_spec(replicas=2))
    other = create(swarm.ctx, service_spec("other"))
    tasks = [Task(id=f"t{i}", service_id=svc.id, slot=i, desired_state=RUNNING) for i in (1, 2)]
    tasks.append(Task(id="t3", service_id=other.id, slot=1, desired_state=RUNNING))
    call(lambda ctx, _: ctx.apply([typed.create(t) for t in tasks]), swarm.ctx, None)
    index = swarm.store.index
    call(services.remove_service, swarm.ctx, c.RemoveServiceRequest(service_id="web"))
    assert swarm.store.index == index + 1 and swarm.store.applied[-1] == 3
    assert swarm.ctx.read.get(Service, svc.id) is None
    assert {t.id: t.desired_state for t in swarm.ctx.read.list(Task)} == \
        {"t1": REMOVE, "t2": REMOVE, "t3": RUNNING}


def test_remove_of_an_unknown_service_is_not_found(swarm: Swarm) -> None:
    refused(services.remove_service, swarm.ctx, c.RemoveServiceRequest(service_id="nope"),
            "NOT_FOUND", "no such service: nope")


# ---- list ----------------------------------------------------------------------------------


def names(resp: c.ListServicesResponse) -> list[str]:
    return sorted(s.spec.annotations.name for s in resp.services)


def test_list_filters(swarm: Swarm) -> None:
    web = create(swarm.ctx, service_spec("web", labels={"tier": "front", "team": "a"}))
    create(swarm.ctx, service_spec("webapi", labels={"tier": "back"}))
    create(swarm.ctx, service_spec("db", mode_global=True, labels={"team": "a"}))
    before = snapshot(swarm.store)

    def ls(**kw: object) -> list[str]:
        req = c.ListServicesRequest(filters=c.ListServicesRequest.Filters(**kw))  # type: ignore[arg-type]
        return names(call(services.list_services, swarm.ctx, req))

    assert ls() == ["db", "web", "webapi"]
    assert ls(names=["web"]) == ["web"]
    assert ls(name_prefixes=["web"]) == ["web", "webapi"]
    assert ls(name_prefixes=["db", "webapi"]) == ["db", "webapi"]       # same key OR-ed
    assert ls(id_prefixes=[web.id[:6]]) == ["web"]
    assert ls(labels={"tier": ""}) == ["web", "webapi"]
    assert ls(labels={"tier": "front"}) == ["web"]
    assert ls(labels={"tier": "", "team": "a"}) == ["web"]              # different keys AND-ed
    assert ls(modes=["global"]) == ["db"]
    assert ls(modes=["replicated"]) == ["web", "webapi"]
    assert ls(modes=["replicated"], name_prefixes=["db"]) == []
    assert snapshot(swarm.store) == before                               # reads write nothing


# ---- get: what users type ------------------------------------------------------------------


def test_get_by_id_name_and_unique_id_prefix(swarm: Swarm) -> None:
    svc = create(swarm.ctx, service_spec("web"))
    for ref in (svc.id, "web", svc.id[:5]):
        assert call(services.get_service, swarm.ctx, c.GetServiceRequest(service_id=ref)).service == svc


def test_get_by_ambiguous_prefix_unknown_and_empty(swarm: Swarm) -> None:
    add_service(swarm, "abc1" + "0" * 21, "one")
    add_service(swarm, "abc2" + "0" * 21, "two")
    refused(services.get_service, swarm.ctx, c.GetServiceRequest(service_id="abc"),
            "INVALID_ARGUMENT", "multiple services found with provided prefix: abc")
    refused(services.get_service, swarm.ctx, c.GetServiceRequest(service_id="zzz"),
            "NOT_FOUND", "no such service: zzz")
    refused(services.get_service, swarm.ctx, c.GetServiceRequest(service_id=""),
            "NOT_FOUND", "service name or ID must be provided")
    got = call(services.get_service, swarm.ctx, c.GetServiceRequest(service_id="abc2")).service
    assert got.spec.annotations.name == "two"


def test_get_prefers_exact_id_then_name_then_prefix(swarm: Swarm) -> None:
    # reference §0: full ID, then name, then unique ID prefix
    a = add_service(swarm, "abc1" + "0" * 21, "one")
    b = add_service(swarm, "xyz1" + "0" * 21, "abc1")       # named like a's id prefix
    assert call(services.get_service, swarm.ctx, c.GetServiceRequest(service_id="abc1")).service.id == b.id
    assert call(services.get_service, swarm.ctx, c.GetServiceRequest(service_id=a.id)).service.id == a.id


def test_get_with_insert_defaults_fills_only_what_is_absent_and_stores_nothing(swarm: Swarm) -> None:
    """swarmkit's InterpolateService, what dockerd's insertDefaults=true answers: absent
    update/rollback configs, restart delay, stop grace period are filled; a given update
    config (parallelism 0: all at once) stays as given; the stored spec is unchanged."""
    spec = service_spec("web", replicas=2)
    spec.ClearField("rollback")
    spec.update.parallelism = 0
    svc = create(swarm.ctx, spec)
    plain = call(services.get_service, swarm.ctx, c.GetServiceRequest(service_id=svc.id)).service
    assert plain.spec == svc.spec
    full = call(services.get_service, swarm.ctx,
                c.GetServiceRequest(service_id=svc.id, insert_defaults=True)).service.spec
    assert full.update.parallelism == 0                         # given: kept
    assert full.rollback.parallelism == 1 and full.rollback.monitor.seconds == 5
    assert full.task.restart.delay.seconds == 5
    assert full.task.container.stop_grace_period.seconds == 10
    assert full.task.HasField("resources") and full.task.HasField("placement")
    assert get(swarm, svc.id).spec == svc.spec                  # the read stored nothing
