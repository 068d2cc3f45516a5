"""The node's local volumes over the daemon API (issue 13): placeholder until it lands."""

from __future__ import annotations

from typing import Any

from swarm.daemon.refusals import UnimplementedError


def _todo() -> Any:
    raise UnimplementedError("volumes are not served yet")


async def create(volumes: Any, req: Any) -> Any:
    return _todo()


async def list_volumes(volumes: Any, req: Any) -> Any:
    return _todo()


async def inspect(volumes: Any, req: Any) -> Any:
    return _todo()


async def remove(volumes: Any, req: Any) -> Any:
    return _todo()


async def prune(volumes: Any, req: Any) -> Any:
    return _todo()
