"""`swarm stack deploy|ls|ps|services|rm|config` (docker/cli ``cli/command/stack``).

The work is in ``swarm.cli.stack`` (load, schema, convert, deploy); this module holds the flags
and the output.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import click
import yaml

from swarm.api import control_pb2
from swarm.cli.boolflags import PflagGroup
from swarm.cli.client import CLIError
from swarm.cli.format import emit_listing
from swarm.cli.stack import convert, deploy, load, schema
from swarm.cli.stack.context import NAMESPACE_LABEL

RM_TIMEOUT = 300.0
POLL = 0.5


def register(cli: click.Group) -> None:
    cli.add_command(stack)


@click.group(cls=PflagGroup)
def stack() -> None:
    """Manage swarm stacks."""


def _compose_option(f: Any) -> Any:
    return click.option("-c", "--compose-file", "files", multiple=True, metavar="FILE",
                        help='Path to a Compose file, or "-" to read from stdin')(f)


def _load(files: Sequence[str]) -> load.Loaded:
    loaded = load.load(list(files), validate=schema.validate)
    schema.validate(loaded.config)          # the merged document too: an override may break it
    for w in loaded.warnings:
        click.echo(w, err=True)
    return loaded


@stack.command("deploy")
@_compose_option
@click.option("--prune", is_flag=True, help="Prune services that are no longer referenced")
@click.option("--resolve-image", default="always", show_default=True,
              help='Query the registry to resolve image digest and supported platforms ("always", "changed", "never")')
@click.option("--with-registry-auth", is_flag=True, help="Send registry authentication details to Swarm agents")
@click.option("--detach/--no-detach", "-d", "detach", default=None,
              help="Exit immediately instead of waiting for the stack services to converge (the default)")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output")
@click.argument("namespace", metavar="STACK")
@click.pass_obj
def deploy_cmd(obj: Any, files: tuple[str, ...], prune: bool, resolve_image: str, with_registry_auth: bool,
               detach: bool | None, quiet: bool, namespace: str) -> None:
    """Deploy a new stack or update an existing stack."""
    if resolve_image not in ("always", "changed", "never"):
        raise CLIError(f'Invalid option {resolve_image} for flag --resolve-image')
    convert.validate_stack_name(namespace)
    loaded = _load(files)
    objs = convert.convert_stack(namespace, loaded.config, loaded.project_dir)
    if with_registry_auth:     # sent with every service (the manager keeps the same sealed bytes
        from swarm.cli.registryauth import encoded_auth  # for the same credentials: no restart)

        for spec in objs.services:
            auth = encoded_auth(spec.task.container.image)
            if auth:
                spec.task.container.pull_options.registry_auth = auth
    for line in convert.warning_lines(objs):
        click.echo(line, err=True)
    cl = obj.client
    plan = deploy.make_plan(cl, objs, prune)
    deploy.pin_images(cl, plan, resolve_image)
    touched = deploy.execute(cl, plan)
    if detach is None:
        click.echo("Since --detach=false was not specified, tasks will be created in the background.\n"
                   "In a future release, --detach=false will become the default.", err=True)
    elif not detach:
        from swarm.cli.progress import watch

        for sid, name in touched:
            click.echo(f"Waiting for service {name}")
            watch(cl, sid, name, quiet=quiet)


@stack.command("config")
@_compose_option
@click.pass_obj
def config_cmd(obj: Any, files: tuple[str, ...]) -> None:
    """Outputs the final config file, after doing merges and interpolations."""
    loaded = _load(files)
    click.echo(yaml.safe_dump(loaded.config, sort_keys=False, default_flow_style=False), nl=False)


def _stack_services(cl: Any, namespace: str) -> list[Any]:
    f = control_pb2.ListServicesRequest.Filters()
    f.labels[NAMESPACE_LABEL] = namespace
    return list(cl.call(cl.control.ListServices, control_pb2.ListServicesRequest(filters=f)).services)


@stack.command("ls")
@click.option("--format", "fmt", default=None, help="Format output using a custom template")
@click.pass_obj
def ls(obj: Any, fmt: str | None) -> None:
    """List stacks."""
    cl = obj.client
    svcs = cl.call(cl.control.ListServices, control_pb2.ListServicesRequest()).services
    counts: dict[str, int] = {}
    for s in svcs:
        ns = s.spec.annotations.labels.get(NAMESPACE_LABEL)
        if ns is not None:
            counts[ns] = counts.get(ns, 0) + 1
    recs = [{"Name": n, "Services": str(k)} for n, k in sorted(counts.items())]
    emit_listing(fmt, False, ["NAME", "SERVICES"], ["Name", "Services"], recs)


stack.add_command(ls, "list")


@stack.command("services")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("--format", "fmt", default=None, help="Format output using a custom template")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.argument("namespace", metavar="STACK")
@click.pass_context
def services(ctx: click.Context, quiet: bool, fmt: str | None, filters: tuple[str, ...], namespace: str) -> None:
    """List the services in the stack."""
    from swarm.cli.commands.service import ls as service_ls

    if not _stack_services(ctx.obj.client, namespace):
        click.echo(f"Nothing found in stack: {namespace}", err=True)
        return
    ctx.invoke(service_ls, quiet=quiet, fmt=fmt, filters=(*filters, f"label={NAMESPACE_LABEL}={namespace}"))


@stack.command("ps")
@click.option("-q", "--quiet", is_flag=True, help="Only display task IDs")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("--no-resolve", is_flag=True, help="Do not map IDs to Names")
@click.option("--format", "fmt", default=None, help="Pretty-print tasks using a Go template")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.argument("namespace", metavar="STACK")
@click.pass_obj
def ps(obj: Any, quiet: bool, no_trunc: bool, no_resolve: bool, fmt: str | None, filters: tuple[str, ...],
       namespace: str) -> None:
    """List the tasks in the stack."""
    from swarm.cli.commands.service import print_filtered_tasks

    cl = obj.client
    svcs = _stack_services(cl, namespace)
    if not svcs:
        raise CLIError(f"nothing found in stack: {namespace}")
    f = control_pb2.ListTasksRequest.Filters(service_ids=[s.id for s in svcs])
    tasks = cl.call(cl.control.ListTasks, control_pb2.ListTasksRequest(filters=f)).tasks
    print_filtered_tasks(cl, tasks, {s.id: s for s in svcs}, filters, fmt, quiet, no_trunc, no_resolve)


def _wait_tasks_gone(cl: Any, service_ids: Sequence[str]) -> None:
    """Until no task of the removed services is left (their containers are gone), as
    ``docker stack rm`` waits since API 1.44."""
    if not service_ids:
        return
    deadline = time.monotonic() + RM_TIMEOUT
    f = control_pb2.ListTasksRequest.Filters(service_ids=list(service_ids))
    while cl.call(cl.control.ListTasks, control_pb2.ListTasksRequest(filters=f)).tasks:
        if time.monotonic() > deadline:
            raise CLIError(f"timed out after {RM_TIMEOUT:.0f}s waiting for the stack's tasks to be removed")
        time.sleep(POLL)


@stack.command("rm")
@click.argument("namespaces", nargs=-1, required=True, metavar="STACK...")
@click.pass_obj
def rm(obj: Any, namespaces: tuple[str, ...]) -> None:
    """Remove one or more stacks."""
    cl = obj.client
    errors = []
    for ns in namespaces:
        try:
            if not deploy.remove_stack(cl, ns, lambda ids: _wait_tasks_gone(cl, ids)):
                click.echo(f"Nothing found in stack: {ns}", err=True)
        except CLIError as e:
            errors.append(str(e))
    if errors:
        raise CLIError("\n".join(errors))


stack.add_command(rm, "remove")
stack.add_command(rm, "down")
