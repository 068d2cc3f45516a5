"""`swarm init|join|leave|join-token` — this node's membership in a swarm."""

from __future__ import annotations

import os
import re
from typing import Any

import click
from google.protobuf.duration_pb2 import Duration

from swarm.api import control_pb2, daemon_pb2, specs_pb2
from swarm.cli.boolflags import PflagCommand
from swarm.cli.client import CLIError
from swarm.cli.durations import parse_duration

AVAILABILITY = {"active": specs_pb2.NodeSpec.ACTIVE, "pause": specs_pb2.NodeSpec.PAUSE,
                "drain": specs_pb2.NodeSpec.DRAIN}


def register(cli: click.Group) -> None:
    for cmd in (init, join, leave, join_token):
        cli.add_command(cmd)


def _availability(v: str) -> Any:
    if v not in AVAILABILITY:
        raise CLIError(f'invalid availability "{v}", only active, pause and drain are supported')
    return AVAILABILITY[v]


def _duration(flag: str, v: str) -> Duration:
    try:
        seconds = parse_duration(v)
    except ValueError as e:
        raise CLIError(f'invalid argument "{v}" for "{flag}" flag: {e}') from None
    d = Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


@click.command(cls=PflagCommand)
@click.option("--advertise-addr", default="", help="Advertised address (format: <ip|interface>[:port])")
@click.option("--listen-addr", default="",
              help="Listen address (format: <ip|interface>[:port]; default: the advertise address)")
@click.option("--data-path-addr", default="", help="Address or interface to use for data path traffic")
@click.option("--data-path-port", type=int, default=0, help="Port number to use for data path traffic (1024 - 49151; default 4789)")
@click.option("--availability", default="active", show_default=True, help="Availability of the node (active|pause|drain)")
@click.option("--task-history-limit", type=int, default=5, show_default=True, help="Task history retention limit")
@click.option("--cert-expiry", default="2160h0m0s", show_default=True, help="Validity period for node certificates")
@click.option("--dispatcher-heartbeat", default="5s", show_default=True, help="Dispatcher heartbeat period")
@click.option("--default-addr-pool", multiple=True, help="default address pool in CIDR format")
@click.option("--default-addr-pool-mask-length", type=int, default=24, show_default=True,
              help="default address pool subnet mask length")
@click.option("--force-new-cluster", is_flag=True, help="Force create a new cluster from current state")
@click.pass_obj
def init(obj, advertise_addr, listen_addr, data_path_addr, data_path_port, availability,  # type: ignore[no-untyped-def]
         task_history_limit, cert_expiry, dispatcher_heartbeat, default_addr_pool,
         default_addr_pool_mask_length, force_new_cluster) -> None:
    """Initialize a swarm."""
    if data_path_port and not 1024 <= data_path_port <= 49151:
        raise CLIError(f"data path port {data_path_port} is out of range (1024-49151)")
    if not 0 < default_addr_pool_mask_length <= 32:
        raise CLIError(f"invalid subnet mask length {default_addr_pool_mask_length}")
    expiry = _duration("--cert-expiry", cert_expiry)
    # PYSWARM_TEST_MIN_CERT_EXPIRY: test-only, as in swarm.ca.rootca (the daemon checks it too)
    if expiry.ToSeconds() < int(os.environ.get("PYSWARM_TEST_MIN_CERT_EXPIRY", "3600")):
        raise CLIError("minimum certificate expiry time is 1h0m0s")
    hb = _duration("--dispatcher-heartbeat", dispatcher_heartbeat)
    if hb.ToNanoseconds() <= 0:
        raise CLIError("dispatcher heartbeat period must be positive")
    spec = specs_pb2.ClusterSpec()
    spec.annotations.name = "default"
    spec.orchestration.task_history_retention_limit = task_history_limit
    spec.ca_config.node_cert_expiry.CopyFrom(expiry)
    spec.dispatcher.heartbeat_period.CopyFrom(hb)
    req = daemon_pb2.InitRequest(
        listen_addr=listen_addr, advertise_addr=advertise_addr, data_path_addr=data_path_addr,
        data_path_port=data_path_port, force_new_cluster=force_new_cluster,
        availability=_availability(availability), spec=spec,
        default_addr_pool=list(default_addr_pool), subnet_size=default_addr_pool_mask_length,
    )
    c = obj.client
    r = c.call(c.daemon.Init, req, timeout=120)
    click.echo(f"Swarm initialized: current node ({r.node_id}) is now a manager.\n")
    _print_join_command(obj, "worker")
    click.echo("To add a manager to this swarm, run 'swarm join-token manager' and follow the instructions.\n")


@click.command(cls=PflagCommand)
@click.option("--token", required=True, help="Token for entry into the swarm")
@click.option("--advertise-addr", default="", help="Advertised address (format: <ip|interface>[:port])")
@click.option("--listen-addr", default="", help="Listen address (format: <ip|interface>[:port]; default: the advertise address)")
@click.option("--data-path-addr", default="", help="Address or interface to use for data path traffic")
@click.option("--availability", default="active", show_default=True, help="Availability of the node (active|pause|drain)")
@click.argument("remote")
@click.pass_obj
def join(obj, token, advertise_addr, listen_addr, data_path_addr, availability, remote) -> None:  # type: ignore[no-untyped-def]
    """Join a swarm as a node and/or manager (REMOTE is HOST:PORT of a manager)."""
    if not re.match(r"^[A-Za-z0-9.\-]+(:\d+)?$", remote):
        raise CLIError(f"invalid remote address {remote!r}: expected HOST:PORT")
    req = daemon_pb2.JoinRequest(
        listen_addr=listen_addr, advertise_addr=advertise_addr, data_path_addr=data_path_addr,
        remote_addrs=[remote], join_token=token, availability=_availability(availability))
    c = obj.client
    r = c.call(c.daemon.Join, req, timeout=60)
    role = "manager" if r.role == 1 else "worker"
    click.echo(f"This node joined a swarm as a {role}.")


@click.command(cls=PflagCommand)
@click.option("-f", "--force", is_flag=True, help="Force this node to leave the swarm, ignoring warnings")
@click.pass_obj
def leave(obj, force: bool) -> None:  # type: ignore[no-untyped-def]
    """Leave the swarm."""
    c = obj.client
    c.call(c.daemon.Leave, daemon_pb2.LeaveRequest(force=force), timeout=60)
    click.echo("Node left the swarm.")


@click.command("join-token", cls=PflagCommand)
@click.option("-q", "--quiet", is_flag=True, help="Only display token")
@click.option("--rotate", is_flag=True, help="Rotate join token")
@click.argument("role")
@click.pass_obj
def join_token(obj, quiet: bool, rotate: bool, role: str) -> None:  # type: ignore[no-untyped-def]
    """Manage join tokens (ROLE is worker or manager)."""
    if role not in ("worker", "manager"):
        raise CLIError(f"unknown role {role}")
    c = obj.client
    if rotate:
        cl = c.call(c.control.GetCluster, control_pb2.GetClusterRequest()).cluster
        rot = control_pb2.KeyRotation(worker_join_token=role == "worker",
                                      manager_join_token=role == "manager")
        c.call(c.control.UpdateCluster, control_pb2.UpdateClusterRequest(
            cluster_id=cl.id, cluster_version=cl.meta.version, spec=cl.spec, rotation=rot))
        if not quiet:
            click.echo(f"Successfully rotated {role} join token.\n")
    if quiet:
        cl = c.call(c.control.GetCluster, control_pb2.GetClusterRequest()).cluster
        click.echo(getattr(cl.root_ca.join_tokens, role))
        return
    _print_join_command(obj, role)


def _print_join_command(obj, role: str) -> None:  # type: ignore[no-untyped-def]
    c = obj.client
    cl = c.call(c.control.GetCluster, control_pb2.GetClusterRequest()).cluster
    info = c.call(c.daemon.Info, daemon_pb2.InfoRequest())
    token = getattr(cl.root_ca.join_tokens, role)
    click.echo(f"To add a {role} to this swarm, run the following command:\n")
    click.echo(f"    swarm join --token {token} {info.manager_addr}\n")
