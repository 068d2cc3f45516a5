"""The task table shared by `service ps` and `node ps` (docker/cli task/print.go)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from swarm.api.objects_pb2 import Node, Service, Task
from swarm.api.types_pb2 import PortConfig, TaskState
from swarm.cli.format import ago, capitalize, emit_listing, truncate_id

HEADERS = ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"]
KEYS = ["ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports"]


def state_name(v: int) -> str:
    try:
        return capitalize(TaskState.Name(v))
    except ValueError:
        return "Unknown"


def task_name(t: Task, services: Mapping[str, Service]) -> str:
    svc = services.get(t.service_id)
    sname = svc.spec.annotations.name if svc else (t.service_annotations.name or t.service_id)
    return f"{sname}.{t.slot}" if t.slot else f"{sname}.{t.node_id}"


def short_image(image: str, no_trunc: bool) -> str:
    """The IMAGE column of `service ls` and `service ps` (docker/cli's formatters): a pinned
    ``name:tag@sha256:...`` without its digest; ``name@sha256:...`` (no tag) as it is."""
    if no_trunc:
        return image
    from swarm.cli.imagepin import has_tag

    if "@" in image and has_tag(image):
        return image.split("@", 1)[0]
    return image


def _natural(s: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]


def health_suffix(t: Task) -> str:
    """`` (healthy)``, `` (health: starting)``, `` (unhealthy)`` for a starting or running task
    whose container has a healthcheck, as ``docker ps`` writes them after "Up 5 seconds"."""
    h = t.status.container.health
    if not h or t.status.state not in (TaskState.STARTING, TaskState.RUNNING):
        return ""
    return " (health: starting)" if h == "starting" else f" ({h})"


def print_tasks(tasks: Sequence[Task], services: Mapping[str, Service], nodes: Mapping[str, Node],
                *, fmt: str | None, quiet: bool, no_trunc: bool, no_resolve: bool = False) -> None:
    now = datetime.now(UTC)
    rows = []
    for t in tasks:
        name = task_name(t, services)
        ts = t.status.timestamp.ToDatetime(tzinfo=UTC) if t.status.HasField("timestamp") else None
        node = nodes.get(t.node_id)
        err = t.status.err
        if err and not no_trunc and len(err) > 30:
            err = err[:29] + "…"
        ports = ", ".join(f"*:{p.published_port}->{p.target_port}/{PortConfig.Protocol.Name(p.protocol).lower()}"
                          for p in t.status.port_status.ports)
        rows.append({
            "ID": truncate_id(t.id, no_trunc),
            "Name": name,
            "Image": short_image(t.spec.container.image, no_trunc),
            "Node": (t.node_id if no_resolve else (node.description.hostname if node else t.node_id)),
            "DesiredState": state_name(t.desired_state),
            "CurrentState": f"{state_name(t.status.state)}{health_suffix(t)} {ago(ts, now)}".strip(),
            "Error": f'"{err}"' if err else "",
            "Ports": ports,
            "_ts": ts.timestamp() if ts else 0.0,
            "_full_id": t.id,
        })
    rows.sort(key=lambda r: (_natural(str(r["Name"])), -float(r["_ts"])))  # type: ignore[arg-type]
    prev = None
    for r in rows:
        if r["Name"] == prev:
            r["_table_Name"] = f" \\_ {r['Name']}"
        prev = r["Name"]
        if quiet:
            r["ID"] = r["_full_id"]
    emit_listing(fmt, quiet, HEADERS, KEYS, rows)
