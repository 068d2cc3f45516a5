"""Deploying a stack: a plan made from the converted objects and the swarm's current state, then
its writes (docker/cli ``cli/command/stack/swarm/deploy_composefile.go``).

:func:`make_plan` writes nothing: it looks up every ``external`` network, secret and config
(``network "x" is declared as external, but could not be found``), refuses names taken by
objects of another stack or of none, refuses published ports that two services of the file or a
service outside the stack already hold, and sorts the services into created, updated (only
those whose spec changed: a re-deploy of the same file touches nothing) and, with ``--prune``,
removed. :func:`execute` then writes in Docker's order -- pruned services, networks, secrets,
configs, services -- printing Docker's lines; if a write fails it says what had been made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from swarm.api import control_pb2
from swarm.api.objects_pb2 import Config, Network, Secret, Service
from swarm.api.specs_pb2 import ConfigSpec, NetworkSpec, SecretSpec, ServiceSpec
from swarm.api.types_pb2 import PortConfig
from swarm.cli import imagepin
from swarm.cli.client import CLIError
from swarm.cli.stack.context import IMAGE_LABEL, NAMESPACE_LABEL
from swarm.cli.stack.convert import StackObjects


@dataclass
class Plan:
    namespace: str
    prune: list[Service] = field(default_factory=list)
    networks: list[NetworkSpec] = field(default_factory=list)
    secrets_new: list[SecretSpec] = field(default_factory=list)
    secrets_old: list[tuple[Secret, SecretSpec]] = field(default_factory=list)
    configs_new: list[ConfigSpec] = field(default_factory=list)
    configs_old: list[tuple[Config, ConfigSpec]] = field(default_factory=list)
    services_new: list[ServiceSpec] = field(default_factory=list)
    services_old: list[tuple[Service, ServiceSpec]] = field(default_factory=list)   # may be unchanged
    #: service name -> the digest warning to print after its create or update (pin_images)
    pin_warnings: dict[str, str] = field(default_factory=dict)


def in_stack(labels: Any, namespace: str) -> bool:
    return bool(labels.get(NAMESPACE_LABEL) == namespace)


def stack_state(cl: Any) -> tuple[list[Network], list[Secret], list[Config], list[Service]]:
    c = cl.control
    return (list(cl.call(c.ListNetworks, control_pb2.ListNetworksRequest()).networks),
            list(cl.call(c.ListSecrets, control_pb2.ListSecretsRequest()).secrets),
            list(cl.call(c.ListConfigs, control_pb2.ListConfigsRequest()).configs),
            list(cl.call(c.ListServices, control_pb2.ListServicesRequest()).services))


def _check_externals(objs: StackObjects, nets: list[Network], secrets: list[Secret], configs: list[Config]) -> None:
    have = {n.spec.annotations.name for n in nets} | {n.id for n in nets}
    for name in objs.external_networks:
        if name not in have:
            raise CLIError(f'network "{name}" is declared as external, but could not be found. You need to '
                           "create a swarm-scoped network before the stack is deployed")
    for kind, names, stored in (("secret", objs.external_secrets, secrets), ("config", objs.external_configs, configs)):
        have = {o.spec.annotations.name for o in stored}
        for name in names:
            if name not in have:
                raise CLIError(f'{kind} "{name}" is declared as external, but could not be found. You need '
                               f"to create it (swarm {kind} create) before the stack is deployed")


def _owned(kind: str, name: str, labels: Any, namespace: str) -> None:
    if not in_stack(labels, namespace):
        raise CLIError(f"{kind} {name} already exists and is not part of stack {namespace}")


def _ingress_ports(spec: ServiceSpec) -> set[tuple[int, int]]:
    return {(p.protocol, p.published_port) for p in spec.endpoint.ports
            if p.publish_mode == PortConfig.INGRESS and p.published_port}


def _check_ports(objs: StackObjects, others: list[Service]) -> None:
    """Two services of the file, or one of them and a service the deploy keeps outside the stack,
    publishing one port."""
    owner: dict[tuple[int, int], str] = {}
    for s in others:
        for port in _ingress_ports(s.spec):
            owner[port] = f"service '{s.spec.annotations.name}' (outside stack {objs.namespace})"
    for spec in objs.services:
        for proto, num in sorted(_ingress_ports(spec)):
            prev = owner.get((proto, num))
            if prev is not None:
                pname = PortConfig.Protocol.Name(proto).lower()  # type: ignore[arg-type]
                raise CLIError(f"port {num}/{pname} of service '{spec.annotations.name}' is already "
                               f"published by {prev}")
            owner[(proto, num)] = f"service '{spec.annotations.name}'"


def _split(specs: Sequence[Any], stored: Sequence[Any], kind: str, ns: str) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """(specs to create, (stored object, spec) pairs already there); refuses names taken outside
    the stack."""
    by_name = {o.spec.annotations.name: o for o in stored}
    new, old = [], []
    for spec in specs:
        have = by_name.get(spec.annotations.name)
        if have is None:
            new.append(spec)
        else:
            _owned(kind, spec.annotations.name, have.spec.annotations.labels, ns)
            old.append((have, spec))
    return new, old


def make_plan(cl: Any, objs: StackObjects, prune: bool) -> Plan:
    nets, secrets, configs, services = stack_state(cl)
    ns = objs.namespace
    _check_externals(objs, nets, secrets, configs)
    plan = Plan(ns)
    plan.networks, _ = _split(objs.networks, nets, "network", ns)
    plan.secrets_new, plan.secrets_old = _split(objs.secrets, secrets, "secret", ns)
    plan.configs_new, plan.configs_old = _split(objs.configs, configs, "config", ns)
    plan.services_new, plan.services_old = _split(objs.services, services, "service", ns)
    wanted = {s.annotations.name for s in objs.services}
    if prune:
        plan.prune = [s for s in services if in_stack(s.spec.annotations.labels, ns)
                      and s.spec.annotations.name not in wanted]
    _check_ports(objs, [s for s in services if not in_stack(s.spec.annotations.labels, ns)])
    return plan


def pin_images(cl: Any, plan: Plan, resolve_image: str) -> None:
    """``--resolve-image`` (docker/cli ``deployServices``): ``always`` asks the registry for every
    service, ``changed`` for new services and those whose Compose image changed (the
    ``com.docker.stack.image`` label), ``never`` for none; a service whose image did not change
    and is not asked for keeps the image (and platforms) it was pinned to."""
    for spec in plan.services_new:
        _pin(cl, plan, spec, resolve_image != "never")
    for svc, spec in plan.services_old:
        changed = spec.annotations.labels.get(IMAGE_LABEL) != svc.spec.annotations.labels.get(IMAGE_LABEL)
        if resolve_image == "always" or (resolve_image == "changed" and changed):
            _pin(cl, plan, spec, True)
        elif changed:
            _pin(cl, plan, spec, False)
        else:
            imagepin.keep_pinned(spec, svc.spec)


def _pin(cl: Any, plan: Plan, spec: ServiceSpec, resolve: bool) -> None:
    warning = imagepin.pin_image(cl, spec, resolve)
    if warning:
        plan.pin_warnings[spec.annotations.name] = warning


def comparable(new: ServiceSpec, old: ServiceSpec, secret_ids: dict[str, str],
               config_ids: dict[str, str]) -> ServiceSpec:
    """``new`` as the manager would store it (reference ids filled, ``force_update`` kept)."""
    out = ServiceSpec()
    out.CopyFrom(new)
    for r in out.task.container.secrets:
        r.secret_id = secret_ids.get(r.secret_name, "")
    for cr in out.task.container.configs:
        cr.config_id = config_ids.get(cr.config_name, "")
    out.task.force_update = old.task.force_update
    return out


class _Writer:
    """The plan's calls, remembering what was done for the message of one that fails midway."""

    def __init__(self, cl: Any) -> None:
        self.cl = cl
        self.done: list[str] = []

    def call(self, what: str, rpc: Any, request: Any, warning: str | None = None) -> Any:
        """``rpc(request)``; then ``warning`` (the client's own) and the answer's warnings."""
        try:
            result = self.cl.call(rpc, request)
        except CLIError as e:
            made = f" (already done: {', '.join(self.done)})" if self.done else " (nothing was changed)"
            raise CLIError(f"failed to {what}: {e}{made}") from None
        self.done.append(what)
        for w in [warning, *getattr(result, "warnings", ())]:
            if w:
                click.echo(w, err=True)
        return result


def execute(cl: Any, plan: Plan, echo: Callable[[str], None] = click.echo) -> list[tuple[str, str]]:
    """Carry ``plan`` out; the (id, name) of every service created or changed."""
    c, w = cl.control, _Writer(cl)
    for svc in plan.prune:
        echo(f"Removing service {svc.spec.annotations.name}")
        w.call(f"remove service {svc.spec.annotations.name}", c.RemoveService,
               control_pb2.RemoveServiceRequest(service_id=svc.id))
    for net in plan.networks:
        echo(f"Creating network {net.annotations.name}")
        w.call(f"create network {net.annotations.name}", c.CreateNetwork, control_pb2.CreateNetworkRequest(spec=net))
    for sspec in plan.secrets_new:
        echo(f"Creating secret {sspec.annotations.name}")
        w.call(f"create secret {sspec.annotations.name}", c.CreateSecret, control_pb2.CreateSecretRequest(spec=sspec))
    for old_s, sspec in plan.secrets_old:
        w.call(f"update secret {sspec.annotations.name}", c.UpdateSecret, control_pb2.UpdateSecretRequest(
            secret_id=old_s.id, secret_version=old_s.meta.version, spec=sspec))
    for cspec in plan.configs_new:
        echo(f"Creating config {cspec.annotations.name}")
        w.call(f"create config {cspec.annotations.name}", c.CreateConfig, control_pb2.CreateConfigRequest(spec=cspec))
    for old_c, cspec in plan.configs_old:
        w.call(f"update config {cspec.annotations.name}", c.UpdateConfig, control_pb2.UpdateConfigRequest(
            config_id=old_c.id, config_version=old_c.meta.version, spec=cspec))
    touched: list[tuple[str, str]] = []
    if plan.services_old:
        _, secrets, configs, _ = stack_state(cl)
        sids = {s.spec.annotations.name: s.id for s in secrets}
        cids = {x.spec.annotations.name: x.id for x in configs}
        for svc, spec in plan.services_old:
            if comparable(spec, svc.spec, sids, cids) == svc.spec:
                continue
            echo(f"Updating service {spec.annotations.name} (id: {svc.id})")
            w.call(f"update service {spec.annotations.name}", c.UpdateService, control_pb2.UpdateServiceRequest(
                service_id=svc.id, service_version=svc.meta.version, spec=spec),
                plan.pin_warnings.get(spec.annotations.name))
            touched.append((svc.id, spec.annotations.name))
    for spec in plan.services_new:
        echo(f"Creating service {spec.annotations.name}")
        r = w.call(f"create service {spec.annotations.name}", c.CreateService,
                   control_pb2.CreateServiceRequest(spec=spec), plan.pin_warnings.get(spec.annotations.name))
        touched.append((r.service.id, spec.annotations.name))
    return touched


def stack_objects(cl: Any, namespace: str) -> tuple[list[Service], list[Network], list[Secret], list[Config]]:
    nets, secrets, configs, services = stack_state(cl)
    return ([s for s in services if in_stack(s.spec.annotations.labels, namespace)],
            [n for n in nets if in_stack(n.spec.annotations.labels, namespace)],
            [s for s in secrets if in_stack(s.spec.annotations.labels, namespace)],
            [x for x in configs if in_stack(x.spec.annotations.labels, namespace)])


def remove_stack(cl: Any, namespace: str, wait: Callable[[Sequence[str]], None],
                 echo: Callable[[str], None] = click.echo) -> bool:
    """Remove the stack's services, then (their tasks gone) secrets, configs and networks, in
    Docker's order and words. False when nothing carried the stack's label."""
    services, nets, secrets, configs = stack_objects(cl, namespace)
    if not (services or nets or secrets or configs):
        return False
    c = cl.control
    errors: list[str] = []

    def attempt(rpc: Any, request: Any) -> None:
        try:
            cl.call(rpc, request)
        except CLIError as e:
            errors.append(str(e))

    for s in sorted(services, key=lambda s: s.spec.annotations.name):
        echo(f"Removing service {s.spec.annotations.name}")
        attempt(c.RemoveService, control_pb2.RemoveServiceRequest(service_id=s.id))
    wait([s.id for s in services])
    for sec in sorted(secrets, key=lambda s: s.spec.annotations.name):
        echo(f"Removing secret {sec.spec.annotations.name}")
        attempt(c.RemoveSecret, control_pb2.RemoveSecretRequest(secret_id=sec.id))
    for cfg in sorted(configs, key=lambda s: s.spec.annotations.name):
        echo(f"Removing config {cfg.spec.annotations.name}")
        attempt(c.RemoveConfig, control_pb2.RemoveConfigRequest(config_id=cfg.id))
    for net in sorted(nets, key=lambda s: s.spec.annotations.name):
        echo(f"Removing network {net.spec.annotations.name}")
        attempt(c.RemoveNetwork, control_pb2.RemoveNetworkRequest(network_id=net.id))
    if errors:
        raise CLIError("\n".join(errors))
    return True
