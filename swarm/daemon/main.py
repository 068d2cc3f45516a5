"""`swarmd`: the per-host daemon.

Runs in the foreground, logs to stderr, serves the local API on a unix socket and stops cleanly
on SIGTERM/SIGINT. The node's roles (agent always, manager when the node is one) are wired in
`swarm.daemon.daemon`, the composition root.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import click

from swarm import __version__
from swarm.daemon.config import (
    DEFAULT_DATA_ROOT,
    DEFAULT_HOST,
    ConfigError,
    DaemonConfig,
    check_insecure_registry,
    parse_api_host,
    parse_api_tcp,
    parse_api_tls,
    parse_generic_resource,
    parse_group,
    parse_host,
    prepare_data_root,
    prepare_socket_dir,
)

log = logging.getLogger("swarmd")

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # pysyncobj and grpc are chatty at debug level; keep them at our level or above info.
    if level == "debug":
        logging.getLogger("grpc").setLevel(logging.INFO)


async def _serve(cfg: DaemonConfig) -> int:
    from swarm.daemon.daemon import SwarmDaemon

    daemon = SwarmDaemon(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await daemon.start()
    log.info("swarmd %s listening on %s (data root %s)", __version__, cfg.host_url, cfg.data_root)
    api = None
    try:
        api = await _start_engine_api(cfg)     # a refused --api-host still stops the daemon cleanly
        await stop.wait()
        log.info("stopping")
    finally:
        if api is not None:
            await api.stop()
        await daemon.stop()
    log.info("stopped")
    return 0


async def _start_engine_api(cfg: DaemonConfig) -> Any:
    """The Docker Engine API edge (swarm.engineapi), a client of the socket just opened. At its
    default path a socket another daemon already serves is left to it (daemons side by side)."""
    if cfg.api_socket is None and cfg.api_tcp is None:
        return None
    from swarm.engineapi import EngineAPIServer, SocketInUse

    tls = cfg.api_tls
    api = EngineAPIServer(cfg.socket_path, cfg.api_socket, gid=cfg.socket_gid, tcp=cfg.api_tcp,
                          tls_files=None if tls is None else (tls.cacert, tls.cert, tls.key))
    try:
        await api.start()
    except SocketInUse as e:
        if not cfg.api_socket_default:
            raise ConfigError(str(e)) from None
        log.warning("engine api not served: %s (use --api-host)", e)
        return None
    return api


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-root", default=str(DEFAULT_DATA_ROOT), show_default=True,
              help="Directory holding all of this daemon's state.")
@click.option("-H", "--host", "host", default=DEFAULT_HOST, show_default=True,
              help="Unix socket to serve the local API on (unix:///PATH.sock).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
@click.option("--insecure-registry", "insecure_registries", multiple=True, metavar="HOST:PORT",
              help="Registry to reach over plain HTTP (repeatable).")
@click.option("--executor", type=click.Choice(("runtime", "fake")), default="runtime", show_default=True,
              help="Task executor: real containers, or an instant fake (tests, benchmarks).")
@click.option("--cgroup-parent", default="", help="Parent cgroup for containers "
              "(default: pyswarm-<hash of the data root>, so daemons side by side never share one).")
@click.option("-G", "--group", "group", default="", metavar="NAME|GID",
              help="Group allowed to use the local socket (default: root only).")
@click.option("--api-host", "api_host", default=None, metavar="unix:///PATH.sock|tcp://HOST:PORT",
              help="Socket of the Docker Engine API (default: docker.sock next to the --host socket; "
                   "'' or none: not served; tcp:// only with --tlsverify).")
@click.option("--tlsverify", is_flag=True, help="Engine API over tcp://: TLS, client certificates required.")
@click.option("--tlscacert", default="", metavar="PATH", help="CA that signs the clients' certificates.")
@click.option("--tlscert", default="", metavar="PATH", help="The Engine API's TLS certificate.")
@click.option("--tlskey", default="", metavar="PATH", help="The Engine API's TLS key.")
@click.option("--node-generic-resource", "generic_resources", multiple=True, metavar="KIND=VALUE",
              help="A generic resource this node offers: KIND=COUNT or KIND=NAME (repeatable).")
@click.version_option(__version__, "-v", "--version", prog_name="swarmd")
def cli(data_root: str, host: str, log_level: str, insecure_registries: tuple[str, ...],
        executor: str, cgroup_parent: str, group: str, api_host: str | None,
        generic_resources: tuple[str, ...], tlsverify: bool, tlscacert: str, tlscert: str,
        tlskey: str) -> None:
    """The swarm daemon: runs the node agent and, on managers, the manager."""
    from pathlib import Path

    try:
        socket_path = parse_host(host)
        regs = tuple(check_insecure_registry(r) for r in insecure_registries)
        root = prepare_data_root(Path(data_root))
        prepare_socket_dir(socket_path)
        api_tls = parse_api_tls(tlsverify, tlscacert, tlscert, tlskey)
        api_tcp = parse_api_tcp(api_host, api_tls) if api_host and api_host.startswith("tcp://") else None
        api_socket = None if api_tcp else parse_api_host(api_host, socket_path)
        if api_tls is not None and api_tcp is None:
            raise ConfigError("--tlsverify is for a tcp:// --api-host")
        if api_socket is not None:
            prepare_socket_dir(api_socket)
        gid = parse_group(group)
        generic = tuple(parse_generic_resource(g) for g in generic_resources)
    except ConfigError as e:
        click.echo(f"swarmd: {e}", err=True)
        sys.exit(1)
    _setup_logging(log_level)
    if cgroup_parent and not all(c.isalnum() or c in "-_./" for c in cgroup_parent):
        click.echo(f"swarmd: invalid --cgroup-parent {cgroup_parent!r}", err=True)
        sys.exit(1)
    cfg = DaemonConfig(data_root=root, socket_path=socket_path, log_level=log_level,
                       insecure_registries=regs, executor=executor, cgroup_parent=cgroup_parent,
                       socket_gid=gid, api_socket=api_socket, api_socket_default=api_host is None,
                       api_tcp=api_tcp, api_tls=api_tls,
                       generic_resources=generic)
    try:
        code = asyncio.run(_serve(cfg))
    except ConfigError as e:
        click.echo(f"swarmd: {e}", err=True)
        sys.exit(1)
    sys.exit(code)


def main() -> None:
    cli(prog_name="swarmd")


if __name__ == "__main__":
    main()
