"""Job services in the control API: swarmkit's validation of job specs and the JobStatus it keeps
(iteration 0 at create, one more on every update, --force and rollback included)."""

from __future__ import annotations

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Service
from swarm.api.specs_pb2 import ServiceSpec
from swarm.controlapi import services

from .conftest import Swarm
from .helpers import call, create, refused, service_spec


def job_spec(name: str = "job", *, total: int = 6, concurrent: int = 2,
             global_job: bool = False) -> ServiceSpec:
    s = service_spec(name, replicas=None)
    if global_job:
        s.global_job.SetInParent()
    else:
        s.replicated_job.total_completions = total
        s.replicated_job.max_concurrent = concurrent
    return s


def update(s: Swarm, svc: Service, spec: ServiceSpec | None = None) -> Service:
    req = c.UpdateServiceRequest(service_id=svc.id, spec=spec if spec is not None else svc.spec)
    req.service_version.index = svc.meta.version.index
    out: Service = call(services.update_service, s.ctx, req).service
    return out


def test_create_sets_job_status_iteration_zero(swarm: Swarm) -> None:
    svc = create(swarm.ctx, job_spec())
    assert svc.spec.WhichOneof("mode") == "replicated_job"
    assert svc.HasField("job_status") and svc.job_status.HasField("job_iteration")
    assert svc.job_status.job_iteration.index == 0
    assert svc.job_status.last_execution.seconds == int(swarm.clock.now)
    assert not create(swarm.ctx, service_spec("web")).HasField("job_status")


def test_every_update_starts_a_new_iteration(swarm: Swarm) -> None:
    svc = create(swarm.ctx, job_spec(global_job=True))
    swarm.clock.now += 5
    forced = ServiceSpec()
    forced.CopyFrom(svc.spec)
    forced.task.force_update += 1
    svc = update(swarm, svc, forced)
    assert svc.job_status.job_iteration.index == 1
    assert svc.job_status.last_execution.seconds == int(swarm.clock.now)
    req = c.UpdateServiceRequest(service_id=svc.id, rollback=c.UpdateServiceRequest.PREVIOUS)
    req.service_version.index = svc.meta.version.index
    svc = call(services.update_service, swarm.ctx, req).service
    assert svc.job_status.job_iteration.index == 2


def test_jobs_refuse_update_and_rollback_configs(swarm: Swarm) -> None:
    spec = job_spec()
    spec.update.parallelism = 1
    refused(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=spec), "INVALID_ARGUMENT",
            "Jobs may not have an update config")
    spec = job_spec(global_job=True)
    spec.rollback.parallelism = 1
    refused(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=spec), "INVALID_ARGUMENT",
            "Jobs may not have a rollback config")


def test_mode_change_between_job_and_service_is_refused(swarm: Swarm) -> None:
    svc = create(swarm.ctx, job_spec())
    req = c.UpdateServiceRequest(service_id=svc.id, spec=service_spec("job"))
    req.service_version.index = svc.meta.version.index
    refused(services.update_service, swarm.ctx, req, "INVALID_ARGUMENT", "service mode change is not allowed")
