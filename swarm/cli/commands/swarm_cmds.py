"""`swarm init|join|leave|join-token|update|unlock|unlock-key` — this node's membership in a
swarm, the swarm's settings and autolock."""

from __future__ import annotations

import os
import re
import sys
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
    for cmd in (init, join, leave, join_token, update, unlock, unlock_key):
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
@click.option("--autolock", is_flag=True,
              help="Enable manager autolocking (requiring an unlock key to start a stopped manager)")
@click.pass_obj
def init(obj, advertise_addr, listen_addr, data_path_addr, data_path_port, availability,  # type: ignore[no-untyped-def]
         task_history_limit, cert_expiry, dispatcher_heartbeat, default_addr_pool,
         default_addr_pool_mask_length, force_new_cluster, autolock) -> None:
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
    spec.encryption_config.auto_lock_managers = autolock
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
    if autolock:
        _print_unlock_command(c.call(c.control.GetUnlockKey, control_pb2.GetUnlockKeyRequest()).unlock_key)


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


@click.command(cls=PflagCommand)
@click.option("--autolock", is_flag=True, help="Change manager autolocking setting (true|false)")
@click.option("--cert-expiry", default="2160h0m0s", show_default=True, help="Validity period for node certificates")
@click.option("--dispatcher-heartbeat", default="5s", show_default=True, help="Dispatcher heartbeat period")
@click.option("--task-history-limit", type=int, default=5, show_default=True, help="Task history retention limit")
@click.option("--snapshot-interval", type=int, default=10000, show_default=True,
              help="Number of log entries between Raft snapshots")
@click.option("--max-snapshots", type=int, default=0, help="Number of additional Raft snapshots to retain")
@click.pass_context
def update(ctx: click.Context, autolock: bool, cert_expiry: str, dispatcher_heartbeat: str,
           task_history_limit: int, snapshot_interval: int, max_snapshots: int) -> None:
    """Update the swarm (only the flags given change)."""
    given = {name for name in ctx.params
             if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE}
    c = ctx.obj.client
    cl = c.call(c.control.GetCluster, control_pb2.GetClusterRequest()).cluster
    spec = cl.spec
    was_locked = spec.encryption_config.auto_lock_managers
    if "autolock" in given:
        spec.encryption_config.auto_lock_managers = autolock
    if "cert_expiry" in given:
        spec.ca_config.node_cert_expiry.CopyFrom(_duration("--cert-expiry", cert_expiry))
    if "dispatcher_heartbeat" in given:
        spec.dispatcher.heartbeat_period.CopyFrom(_duration("--dispatcher-heartbeat", dispatcher_heartbeat))
    if "task_history_limit" in given:
        spec.orchestration.task_history_retention_limit = task_history_limit
    if "snapshot_interval" in given:
        spec.raft.snapshot_interval = snapshot_interval
    if "max_snapshots" in given:
        spec.raft.keep_old_snapshots = max_snapshots
    c.call(c.control.UpdateCluster, control_pb2.UpdateClusterRequest(
        cluster_id=cl.id, cluster_version=cl.meta.version, spec=spec))
    click.echo("Swarm updated.")
    if spec.encryption_config.auto_lock_managers and not was_locked:
        _print_unlock_command(c.call(c.control.GetUnlockKey, control_pb2.GetUnlockKeyRequest()).unlock_key)


@click.command(cls=PflagCommand)
@click.pass_obj
def unlock(obj) -> None:  # type: ignore[no-untyped-def]
    """Unlock swarm (a manager restarted under autolock), reading the key from the terminal or
    from one line of standard input."""
    c = obj.client
    info = c.call(c.daemon.Info, daemon_pb2.InfoRequest())
    if info.local_node_state == "inactive":
        raise CLIError("Error: This node is not part of a swarm")
    if info.local_node_state != "locked":
        raise CLIError("Error: swarm is not locked")
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass("Enter unlock key: ")
    else:
        key = sys.stdin.readline()
    c.call(c.daemon.Unlock, daemon_pb2.UnlockRequest(unlock_key=key.strip()), timeout=120)


@click.command("unlock-key", cls=PflagCommand)
@click.option("-q", "--quiet", is_flag=True, help="Only display token")
@click.option("--rotate", is_flag=True, help="Rotate unlock key")
@click.pass_obj
def unlock_key(obj, quiet: bool, rotate: bool) -> None:  # type: ignore[no-untyped-def]
    """Manage the unlock key."""
    c = obj.client
    if rotate:
        cl = c.call(c.control.GetCluster, control_pb2.GetClusterRequest()).cluster
        if not cl.spec.encryption_config.auto_lock_managers:
            raise CLIError("cannot rotate because autolock is not turned on")
        c.call(c.control.UpdateCluster, control_pb2.UpdateClusterRequest(
            cluster_id=cl.id, cluster_version=cl.meta.version, spec=cl.spec,
            rotation=control_pb2.KeyRotation(manager_unlock_key=True)))
        if not quiet:
            click.echo("Successfully rotated manager unlock key.")   # no blank line: docker 28
    key = c.call(c.control.GetUnlockKey, control_pb2.GetUnlockKeyRequest()).unlock_key
    if not key:
        raise CLIError("no unlock key is set")
    if quiet:
        click.echo(key)
        return
    _print_unlock_command(key)


def _print_unlock_command(key: str) -> None:
    """docker/cli's printUnlockCommand, with this CLI's command name."""
    if key:
        click.echo("To unlock a swarm manager after it restarts, run the `swarm unlock`\n"
                   f"command and provide the following key:\n\n    {key}\n\n"
                   "Remember to store this key in a password manager, since without it you\n"
                   "will not be able to restart the manager.")
