"""The Docker Engine API edge: the stock `docker` CLI and docker-py drive the swarm (issue 17).

swarmd serves it on a unix socket next to its control socket (``--api-host``). It is a thin
translation and nothing else: an aiohttp server (``server``) whose handlers (``routes/``) read
Docker's JSON with one translation table per object (``specs``, on the machinery of ``tables``),
call the same RPCs as the `swarm` CLI over the daemon's own local socket (``backend``: a grpc.aio
client, so authorization and validation stay the daemon's), and answer with the Engine API's
shapes from ``swarm.shapes``. gRPC statuses become Docker's HTTP statuses in ``errors``.

It imports the generated API, ``swarm.shapes`` and itself (an import-linter contract).
"""

from swarm.engineapi.server import API_VERSION, MIN_API_VERSION, EngineAPIServer, SocketInUse

__all__ = ["API_VERSION", "MIN_API_VERSION", "EngineAPIServer", "SocketInUse"]
