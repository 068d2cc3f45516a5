"""The served endpoints, one module per object; anything not listed here answers 501."""

from __future__ import annotations

from swarm.engineapi.http import Route
from swarm.engineapi.routes import (
    absent,
    containers,
    distribution,
    events,
    execs,
    images,
    logs,
    networks,
    nodes,
    secrets,
    services,
    swarm,
    system,
    tasks,
    volumes,
)

ROUTES: list[Route] = [
    *system.ROUTES,
    *swarm.ROUTES,
    *nodes.ROUTES,
    *services.ROUTES,
    *tasks.ROUTES,
    *networks.ROUTES,
    *secrets.ROUTES,
    *logs.ROUTES,
    *images.ROUTES,
    *distribution.ROUTES,
    *volumes.ROUTES,
    *containers.ROUTES,
    *execs.ROUTES,
    *events.ROUTES,
    *absent.ROUTES,
]
