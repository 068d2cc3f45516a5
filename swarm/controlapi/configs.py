"""Configs (issue 13): placeholder until the handlers land; every call is refused clearly."""

from __future__ import annotations

from typing import Any

from swarm.controlapi.common import Context
from swarm.controlapi.errors import FailedPreconditionError


def _todo() -> Any:
    raise FailedPreconditionError("configs are not implemented yet")


def get_config(ctx: Context, req: Any) -> Any:
    return _todo()


def list_configs(ctx: Context, req: Any) -> Any:
    return _todo()


async def create_config(ctx: Context, req: Any) -> Any:
    return _todo()


async def update_config(ctx: Context, req: Any) -> Any:
    return _todo()


async def remove_config(ctx: Context, req: Any) -> Any:
    return _todo()
