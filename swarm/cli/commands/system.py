"""`swarm info` and `swarm version`."""

from __future__ import annotations

import json

import click
from google.protobuf.json_format import MessageToDict

from swarm import __version__
from swarm.api import daemon_pb2
from swarm.cli.format import bytes_human


def register(cli: click.Group) -> None:
    cli.add_command(info)
    cli.add_command(version)


@click.command()
@click.option("-f", "--format", "fmt", default=None, help="'json' for JSON output.")
@click.pass_obj
def info(obj, fmt: str | None) -> None:  # type: ignore[no-untyped-def]
    """Display system-wide information."""
    c = obj.client
    r: daemon_pb2.InfoResponse = c.call(c.daemon.Info, daemon_pb2.InfoRequest())
    if fmt == "json":
        click.echo(json.dumps(MessageToDict(r, preserving_proto_field_name=False)))
        return
    lines = [
        f"Server Version: {r.version}",
        f"Swarm: {r.local_node_state}",
    ]
    if r.local_node_state == "active":
        lines += [
            f" NodeID: {r.node_id}",
            f" Is Manager: {'true' if r.control_available else 'false'}",
        ]
        if r.control_available:
            lines += [
                f" ClusterID: {r.cluster_id}",
                f" Managers: {r.managers}",
                f" Nodes: {r.nodes}",
                f" Leader: {r.leader_addr or '(none)'}",
                f" Manager Address: {r.manager_addr}",
            ]
        lines.append(f" Node Address: {r.node_addr}")
        if r.remote_managers:
            lines.append(" Manager Addresses:")
            lines += [f"  {m}" for m in r.remote_managers]
    if r.error:
        lines.append(f" Error: {r.error}")
    lines += [
        f"Name: {r.name}",
        f"CPUs: {r.ncpu}",
        f"Total Memory: {bytes_human(r.mem_total)}",
        f"Cgroup Version: {r.cgroup_version}",
        f"Swarm Root Dir: {r.data_root}",
    ]
    if r.insecure_registries:
        lines.append("Insecure Registries:")
        lines += [f" {x}" for x in r.insecure_registries]
    click.echo("\n".join(lines))


@click.command()
@click.option("-f", "--format", "fmt", default=None, help="'json' for JSON output.")
@click.pass_obj
def version(obj, fmt: str | None) -> None:  # type: ignore[no-untyped-def]
    """Show the client and daemon versions."""
    c = obj.client
    r: daemon_pb2.VersionResponse = c.call(c.daemon.Version, daemon_pb2.VersionRequest())
    if fmt == "json":
        click.echo(json.dumps({
            "Client": {"Version": __version__},
            "Server": {"Version": r.version, "ApiVersion": r.api_version,
                       "PythonVersion": r.python_version, "Os": r.os, "Arch": r.arch,
                       "KernelVersion": r.kernel_version},
        }))
        return
    click.echo("\n".join([
        "Client:",
        f" Version:           {__version__}",
        "",
        "Server:",
        f" Version:           {r.version}",
        f" API version:       {r.api_version}",
        f" Python version:    {r.python_version}",
        f" OS/Arch:           {r.os}/{r.arch}",
        f" Kernel Version:    {r.kernel_version}",
    ]))
