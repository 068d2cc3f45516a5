"""`swarm node ls|inspect|update|promote|demote|rm|ps`."""

from __future__ import annotations

import json
import re

import click

from swarm.api import control_pb2, daemon_pb2, objects_pb2, specs_pb2
from swarm.api.types_pb2 import MANAGER, WORKER
from swarm.cli.boolflags import PflagGroup
from swarm.cli.client import CLIError
from swarm.cli.format import bytes_human, capitalize, emit_listing
from swarm.shapes.docker import node_doc

AVAIL = {"active": specs_pb2.NodeSpec.ACTIVE, "pause": specs_pb2.NodeSpec.PAUSE,
         "drain": specs_pb2.NodeSpec.DRAIN}
STATE = {0: "Unknown", 1: "Down", 2: "Ready", 3: "Disconnected"}
REACH = {0: "Unknown", 1: "Unreachable", 2: "Reachable"}


def register(cli: click.Group) -> None:
    cli.add_command(node)


@click.group(cls=PflagGroup)
def node() -> None:
    """Manage swarm nodes."""


def _self_id(c) -> str:  # type: ignore[no-untyped-def]
    return c.call(c.daemon.Info, daemon_pb2.InfoRequest()).node_id


def _natural(s: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]


def manager_status(n: objects_pb2.Node) -> str:
    if n.role != MANAGER and not n.HasField("manager_status"):
        return ""
    if n.manager_status.leader:
        return "Leader"
    return REACH.get(n.manager_status.reachability, "Unknown")


def node_record(n: objects_pb2.Node, self_id: str) -> dict[str, object]:
    return {
        "ID": n.id,
        "Self": n.id == self_id,
        "Hostname": n.description.hostname,
        "Status": STATE.get(n.status.state, "Unknown"),
        "Availability": capitalize(specs_pb2.NodeSpec.Availability.Name(n.spec.availability)),
        "ManagerStatus": manager_status(n),
        "EngineVersion": n.description.engine_version,
        "TLSStatus": "Ready",
        "_table_ID": n.id + (" *" if n.id == self_id else ""),
    }


@node.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("--format", "fmt", default=None, help="Format output (table|json|TEMPLATE)")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value)")
@click.pass_obj
def ls(obj, quiet: bool, fmt: str | None, filters: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """List nodes in the swarm."""
    c = obj.client
    f = control_pb2.ListNodesRequest.Filters()
    for flt in filters:
        k, _, v = flt.partition("=")
        if k == "name":
            f.names.append(v)
        elif k == "id":
            f.id_prefixes.append(v)
        elif k == "role":
            if v not in ("manager", "worker"):
                raise CLIError(f"Invalid role '{v}', only worker and manager are supported")
            f.roles.append(MANAGER if v == "manager" else WORKER)
        elif k == "node.label":
            lk, _, lv = v.partition("=")
            f.node_labels[lk] = lv
        elif k == "label":
            lk, _, lv = v.partition("=")
            f.labels[lk] = lv
        elif k == "membership":
            f.memberships.append(specs_pb2.NodeSpec.ACCEPTED if v == "accepted" else specs_pb2.NodeSpec.PENDING)
        else:
            raise CLIError(f"Invalid filter '{k}'")
    nodes = c.call(c.control.ListNodes, control_pb2.ListNodesRequest(filters=f)).nodes
    me = _self_id(c)
    recs = [node_record(n, me) for n in sorted(nodes, key=lambda n: _natural(n.description.hostname))]
    emit_listing(fmt, quiet, ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"],
                 ["ID", "Hostname", "Status", "Availability", "ManagerStatus", "EngineVersion"], recs)


def _get(c, ref: str) -> objects_pb2.Node:  # type: ignore[no-untyped-def]
    if ref == "self":
        ref = _self_id(c)
    return c.call(c.control.GetNode, control_pb2.GetNodeRequest(node_id=ref)).node


@node.command("inspect")
@click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
@click.option("-f", "--format", "fmt", default=None)
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, pretty: bool, fmt: str | None, refs: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """Display detailed information on one or more nodes (NODE or 'self')."""
    if pretty and fmt:
        raise CLIError("cannot supply extra formatting options to the pretty template")
    c = obj.client
    nodes = [_get(c, r) for r in refs]
    if pretty:
        click.echo("\n\n".join(_pretty(n) for n in nodes))
        return
    docs = [node_doc(n) for n in nodes]
    if fmt:
        from swarm.cli.format import render_template

        for d in docs:
            click.echo(render_template(fmt, d))
        return
    click.echo(json.dumps(docs, indent=4))


def _pretty(n: objects_pb2.Node) -> str:
    lines = [f"ID:\t\t\t{n.id}"]
    if n.spec.annotations.labels:
        lines.append("Labels:")
        lines += [f" - {k}={v}" for k, v in sorted(n.spec.annotations.labels.items())]
    lines += [
        f"Hostname:\t\t{n.description.hostname}",
        f"Joined at:\t\t{n.joined_at.ToJsonString()}",
        "Status:",
        f" State:\t\t\t{STATE.get(n.status.state, 'Unknown')}",
        f" Availability:\t\t{capitalize(specs_pb2.NodeSpec.Availability.Name(n.spec.availability))}",
        f" Address:\t\t{n.status.addr}",
    ]
    if n.HasField("manager_status"):
        lines += ["Manager Status:", f" Address:\t\t{n.manager_status.addr}",
                  f" Raft Status:\t\t{REACH.get(n.manager_status.reachability, 'Unknown')}",
                  f" Leader:\t\t{'Yes' if n.manager_status.leader else 'No'}"]
    lines += ["Platform:", f" Operating System:\t{n.description.platform.os}",
              f" Architecture:\t\t{n.description.platform.architecture}",
              "Resources:", f" CPUs:\t\t\t{n.description.resources.nano_cpus // 10**9}",
              f" Memory:\t\t{bytes_human(n.description.resources.memory_bytes)}",
              f"Engine Version:\t\t{n.description.engine_version}"]
    return "\n".join(lines).expandtabs(8)


def _update(c, ref: str, mutate) -> objects_pb2.Node:  # type: ignore[no-untyped-def]
    n = _get(c, ref)
    spec = specs_pb2.NodeSpec()
    spec.CopyFrom(n.spec)
    mutate(n, spec)
    return c.call(c.control.UpdateNode, control_pb2.UpdateNodeRequest(
        node_id=n.id, node_version=n.meta.version, spec=spec)).node


@node.command("update")
@click.option("--availability", default=None, help="Availability of the node (active|pause|drain)")
@click.option("--label-add", multiple=True, help="Add or update a node label (key=value)")
@click.option("--label-rm", multiple=True, help="Remove a node label if exists")
@click.option("--role", default=None, help="Role of the node (worker|manager)")
@click.argument("ref")
@click.pass_obj
def update(obj, availability, label_add, label_rm, role, ref) -> None:  # type: ignore[no-untyped-def]
    """Update a node."""
    if availability is not None and availability not in AVAIL:
        raise CLIError(f'invalid availability "{availability}", only active, pause and drain are supported')
    if role is not None and role not in ("worker", "manager"):
        raise CLIError(f"invalid role {role}, only worker and manager are supported")

    def mutate(n, spec) -> None:  # type: ignore[no-untyped-def]
        if availability is not None:
            spec.availability = AVAIL[availability]
        for kv in label_add:
            k, _, v = kv.partition("=")
            spec.annotations.labels[k] = v
        for k in label_rm:
            if k not in spec.annotations.labels:
                raise CLIError(f"key {k} doesn't exist in node's labels")
            del spec.annotations.labels[k]
        if role is not None:
            spec.desired_role = MANAGER if role == "manager" else WORKER

    _update(obj.client, ref, mutate)
    click.echo(ref)


@node.command("promote")
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def promote(obj, refs) -> None:  # type: ignore[no-untyped-def]
    """Promote one or more nodes to manager in the swarm."""
    _set_role(obj.client, refs, MANAGER, "Node {} is already a manager.",
              "Node {} promoted to a manager in the swarm.")


@node.command("demote")
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def demote(obj, refs) -> None:  # type: ignore[no-untyped-def]
    """Demote one or more nodes from manager in the swarm."""
    _set_role(obj.client, refs, WORKER, "Node {} is already a worker.", "Manager {} demoted in the swarm.")


def _set_role(c, refs, role: int, already: str, done: str) -> None:  # type: ignore[no-untyped-def]
    for ref in refs:
        if _get(c, ref).spec.desired_role == role:
            click.echo(already.format(ref))
            continue
        _update(c, ref, lambda n, s: setattr(s, "desired_role", role))
        click.echo(done.format(ref))


@node.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force remove a node from the swarm")
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def rm(obj, force: bool, refs) -> None:  # type: ignore[no-untyped-def]
    """Remove one or more nodes from the swarm."""
    c = obj.client
    for ref in refs:
        n = _get(c, ref)
        c.call(c.control.RemoveNode, control_pb2.RemoveNodeRequest(node_id=n.id, force=force))
        click.echo(ref)


node.add_command(rm, "remove")


@node.command("ps")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--no-trunc", is_flag=True)
@click.option("--no-resolve", is_flag=True)
@click.option("--format", "fmt", default=None)
@click.option("-f", "--filter", "filters", multiple=True)
@click.argument("refs", nargs=-1)
@click.pass_obj
def ps(obj, quiet, no_trunc, no_resolve, fmt, filters, refs) -> None:  # type: ignore[no-untyped-def]
    """List tasks running on one or more nodes (defaults to the current node)."""
    from swarm.cli.commands.service import print_filtered_tasks

    c = obj.client
    ids = [_get(c, r).id for r in (refs or ("self",))]
    tasks = c.call(c.control.ListTasks, control_pb2.ListTasksRequest(
        filters=control_pb2.ListTasksRequest.Filters(node_ids=ids))).tasks
    print_filtered_tasks(c, tasks, {}, filters, fmt, quiet, no_trunc, no_resolve)
