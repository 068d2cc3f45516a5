"""The composition root: the only place that wires manager and node code together.

`SwarmDaemon` owns the local API server (unix socket), the node's swarm state, and the roles
that run on this node: the agent always once the node is in a swarm, the manager role when the
node is a manager. Roles are started and stopped here when the node inits, joins, leaves,
is promoted or demoted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import grpc
from grpc import aio

from swarm.api import control_pb2_grpc, daemon_pb2, daemon_pb2_grpc
from swarm.daemon import sysinfo
from swarm.daemon.config import ConfigError, DaemonConfig
from swarm.daemon.errors import NotInSwarmError
from swarm.daemon.state import NodeState, StateFile

log = logging.getLogger(__name__)


class SwarmDaemon:
    def __init__(self, cfg: DaemonConfig) -> None:
        self.cfg = cfg
        self.state_file = StateFile(cfg.data_root)
        self.state: NodeState | None = None
        self._server: aio.Server | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.state = self.state_file.load()
        await self._start_local_server()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1.0)
            self._server = None
        try:
            os.unlink(self.cfg.socket_path)
        except FileNotFoundError:
            pass

    async def _start_local_server(self) -> None:
        from swarm.daemon.servicers import ControlServicer, DaemonServicer

        path = self.cfg.socket_path
        _claim_socket(path)
        server = aio.server(options=[("grpc.so_reuseport", 0)])
        daemon_pb2_grpc.add_DaemonServicer_to_server(DaemonServicer(self), server)
        control_pb2_grpc.add_ControlServicer_to_server(ControlServicer(self), server)
        server.add_insecure_port(f"unix://{path}")
        await server.start()
        os.chmod(path, 0o660)
        self._server = server

    # ---- local API ---------------------------------------------------------------------------

    def version(self) -> daemon_pb2.VersionResponse:
        return daemon_pb2.VersionResponse(**sysinfo.version_fields())

    def info(self) -> daemon_pb2.InfoResponse:
        st = self.state
        resp = daemon_pb2.InfoResponse(
            local_node_state="inactive" if st is None else "active",
            hostname=sysinfo.hostname(),
            name=sysinfo.hostname(),
            data_root=str(self.cfg.data_root),
            ncpu=sysinfo.ncpu(),
            mem_total=sysinfo.mem_total(),
            version=sysinfo.version_fields()["version"],
            insecure_registries=list(self.cfg.insecure_registries),
            cgroup_version=sysinfo.cgroup_version(),
        )
        if st is not None:
            resp.node_id = st.node_id
            resp.cluster_id = st.cluster_id
            resp.node_addr = st.advertise_addr.rsplit(":", 1)[0]
            resp.control_available = st.role == "manager"
            resp.remote_managers.extend(st.remote_managers)
        return resp

    def require_swarm(self) -> NodeState:
        if self.state is None:
            raise NotInSwarmError()
        return self.state


def _claim_socket(path: Path) -> None:
    """Refuse to steal a live daemon's socket; remove a stale one left by a crash."""
    import socket

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
    raise ConfigError(f"another daemon is already listening on unix://{path}")


__all__ = ["SwarmDaemon", "grpc"]
