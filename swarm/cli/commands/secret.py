"""`swarm secret create|ls|inspect|rm` and `swarm config create|ls|inspect|rm`.

The two groups are one shape with two object kinds (as in Docker's CLI): :class:`_Kind` says
which RPCs, request fields, JSON document and table columns each uses. A secret's value is read
from a file or standard input and sent once, to ``CreateSecret``; no answer ever carries it back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import click

from swarm.api import control_pb2, specs_pb2
from swarm.cli.boolflags import PflagGroup
from swarm.cli.client import CLIError
from swarm.cli.format import ago, emit_listing, render_template
from swarm.shapes.docker import config_doc, secret_doc


def register(cli: click.Group) -> None:
    cli.add_command(_group(SECRET))
    cli.add_command(_group(CONFIG))


@dataclass(frozen=True)
class _Kind:
    name: str                                   # "secret" | "config"
    plural: str
    doc: Callable[[Any], dict[str, Any]]
    headers: tuple[str, ...]
    keys: tuple[str, ...]

    @property
    def title(self) -> str:
        return self.name.capitalize()

    def rpc(self, cl: Any, verb: str) -> Any:       # cl.control.CreateSecret, ...
        return getattr(cl.control, f"{verb}{self.title}")

    def request(self, verb: str, **fields: Any) -> Any:
        return getattr(control_pb2, f"{verb}{self.title}Request")(**fields)

    def list_request(self, **filters: Any) -> Any:
        req = getattr(control_pb2, f"List{self.title}sRequest")
        return req(filters=req.Filters(**filters))


SECRET = _Kind("secret", "secrets", secret_doc, ("ID", "NAME", "DRIVER", "CREATED", "UPDATED"),
               ("ID", "Name", "Driver", "CreatedAt", "UpdatedAt"))
CONFIG = _Kind("config", "configs", config_doc, ("ID", "NAME", "CREATED", "UPDATED"),
               ("ID", "Name", "CreatedAt", "UpdatedAt"))


def _read_data(path: str | None, what: str) -> bytes:
    if path is None:
        raise CLIError(f"error reading {what} data: no file given (a file, or - for standard input)")
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CLIError(f"error reading content from \"{path}\": {e.strerror}: {path}") from None


def _labels(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for kv in items:
        k, _, v = kv.partition("=")
        out[k] = v
    return out


def _get(cl: Any, kind: _Kind, ref: str) -> Any:
    resp = cl.call(kind.rpc(cl, "Get"), kind.request("Get", **{f"{kind.name}_id": ref}))
    return getattr(resp, kind.name)


_FILTER_KEYS = {"id": "id_prefixes", "name": "name_prefixes", "label": "labels", "driver": ""}


def _list_filters(filters: tuple[str, ...]) -> dict[str, Any]:
    """Docker's `ls -f`: ``id=`` and ``name=`` match prefixes, ``label=k[=v]``; ``driver=`` is
    accepted (every object here has the default driver, so only an empty value matches)."""
    out: dict[str, Any] = {"id_prefixes": [], "name_prefixes": [], "labels": {}}
    for f in filters:
        k, sep, v = f.partition("=")
        if not sep or k not in _FILTER_KEYS:
            raise CLIError(f"Error response from daemon: invalid filter '{k if sep else f}'")
        if k == "label":
            lk, _, lv = v.partition("=")
            out["labels"][lk] = lv
        elif k == "driver":
            if v:
                out["id_prefixes"].append("\0")   # no object has another driver: nothing matches
        else:
            out[_FILTER_KEYS[k]].append(v)
    return out


def _pretty_time(ts: Any) -> str:
    """Go's time.Time.String() for a UTC instant (Docker's `inspect --pretty` dates)."""
    d = ts.ToDatetime(tzinfo=UTC)
    frac = f".{d.microsecond * 1000 + ts.nanos % 1000:09d}".rstrip("0").rstrip(".")
    return d.strftime("%Y-%m-%d %H:%M:%S") + frac + " +0000 UTC"


def _pretty(kind: _Kind, obj: Any) -> str:
    labels = obj.spec.annotations.labels
    out = [f"ID:              {obj.id}", f"Name:              {obj.spec.annotations.name}"]
    if labels:
        out.append("Labels:")
        out += [f" - {k}{'=' + v if v else ''}" for k, v in sorted(labels.items())]
    if kind is SECRET:
        out.append("Driver:            ")
    out += [f"Created at:        {_pretty_time(obj.meta.created_at)}",
            f"Updated at:        {_pretty_time(obj.meta.updated_at)}"]
    if kind is CONFIG:
        out += ["Data:", obj.spec.data.decode(errors="replace")]
    return "\n".join(out)


def _group(kind: _Kind) -> click.Group:
    @click.group(kind.name, cls=PflagGroup, help=f"Manage Swarm {kind.plural}.")
    def group() -> None:
        pass

    @group.command("create")
    @click.option("-l", "--label", multiple=True, help=f"{kind.title} labels")
    @click.option("--template-driver", default=None, help="Template driver")
    @click.option("-d", "--driver", default=None, hidden=kind is CONFIG, help="Secret driver")
    @click.argument("name")
    @click.argument("file", required=False)
    @click.pass_obj
    def create(obj, label, template_driver, driver, name, file) -> None:  # type: ignore[no-untyped-def]
        """Create a secret (or config) from a file or STDIN (-) as content."""
        if driver:
            raise CLIError(f"Error response from daemon: {kind.name} driver {driver!r} is not supported: "
                           "only secrets held by the swarm itself are")
        data = _read_data(file, kind.name)
        spec_cls = specs_pb2.SecretSpec if kind is SECRET else specs_pb2.ConfigSpec
        spec = spec_cls(data=data)
        if template_driver:
            spec.templating.name = template_driver
        spec.annotations.name = name
        spec.annotations.labels.update(_labels(label))
        cl = obj.client
        resp = cl.call(kind.rpc(cl, "Create"), kind.request("Create", spec=spec))
        click.echo(getattr(resp, kind.name).id)

    @group.command("ls")
    @click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
    @click.option("--format", "fmt", default=None, help="Format output using a custom template")
    @click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
    @click.pass_obj
    def ls(obj, quiet, fmt, filters) -> None:  # type: ignore[no-untyped-def]
        """List secrets (or configs)."""
        cl = obj.client
        resp = cl.call(getattr(cl.control, f"List{kind.title}s"), kind.list_request(**_list_filters(filters)))
        recs = []
        for o in getattr(resp, kind.plural):
            doc = kind.doc(o)
            created = o.meta.created_at.ToDatetime(tzinfo=UTC)
            updated = o.meta.updated_at.ToDatetime(tzinfo=UTC)
            recs.append({**doc, "Name": o.spec.annotations.name, "Driver": "",
                         "Labels": dict(o.spec.annotations.labels),
                         "CreatedAt": ago(created), "UpdatedAt": ago(updated)})
        emit_listing(fmt, quiet, list(kind.headers), list(kind.keys), recs)

    @group.command("inspect")
    @click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
    @click.option("-f", "--format", "fmt", default=None, help="Format output using a custom template")
    @click.argument("refs", nargs=-1, required=True)
    @click.pass_obj
    def inspect(obj, pretty, fmt, refs) -> None:  # type: ignore[no-untyped-def]
        """Display detailed information on one or more secrets (or configs)."""
        if pretty and fmt:
            raise CLIError("--format is incompatible with human friendly format")
        cl = obj.client
        objs = [_get(cl, kind, r) for r in refs]
        if pretty or fmt == "pretty":
            click.echo("\n\n".join(_pretty(kind, o) for o in objs))
            return
        docs = [kind.doc(o) for o in objs]
        if fmt:
            for d in docs:
                click.echo(render_template(fmt, d))
            return
        click.echo(json.dumps(docs, indent=4))

    @group.command("rm")
    @click.argument("refs", nargs=-1, required=True)
    @click.pass_obj
    def rm(obj, refs) -> None:  # type: ignore[no-untyped-def]
        """Remove one or more secrets (or configs)."""
        cl = obj.client
        errors = []
        for ref in refs:
            try:
                o = _get(cl, kind, ref)
                cl.call(kind.rpc(cl, "Remove"), kind.request("Remove", **{f"{kind.name}_id": o.id}))
                click.echo(ref)
            except CLIError as e:
                errors.append(str(e))
        if errors:
            raise CLIError("\n".join(errors))

    group.add_command(rm, "remove")
    group.add_command(ls, "list")
    return group
