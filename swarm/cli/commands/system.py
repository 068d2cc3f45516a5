"""`swarm info` and `swarm version`."""

from __future__ import annotations

import json
import platform
from typing import Any

import click

from swarm import __version__
from swarm.api import daemon_pb2
from swarm.cli.boolflags import PflagCommand
from swarm.cli.format import bytes_human, render_template


def register(cli: click.Group) -> None:
    cli.add_command(info)
    cli.add_command(version)


@click.command(cls=PflagCommand)
@click.option("-f", "--format", "fmt", default=None, help="'json', or a Go template such as '{{.Swarm.LocalNodeState}}'")
@click.pass_obj
def info(obj, fmt: str | None) -> None:  # type: ignore[no-untyped-def]
    """Display system-wide information."""
    c = obj.client
    r: daemon_pb2.InfoResponse = c.call(c.daemon.Info, daemon_pb2.InfoRequest())
    if fmt:
        data = info_json(r)
        click.echo(json.dumps(data, separators=(",", ":")) if fmt == "json" else render_template(fmt, data))
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


@click.command(cls=PflagCommand)
@click.option("-f", "--format", "fmt", default=None, help="'json', or a Go template such as '{{.Swarm.LocalNodeState}}'")
@click.pass_obj
def version(obj, fmt: str | None) -> None:  # type: ignore[no-untyped-def]
    """Show the client and daemon versions."""
    c = obj.client
    r: daemon_pb2.VersionResponse = c.call(c.daemon.Version, daemon_pb2.VersionRequest())
    if fmt:
        data = version_json(r)
        click.echo(json.dumps(data, separators=(",", ":")) if fmt == "json" else render_template(fmt, data))
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


def info_json(r: daemon_pb2.InfoResponse) -> dict[str, Any]:
    """``docker info``'s JSON shape (the fields we have), for ``-f json`` and templates such as
    ``-f '{{.Swarm.LocalNodeState}}'``."""
    swarm: dict[str, Any] = {
        "NodeID": r.node_id, "NodeAddr": r.node_addr, "LocalNodeState": r.local_node_state,
        "ControlAvailable": r.control_available, "Error": r.error,
        "RemoteManagers": [{"NodeID": "", "Addr": a} for a in r.remote_managers] or None,
        # ours, not Docker's: the ids of the secrets and configs this node's agent holds now
        # (in memory, for its tasks), never their values
        "HeldSecrets": sorted(r.held_secrets), "HeldConfigs": sorted(r.held_configs),
    }
    if r.control_available:
        swarm.update({"Nodes": r.nodes, "Managers": r.managers, "Cluster": {"ID": r.cluster_id}})
    return {
        "ID": r.node_id, "Containers": r.containers_running, "ContainersRunning": r.containers_running,
        "Name": r.name, "NCPU": r.ncpu, "MemTotal": r.mem_total, "ServerVersion": r.version,
        "OSType": "linux", "CgroupVersion": r.cgroup_version, "DockerRootDir": r.data_root,
        "RegistryConfig": {"InsecureRegistryCIDRs": list(r.insecure_registries)},
        "Swarm": swarm,
    }


def version_json(r: daemon_pb2.VersionResponse) -> dict[str, Any]:
    """``docker version``'s JSON shape: ``-f '{{.Server.Version}}'``."""
    return {
        "Client": {"Version": __version__, "ApiVersion": r.api_version, "Os": platform.system().lower(),
                   "Arch": r.arch},
        "Server": {"Version": r.version, "ApiVersion": r.api_version, "PythonVersion": r.python_version,
                   "Os": r.os, "Arch": r.arch, "KernelVersion": r.kernel_version,
                   "GitCommit": r.git_commit},
    }
