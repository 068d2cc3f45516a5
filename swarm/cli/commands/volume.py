"""`swarm volume create|ls|inspect|rm|prune` on the local node's volumes (Docker's ``local``
driver). The daemon answers with Docker's volume JSON; the CLI only prints it."""

from __future__ import annotations

import json

import click

from swarm.api import daemon_pb2
from swarm.cli.boolflags import PflagGroup
from swarm.cli.client import CLIError
from swarm.cli.format import emit_listing, human_size, render_template


def register(cli: click.Group) -> None:
    cli.add_command(volume)


@click.group(cls=PflagGroup)
def volume() -> None:
    """Manage volumes on this node."""


def _pairs(items: tuple[str, ...], flag: str) -> dict[str, str]:
    out = {}
    for kv in items:
        k, sep, v = kv.partition("=")
        if flag == "--opt" and not sep:
            raise CLIError(f'invalid argument "{kv}" for "-o, --opt" flag: invalid key value pair format')
        out[k] = v
    return out


@volume.command("create")
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.option("--label", multiple=True, help="Set metadata for a volume")
@click.option("-o", "--opt", "opts", multiple=True, help="Set driver specific options")
@click.option("--name", "name_opt", default=None, hidden=True)
@click.argument("name", required=False)
@click.pass_obj
def create(obj, driver: str, label, opts, name_opt, name) -> None:  # type: ignore[no-untyped-def]
    """Create a volume."""
    if name and name_opt and name != name_opt:
        raise CLIError("conflicting options: either specify --name or provide positional arg, not both")
    c = obj.client
    r = c.call(c.daemon.VolumeCreate, daemon_pb2.VolumeCreateRequest(
        name=name or name_opt or "", driver=driver, labels=_pairs(label, "--label"),
        driver_opts=_pairs(opts, "--opt")))
    click.echo(json.loads(r.volume_json)["Name"])


@volume.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@click.option("--format", "fmt", default=None, help="Format output using a custom template")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'dangling=true')")
@click.pass_obj
def ls(obj, quiet: bool, fmt: str | None, filters) -> None:  # type: ignore[no-untyped-def]
    """List volumes."""
    c = obj.client
    r = c.call(c.daemon.VolumeList, daemon_pb2.VolumeListRequest(filters=list(filters)))
    recs = sorted((json.loads(v) for v in r.volumes_json), key=lambda v: v["Name"])
    for rec in recs:                    # `--format '{{.Labels}}'` is a k=v list in Docker's ls
        rec["Labels"] = ",".join(f"{k}={v}" for k, v in sorted(rec["Labels"].items()))
    emit_listing(fmt, quiet, ["DRIVER", "VOLUME NAME"], ["Driver", "Name"], recs, id_key="Name")


@volume.command("inspect")
@click.option("-f", "--format", "fmt", default=None, help="Format output using a custom template")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, fmt: str | None, names) -> None:  # type: ignore[no-untyped-def]
    """Display detailed information on one or more volumes."""
    c = obj.client
    docs, errors = [], []
    for n in names:
        try:
            docs.append(json.loads(c.call(c.daemon.VolumeInspect,
                                          daemon_pb2.VolumeInspectRequest(name=n)).volume_json))
        except CLIError as e:
            errors.append(str(e))
    if fmt:
        for d in docs:
            click.echo(render_template(fmt, d))
    else:
        click.echo(json.dumps(docs, indent=4))
    if errors:
        raise CLIError("\n".join(errors))


@volume.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def rm(obj, force: bool, names) -> None:  # type: ignore[no-untyped-def]
    """Remove one or more volumes. A volume a container uses is never removed."""
    c = obj.client
    errors = []
    for n in names:
        try:
            c.call(c.daemon.VolumeRemove, daemon_pb2.VolumeRemoveRequest(name=n, force=force))
            click.echo(n)
        except CLIError as e:
            errors.append(str(e))
    if errors:
        raise CLIError("\n".join(errors))


@volume.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<label>')")
@click.pass_obj
def prune(obj, all_: bool, force: bool, filters) -> None:  # type: ignore[no-untyped-def]
    """Remove unused local volumes."""
    what = "all local volumes" if all_ else "anonymous local volumes"
    if not force:
        click.echo(f"WARNING! This will remove {what} not used by at least one container.")
        if not click.confirm("Are you sure you want to continue?", default=False, show_default=False,
                             prompt_suffix=" [y/N] "):
            return
    c = obj.client
    r = c.call(c.daemon.VolumePrune, daemon_pb2.VolumePruneRequest(all=all_, filters=list(filters)))
    if r.deleted:
        click.echo("Deleted Volumes:")
        for n in r.deleted:
            click.echo(n)
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(r.space_reclaimed)}")


volume.add_command(rm, "remove")
volume.add_command(ls, "list")
