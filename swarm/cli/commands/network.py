"""`swarm network create|ls|inspect|rm`."""

from __future__ import annotations

import json

import click

from swarm.api import control_pb2, specs_pb2
from swarm.api.types_pb2 import IPAMConfig
from swarm.cli.boolflags import PflagGroup
from swarm.cli.client import CLIError
from swarm.cli.format import emit_listing, render_template, truncate_id
from swarm.shapes.docker import to_docker


def register(cli: click.Group) -> None:
    cli.add_command(network)


@click.group(cls=PflagGroup)
def network() -> None:
    """Manage overlay networks."""


@network.command("create")
@click.option("-d", "--driver", default="overlay", show_default=True, help="Driver to manage the Network")
@click.option("--subnet", multiple=True, help="Subnet in CIDR format that represents a network segment")
@click.option("--gateway", multiple=True, help="IPv4 Gateway for the master subnet")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--ingress", is_flag=True, help="Create swarm routing-mesh network")
@click.option("-l", "--label", multiple=True, help="Set metadata on a network")
@click.argument("name")
@click.pass_obj
def create(obj, driver, subnet, gateway, attachable, internal, ingress, label, name) -> None:  # type: ignore[no-untyped-def]
    """Create a network."""
    if len(gateway) > len(subnet):
        raise CLIError("every gateway needs a subnet")
    spec = specs_pb2.NetworkSpec(attachable=attachable, internal=internal, ingress=ingress)
    spec.annotations.name = name
    for kv in label:
        k, _, v = kv.partition("=")
        spec.annotations.labels[k] = v
    spec.driver_config.name = driver
    for i, s in enumerate(subnet):
        spec.ipam.configs.append(IPAMConfig(subnet=s, gateway=gateway[i] if i < len(gateway) else ""))
    c = obj.client
    r = c.call(c.control.CreateNetwork, control_pb2.CreateNetworkRequest(spec=spec))
    click.echo(r.network.id)


def _record(n) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"ID": truncate_id(n.id), "Name": n.spec.annotations.name, "Driver": "overlay",
            "Scope": "swarm", "_full": n.id}


@network.command("ls")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--format", "fmt", default=None)
@click.option("--no-trunc", is_flag=True)
@click.pass_obj
def ls(obj, quiet: bool, fmt: str | None, no_trunc: bool) -> None:  # type: ignore[no-untyped-def]
    """List networks."""
    c = obj.client
    nets = c.call(c.control.ListNetworks, control_pb2.ListNetworksRequest()).networks
    recs = []
    for n in sorted(nets, key=lambda n: n.spec.annotations.name):
        r = _record(n)
        if quiet or no_trunc:
            r["ID"] = n.id
        recs.append(r)
    emit_listing(fmt, quiet, ["NETWORK ID", "NAME", "DRIVER", "SCOPE"], ["ID", "Name", "Driver", "Scope"], recs)


@network.command("inspect")
@click.option("-f", "--format", "fmt", default=None)
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, fmt: str | None, refs) -> None:  # type: ignore[no-untyped-def]
    """Display detailed information on one or more networks."""
    c = obj.client
    docs = []
    for ref in refs:
        n = c.call(c.control.GetNetwork, control_pb2.GetNetworkRequest(network_id=ref)).network
        doc = to_docker(n)
        doc["Name"] = n.spec.annotations.name
        doc["Driver"] = "overlay"
        doc["Scope"] = "swarm"
        doc["IPAM"] = {"Driver": "default", "Config": [{"Subnet": x.subnet, "Gateway": x.gateway}
                                                       for x in n.ipam.configs]}
        doc["Options"] = dict(n.driver_state.options)
        doc["Ingress"] = n.spec.ingress
        doc["Attachable"] = n.spec.attachable
        docs.append(doc)
    if fmt:
        for d in docs:
            click.echo(render_template(fmt, d))
        return
    click.echo(json.dumps(docs, indent=4))


@network.command("rm")
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def rm(obj, refs) -> None:  # type: ignore[no-untyped-def]
    """Remove one or more networks."""
    c = obj.client
    errors = []
    for ref in refs:
        try:
            n = c.call(c.control.GetNetwork, control_pb2.GetNetworkRequest(network_id=ref)).network
            c.call(c.control.RemoveNetwork, control_pb2.RemoveNetworkRequest(network_id=n.id))
            click.echo(ref)
        except CLIError as e:
            errors.append(str(e))
    if errors:
        raise CLIError("\n".join(errors))


network.add_command(rm, "remove")
