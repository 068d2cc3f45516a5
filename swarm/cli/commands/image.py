"""`swarm image pull|ls|rm|import` on the local node's image store."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from swarm.api import daemon_pb2
from swarm.cli.boolflags import PflagGroup
from swarm.cli.format import ago, bytes_human, emit_listing


def register(cli: click.Group) -> None:
    cli.add_command(image)


@click.group(cls=PflagGroup)
def image() -> None:
    """Manage images on this node."""


@image.command("pull")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.argument("reference")
@click.pass_obj
def pull(obj, quiet: bool, reference: str) -> None:  # type: ignore[no-untyped-def]
    """Pull an image from a registry."""
    c = obj.client
    last = None
    with c.translate():
        for p in c.daemon.ImagePull(daemon_pb2.ImagePullRequest(reference=reference), timeout=600):
            last = p
            if not quiet and not p.digest and p.total:
                pass
    if last is None:
        return
    if quiet:
        click.echo(reference)
        return
    if last.digest:
        click.echo(f"Digest: {last.digest}")
    click.echo(last.status)
    click.echo(reference)


def _repo_tag(t: str) -> tuple[str, str]:
    slash = t.rfind("/")
    colon = t.rfind(":")
    if colon > slash:
        return t[:colon], t[colon + 1:]
    return t, "<none>"


@image.command("ls")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--format", "fmt", default=None)
@click.option("--no-trunc", is_flag=True)
@click.pass_obj
def ls(obj, quiet: bool, fmt: str | None, no_trunc: bool) -> None:  # type: ignore[no-untyped-def]
    """List images."""
    c = obj.client
    r = c.call(c.daemon.ImageList, daemon_pb2.ImageListRequest())
    now = datetime.now(UTC)
    recs = []
    for img in r.images:
        short = img.id if no_trunc else img.id.split(":", 1)[-1][:12]
        tags = list(img.repo_tags) or ["<none>:<none>"]
        for t in tags:
            repo, tag = _repo_tag(t) if t != "<none>:<none>" else ("<none>", "<none>")
            created = img.created.ToDatetime(tzinfo=UTC) if img.HasField("created") else None
            recs.append({"ID": short, "Repository": repo, "Tag": tag,
                         "CreatedSince": ago(created, now) if created else "N/A",
                         "Size": bytes_human(img.size), "Digest": ",".join(img.repo_digests)})
    if quiet:
        for i in dict.fromkeys(r["ID"] for r in recs):
            click.echo(i)
        return
    emit_listing(fmt, False, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
                 ["Repository", "Tag", "ID", "CreatedSince", "Size"], recs)


@image.command("rm")
@click.option("-f", "--force", is_flag=True)
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def rm(obj, force: bool, refs) -> None:  # type: ignore[no-untyped-def]
    """Remove one or more images."""
    c = obj.client
    for ref in refs:
        r = c.call(c.daemon.ImageRemove, daemon_pb2.ImageRemoveRequest(reference=ref, force=force))
        for u in r.untagged:
            click.echo(f"Untagged: {u}")
        for d in r.deleted:
            click.echo(f"Deleted: {d}")


@image.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.argument("reference", required=False)
@click.pass_obj
def import_(obj, path: str, reference: str | None) -> None:  # type: ignore[no-untyped-def]
    """Import a `docker save` or OCI image-layout tarball (a path on the daemon's host)."""
    import os

    c = obj.client
    r = c.call(c.daemon.ImageImport, daemon_pb2.ImageImportRequest(path=os.path.abspath(path),
                                                                   reference=reference or ""))
    for ref in r.references:
        click.echo(f"Loaded image: {ref}")


image.add_command(import_, "import")
image.add_command(rm, "remove")
