"""The served endpoints, one module per object; anything not listed here answers 501."""

from __future__ import annotations

from swarm.engineapi.http import Route
from swarm.engineapi.routes import logs, networks, nodes, secrets, services, swarm, system, tasks

ROUTES: list[Route] = [
    *system.ROUTES,
    *swarm.ROUTES,
    *nodes.ROUTES,
    *services.ROUTES,
    *tasks.ROUTES,
    *networks.ROUTES,
    *secrets.ROUTES,
    *logs.ROUTES,
]
