"""Job services in the CLI, from real protobuf objects (no daemon): the flags Docker takes for
``--mode replicated-job|global-job``, ``service ls``'s MODE/REPLICAS, the job progress display and
``service inspect``'s Mode.ReplicatedJob / Mode.GlobalJob / JobStatus."""

from __future__ import annotations

from typing import Any

import pytest

from swarm.api.objects_pb2 import Service, Task
from swarm.api.specs_pb2 import ServiceSpec
from swarm.api.types_pb2 import COMPLETE, FAILED, READY, RUNNING, SHUTDOWN
from swarm.cli import servicespec as ss
from swarm.cli.client import CLIError
from swarm.cli.commands.service import _job_replicas, create, update
from swarm.cli.progress import Progress, bar
from swarm.shapes.docker import service_doc


def create_flags(*args: str) -> dict[str, Any]:
    return create.make_context("create", [*args, "busybox"]).params


def update_flags(*args: str) -> dict[str, Any]:
    return update.make_context("update", [*args, "job"]).params


def job_spec(mode: str, *args: str) -> ServiceSpec:
    spec = ss.default_spec()
    o = create_flags("--mode", mode, *args)
    ss.job_mode(spec, mode, o)
    ss.apply_common_flags(spec, o)
    return spec


def test_replicated_job_defaults_as_docker() -> None:
    rj = job_spec("replicated-job").replicated_job
    assert (rj.max_concurrent, rj.total_completions) == (1, 1)
    rj = job_spec("replicated-job", "--replicas", "6").replicated_job
    assert (rj.max_concurrent, rj.total_completions) == (6, 6)          # concurrency = replicas
    rj = job_spec("replicated-job", "--replicas", "6", "--max-concurrent", "2").replicated_job
    assert (rj.max_concurrent, rj.total_completions) == (2, 6)
    rj = job_spec("replicated-job", "--max-concurrent", "3").replicated_job
    assert (rj.max_concurrent, rj.total_completions) == (3, 3)          # total = concurrency
    spec = job_spec("replicated-job")
    assert not spec.HasField("update") and not spec.HasField("rollback")
    assert spec.task.restart.condition == ss.default_spec().task.restart.condition


def test_global_job_and_the_refusals() -> None:
    spec = job_spec("global-job")
    assert spec.WhichOneof("mode") == "global_job" and not spec.HasField("update")
    with pytest.raises(CLIError, match=r"^replicas can only be used with replicated or replicated-job mode$"):
        job_spec("global-job", "--replicas", "2")
    with pytest.raises(CLIError, match=r"^max-concurrent can only be used with replicated-job mode$"):
        job_spec("global-job", "--max-concurrent", "2")
    with pytest.raises(CLIError, match=r"^update and rollback configuration is not supported for jobs$"):
        job_spec("replicated-job", "--update-parallelism", "2")
    with pytest.raises(CLIError, match=r"^max-concurrent can only be used with replicated-job mode$"):
        spec = ss.default_spec()
        spec.replicated.replicas = 1
        ss.apply_common_flags(spec, create_flags("--max-concurrent", "2"))


def test_update_of_a_job_sets_total_and_concurrency_and_force_bumps() -> None:
    cur = job_spec("replicated-job", "--replicas", "6", "--max-concurrent", "2")
    new = ss.updated_spec(cur, update_flags("--replicas", "8", "--max-concurrent", "3", "--force"))
    assert (new.replicated_job.total_completions, new.replicated_job.max_concurrent) == (8, 3)
    assert new.task.force_update == cur.task.force_update + 1
    with pytest.raises(CLIError, match="not supported for jobs"):
        ss.updated_spec(cur, update_flags("--rollback-delay", "2s"))


def job(mode: str = "replicated", total: int = 6, concurrent: int = 2, iteration: int = 0) -> Service:
    s = Service(id="job1")
    if mode == "replicated":
        s.spec.replicated_job.total_completions = total
        s.spec.replicated_job.max_concurrent = concurrent
    else:
        s.spec.global_job.SetInParent()
    s.job_status.job_iteration.index = iteration
    return s


def task(tid: str, state: int, slot: int = 0, node: str = "n1", desired: int = COMPLETE,
         iteration: int = 0, err: str = "") -> Task:
    t = Task(id=tid, service_id="job1", slot=slot, node_id=node, desired_state=desired)
    t.status.state = state
    t.status.err = err
    t.job_iteration.index = iteration
    return t


def test_ls_mode_and_replicas_as_docker_28() -> None:
    tasks = [task("a", COMPLETE, 1), task("b", COMPLETE, 2), task("c", RUNNING, 3),
             task("old", COMPLETE, 4, iteration=7)]
    assert _job_replicas(job(), tasks, 1) == ("replicated job", "1/2 (2/6 completed)")
    done = [task(f"t{i}", COMPLETE, i) for i in range(1, 7)]
    assert _job_replicas(job(), done, 0) == ("replicated job", "0/0 (6/6 completed)")
    g = [task("a", COMPLETE, node="n1"), task("b", RUNNING, node="n2")]
    assert _job_replicas(job("global"), g, 1) == ("global job", "1/1 (1/2 completed)")


def test_job_progress_frame_and_its_end() -> None:
    p = Progress()
    tasks = [task("a", COMPLETE, 1), task("b", RUNNING, 2),
             task("f", FAILED, 3, desired=SHUTDOWN, err="boom"), task("r", READY, 3, desired=READY),
             task("x", RUNNING, 4, iteration=1)]
    f = p.frame(job(total=4), tasks, set())
    lines = dict(f.lines)
    assert lines["job progress"] == "1 out of 4 complete"
    assert lines["active tasks"] == "2 out of 2 tasks"
    assert lines["1/4"] == "complete  [" + "=" * 50 + ">]"
    assert lines["2/4"] == bar("running", "", 10) == "running   [" + "=" * 45 + ">" + " " * 5 + "]"
    assert lines["3/4"] == bar("ready", "", 10)       # the retry, not the failed task
    assert lines["4/4"] == " "                        # not started in this iteration
    assert not f.converged
    done = [task(str(i), COMPLETE, i) for i in range(1, 5)]
    assert p.frame(job(total=4), done, set()).converged


def test_global_job_progress_counts_nodes_with_tasks() -> None:
    p = Progress()
    f = p.frame(job("global"), [task("a", COMPLETE, node="n1"), task("b", RUNNING, node="n2")], set())
    assert dict(f.lines)["job progress"] == "1 out of 2 complete" and not f.converged
    assert not p.frame(job("global"), [], set()).converged
    assert p.frame(job("global"), [task("a", COMPLETE, node="n1")], set()).converged


def test_inspect_shapes() -> None:
    s = job()
    s.job_status.last_execution.FromSeconds(1_700_000_000)
    d = service_doc(s)
    assert d["Spec"]["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 6}}
    assert d["JobStatus"] == {"JobIteration": {"Index": 0}, "LastExecution": "2023-11-14T22:13:20Z"}
    assert service_doc(job("global"))["Spec"]["Mode"] == {"GlobalJob": {}}
    assert "JobStatus" not in service_doc(Service(id="x"))


def test_pretty_mode_lines_and_no_update_config_for_jobs() -> None:
    from swarm.cli.pretty import pretty_service

    def lines(svc: Service) -> list[str]:   # the tabwriter's padding aside
        return [" ".join(line.split()) for line in pretty_service(svc).splitlines()]

    out = lines(job())
    assert "Service Mode: Replicated job" in out
    assert "Max Concurrent: 2" in out and "Total Completions: 6" in out
    assert not any(line.startswith(("UpdateConfig:", "RollbackConfig:")) for line in out)
    assert "Service Mode: Global job" in lines(job("global"))
    svc = Service(id="s")
    svc.spec.CopyFrom(ss.default_spec())
    svc.spec.replicated.replicas = 1
    assert "UpdateConfig:" in lines(svc) and "RollbackConfig:" in lines(svc)
