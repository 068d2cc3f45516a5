"""Configs: create, inspect, list, update (labels only), remove (refused while in use).

Like secrets (:mod:`~swarm.controlapi.secrets`) but not secret: the data is stored as given
and returned by inspect (Docker shows ``Spec.Data``), up to 1000 KiB. Templating (Docker's
``--template-driver golang``) is stored as given; the node renders it per task
(``node.exec.templates``); any other driver is refused. Messages are swarmkit's (``config.go``).
"""

from __future__ import annotations

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Config, Service
from swarm.api.specs_pb2 import ConfigSpec
from swarm.ca.ids import new_id
from swarm.controlapi.common import Context
from swarm.controlapi.errors import AlreadyExistsError, InvalidArgumentError
from swarm.controlapi.payloads import (
    MAX_CONFIG,
    filtered,
    in_use_message,
    services_using,
    validate_labels,
    validate_name,
    validate_payload,
    validate_templating,
)
from swarm.controlapi.resolve import resolve
from swarm.store import NameConflictError, typed


def find_config(ctx: Context, ref: str) -> Config:
    return resolve(ref, ctx.read.list(Config), "config", lambda x: x.spec.annotations.name)


def config_ids(svc: Service) -> list[str]:
    return [r.config_id for r in svc.spec.task.container.configs]


async def create_config(ctx: Context, req: c.CreateConfigRequest) -> c.CreateConfigResponse:
    spec = ConfigSpec()
    spec.CopyFrom(req.spec)
    validate_name(spec.annotations.name)
    validate_labels(spec.annotations.labels)
    validate_templating("config", spec.templating.name)
    validate_payload("config", spec.data, MAX_CONFIG)
    if any(x.spec.annotations.name == spec.annotations.name for x in ctx.read.list(Config)):
        raise AlreadyExistsError(f"config {spec.annotations.name} already exists")
    config = Config(id=new_id())
    config.spec.CopyFrom(spec)
    now = ctx.now()
    config.meta.created_at.CopyFrom(now)
    config.meta.updated_at.CopyFrom(now)
    try:
        await ctx.apply([typed.create(config)])
    except NameConflictError:
        raise AlreadyExistsError(f"config {spec.annotations.name} already exists") from None
    stored = ctx.read.get(Config, config.id)
    assert stored is not None
    return c.CreateConfigResponse(config=stored)


def get_config(ctx: Context, req: c.GetConfigRequest) -> c.GetConfigResponse:
    return c.GetConfigResponse(config=find_config(ctx, req.config_id))


def list_configs(ctx: Context, req: c.ListConfigsRequest) -> c.ListConfigsResponse:
    return c.ListConfigsResponse(configs=filtered(ctx.read.list(Config), req.filters))


async def update_config(ctx: Context, req: c.UpdateConfigRequest) -> c.UpdateConfigResponse:
    config = find_config(ctx, req.config_id)
    new = req.spec
    if new.annotations.name != config.spec.annotations.name or (new.data and new.data != config.spec.data):
        raise InvalidArgumentError("only updates to Labels are allowed")
    validate_labels(new.annotations.labels)
    config.spec.annotations.labels.clear()
    config.spec.annotations.labels.update(new.annotations.labels)
    config.meta.updated_at.CopyFrom(ctx.now())
    if req.HasField("config_version"):
        config.meta.version.index = req.config_version.index
    await ctx.apply([typed.update(config)])
    stored = ctx.read.get(Config, config.id)
    assert stored is not None
    return c.UpdateConfigResponse(config=stored)


async def remove_config(ctx: Context, req: c.RemoveConfigRequest) -> c.RemoveConfigResponse:
    config = find_config(ctx, req.config_id)
    users = services_using(ctx, config_ids, config.id)
    if users:
        raise InvalidArgumentError(in_use_message("config", config.spec.annotations.name, users))
    await ctx.apply([typed.delete(config, expected_version=config.meta.version.index)])
    return c.RemoveConfigResponse()
