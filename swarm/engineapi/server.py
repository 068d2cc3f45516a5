"""The Engine API server: aiohttp on a unix socket, inside swarmd's asyncio loop.

Every route is served with and without the ``/vX.Y`` prefix. The prefix is checked against the
versions we serve (``client version X is too old/new``, a 400, as moby's version middleware); a
path we do not serve is a 501 naming it, never a bare 404 or a hang (two inspect paths answer 404 on
purpose: ``routes/absent.py``). Every answer carries ``Api-Version``,
``Ostype`` and ``Server``; every error is ``{"message": ...}``. Internal faults are logged with their
traceback and answered 500 with their text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from pathlib import Path

from aiohttp import web

from swarm import __version__
from swarm.engineapi.backend import Backend
from swarm.engineapi.doccache import DocCache
from swarm.engineapi.errors import ApiError
from swarm.engineapi.http import BACKEND, DOCS, SHUTDOWN, Handler, Route, api_version, reply

log = logging.getLogger(__name__)

API_VERSION = "1.51"  # the docker CLI 28 and docker-py negotiate down from here
MIN_API_VERSION = "1.24"


def _parse(v: str) -> tuple[int, int]:
    a, _, b = v.partition(".")
    return int(a), int(b)


def check_version(v: tuple[int, int] | None) -> None:
    if v is None:
        return
    text = f"{v[0]}.{v[1]}"
    if v < _parse(MIN_API_VERSION):
        raise ApiError(
            400,
            f"client version {text} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version",
        )
    if v > _parse(API_VERSION):
        raise ApiError(
            400, f"client version {text} is too new. Maximum supported API version is {API_VERSION}"
        )


def error_reply(status: int, message: str) -> web.Response:
    return reply({"message": message}, status=status)


@web.middleware
async def _edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        check_version(api_version(request))
        return await handler(request)
    except ApiError as e:
        return error_reply(e.status, e.message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return error_reply(501, f"{request.method} {request.path} is not implemented by pyswarm's Engine API")
    except web.HTTPException:
        raise
    except Exception as e:
        log.exception("engine api: %s %s failed", request.method, request.path)
        return error_reply(500, f"internal error: {e or type(e).__name__}")


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Api-Version"] = API_VERSION
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = f"pyswarm/{__version__} (linux)"


async def _shutting_down(app: web.Application) -> None:
    app[SHUTDOWN].set()


def make_app(backend: Backend) -> web.Application:
    from swarm.engineapi.routes import ROUTES

    app = web.Application(middlewares=[_edge], client_max_size=64 * 1024 * 1024)
    app[BACKEND] = backend
    app[SHUTDOWN] = asyncio.Event()
    app[DOCS] = DocCache()
    app.on_response_prepare.append(_headers)
    app.on_shutdown.append(_shutting_down)
    add_routes(app, ROUTES)
    return app


def add_routes(app: web.Application, routes: list[Route]) -> None:
    for method, path, handler in routes:
        for p in (path, "/v{version:[0-9]+\\.[0-9]+}" + path):
            if method == "GET":
                app.router.add_get(p, handler, allow_head=True)
            else:
                app.router.add_route(method, p, handler)


class EngineAPIServer:
    """Serves the Engine API on ``socket_path`` as a client of the daemon at ``daemon_socket``."""

    def __init__(
        self,
        daemon_socket: Path,
        socket_path: Path | None,
        *,
        gid: int | None = None,
        tcp: tuple[str, int] | None = None,
        tls_files: tuple[Path, Path, Path] | None = None,
    ) -> None:
        if tcp is not None and tls_files is None:
            raise ValueError("the Engine API is served over TCP only with TLS and client certificates")
        self.daemon_socket = daemon_socket
        self.socket_path = socket_path
        self.gid = gid
        self.tcp = tcp
        self.tls_files = tls_files
        self.backend = Backend(str(daemon_socket))
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self.socket_path is not None:
            claim_socket(self.socket_path)
        # a stop must not wait on open streams (a followed log): 1 s, then their handlers are cancelled
        runner = web.AppRunner(
            make_app(self.backend), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner
        try:
            if self.tcp is not None:
                assert self.tls_files is not None
                host, port = self.tcp
                await web.TCPSite(runner, host, port, ssl_context=tls_context(*self.tls_files)).start()
                log.info(
                    "engine api listening on tcp://%s:%d (TLS, client certificates required)", host, port
                )
                return
            assert self.socket_path is not None
            site = web.UnixSite(runner, str(self.socket_path))
            old = os.umask(0o177)  # root only until the group is set, as the control socket
            try:
                await site.start()
            finally:
                os.umask(old)
            if self.gid is not None:
                os.chown(self.socket_path, -1, self.gid)
                os.chmod(self.socket_path, 0o660)
            log.info("engine api listening on unix://%s", self.socket_path)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.backend.close()
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)


def tls_context(cacert: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """dockerd's ``--tlsverify``: TLS 1.2 or later, and a client certificate signed by ``cacert``
    is required (no anonymous client ever reaches the API)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(cacert))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class SocketInUse(Exception):
    """Another process serves the socket already."""


def claim_socket(path: Path) -> None:
    """Refuse a socket another process answers on; remove a stale one left by a crash."""
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise SocketInUse(f"another process is already listening on unix://{path}")
