"""`service inspect --pretty` (reference §1.12)."""

from __future__ import annotations

from datetime import UTC, datetime

from swarm.api.objects_pb2 import Service
from swarm.api.types_pb2 import Mount, PortConfig, UpdateConfig, UpdateStatus
from swarm.cli.durations import format_duration
from swarm.cli.format import ago, bytes_human


def _d(msg, field: str, default: float) -> str:  # type: ignore[no-untyped-def]
    return format_duration(getattr(msg, field).ToNanoseconds() / 1e9 if msg.HasField(field) else default)


def pretty_service(s: Service) -> str:
    sp = s.spec
    out = [f"ID:\t\t{s.id}", f"Name:\t\t{sp.annotations.name}"]
    if sp.annotations.labels:
        out.append("Labels:")
        out += [f" {k}={v}" for k, v in sorted(sp.annotations.labels.items())]
    if sp.HasField("replicated"):
        out += ["Service Mode:\tReplicated", f" Replicas:\t{sp.replicated.replicas}"]
    elif sp.HasField("replicated_job"):
        out += ["Service Mode:\tReplicated job", f" Max Concurrent:\t{sp.replicated_job.max_concurrent}",
                f" Total Completions:\t{sp.replicated_job.total_completions}"]
    elif sp.HasField("global_job"):
        out.append("Service Mode:\tGlobal job")
    else:
        out.append("Service Mode:\tGlobal")
    if s.HasField("update_status"):
        us = s.update_status
        now = datetime.now(UTC)
        out += ["UpdateStatus:", f" State:\t\t{UpdateStatus.UpdateState.Name(us.state).lower()}"]
        if us.HasField("started_at"):
            out.append(f" Started:\t{ago(us.started_at.ToDatetime(tzinfo=UTC), now)}")
        if us.HasField("completed_at"):
            out.append(f" Completed:\t{ago(us.completed_at.ToDatetime(tzinfo=UTC), now)}")
        out.append(f" Message:\t{us.message}")
    out.append("Placement:")
    if sp.task.placement.constraints:
        out.append(f" Constraints:\t[{' '.join(sp.task.placement.constraints)}]")
    for title, cfg, word in (("UpdateConfig", sp.update, "Update"), ("RollbackConfig", sp.rollback, "Rollback")):
        if not sp.HasField(word.lower()):
            continue   # Docker's HasUpdateConfig / HasRollbackConfig (a job has neither)
        out += [f"{title}:", f" Parallelism:\t{cfg.parallelism}"]
        if cfg.HasField("delay") and cfg.delay.ToNanoseconds():
            out.append(f" Delay:\t\t{_d(cfg, 'delay', 0)}")
        out += [f" On failure:\t{UpdateConfig.FailureAction.Name(cfg.failure_action).lower()}",
                f" Monitoring Period: {_d(cfg, 'monitor', 5)}",
                f" Max failure ratio: {cfg.max_failure_ratio:g}",
                f" {word} order:      {'start-first' if cfg.order == UpdateConfig.START_FIRST else 'stop-first'}"]
    c = sp.task.container
    out += ["ContainerSpec:", f" Image:\t\t{c.image}"]
    if c.args:
        out.append(f" Args:\t\t{' '.join(c.args)}")
    if c.env:
        out.append(f" Env:\t\t{' '.join(c.env)}")
    if c.dir:
        out.append(f" Dir:\t\t{c.dir}")
    if c.init:
        out.append(" Init:\t\ttrue")
    if c.user:
        out.append(f" User: {c.user}")
    if c.mounts:
        out.append("Mounts:")
        for m in c.mounts:
            out += [f" Target:\t{m.target}", f"  Source:\t{m.source}",
                    f"  ReadOnly:\t{'true' if m.readonly else 'false'}",
                    f"  Type:\t\t{Mount.Type.Name(m.type).lower()}"]
    for title, refs, name_field in (("Configs", c.configs, "config_name"), ("Secrets", c.secrets, "secret_name")):
        if refs:
            out.append(f"{title}:")
            for ref in refs:
                out += [f" Target:\t{ref.file.name}", f"  Source:\t{getattr(ref, name_field)}"]
    r = sp.task.resources
    if r.HasField("limits") or r.HasField("reservations"):
        out.append("Resources:")
        for title, res in (("Reservations", r.reservations), ("Limits", r.limits)):
            if res.nano_cpus or res.memory_bytes or res.pids:
                out.append(f" {title}:")
                if res.nano_cpus:
                    out.append(f"  CPU:\t\t{res.nano_cpus / 1e9:g}")
                if res.memory_bytes:
                    out.append(f"  Memory:\t{bytes_human(res.memory_bytes)}")
                if res.pids:
                    out.append(f"  Pids:\t\t{res.pids}")
    if sp.task.networks:
        out.append("Networks: " + " ".join(n.target for n in sp.task.networks))
    out.append(f"Endpoint Mode:\t{'dnsrr' if sp.endpoint.mode == 1 else 'vip'}")
    if s.endpoint.ports:
        out.append("Ports:")
        for p in s.endpoint.ports:
            out += [f" PublishedPort = {p.published_port}",
                    f"  Protocol = {PortConfig.Protocol.Name(p.protocol).lower()}",
                    f"  TargetPort = {p.target_port}",
                    f"  PublishMode = {PortConfig.PublishMode.Name(p.publish_mode).lower()}"]
    return "\n".join(out).expandtabs(8)
