"""The composition root: the only place that wires manager and node code together.

`SwarmDaemon` owns the local API server (unix socket), the node's swarm state, and the roles
that run on this node: the agent always once the node is in a swarm, the manager role (Raft
replica, control API, CA, leader components, the mTLS manager port) when the node is a manager.
Roles are started and stopped here when the node inits, joins, leaves, is promoted or demoted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from grpc import aio

from swarm.api import control_pb2_grpc, daemon_pb2, daemon_pb2_grpc
from swarm.ca.storage import NodeTLS
from swarm.daemon import sysinfo
from swarm.daemon.config import ConfigError, DaemonConfig
from swarm.daemon.errors import AlreadyInSwarmError, DaemonError, NotInSwarmError
from swarm.daemon.execs import ExecStore
from swarm.daemon.keyfiles import KeyFiles
from swarm.daemon.state import NodeState, StateFile

log = logging.getLogger(__name__)
#: how long init/join wait for the agent's dispatcher session before answering (dockerd waits
#: for its node to be ready)
AGENT_READY_BOUND = 20.0


class SwarmDaemon:
    def __init__(self, cfg: DaemonConfig) -> None:
        self.cfg = cfg
        self.state_file = StateFile(cfg.data_root)
        self.state: NodeState | None = None
        self.tls: NodeTLS | None = None
        self.keys = KeyFiles(cfg.data_root)   # the key files, and the unlock key sealing them
        #: a manager restarted under autolock, waiting for `swarm unlock` (no role runs)
        self.locked = False
        self.manager: Any = None          # swarm.daemon.manager.ManagerRole when a manager
        self.agent: Any = None            # swarm.daemon.agent_role.AgentRole once in a swarm
        self._server: aio.Server | None = None
        self._tcp_server: aio.Server | None = None
        self._busy = asyncio.Lock()
        self._role_switch: asyncio.Task[Any] | None = None
        self._restart: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self.start_error = ""
        from swarm.daemon.executors import make_images, make_volumes

        self.images = make_images(cfg)   # local images: usable in and out of a swarm
        self.volumes = make_volumes(cfg)  # local volumes: `swarm volume`, and the runtime's
        self.execs = ExecStore()         # `docker exec` instances in the node's task containers

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve the local socket at once; a node already in a swarm restarts its roles in the
        background (a manager may wait for a quorum: after a full restart the others come up
        one by one, and `swarm info` must answer meanwhile)."""
        self.state = self.state_file.load()
        await self._start_local_server()
        if self.state is not None:
            if self.keys.sealed():
                self.locked = True
                log.warning("this manager's keys are sealed (autolock): it stays locked until "
                            "`swarm unlock`")
                return
            self.tls = self.keys.load_tls()
            self._restart = asyncio.create_task(self._restart_roles())

    async def _restart_roles(self) -> None:
        async with self._busy:
            if self.tls is not None and _expired(self.tls):
                from swarm.rpc.auth import EXPIRED_MESSAGE

                log.error("this node's certificate expired while it was down: %s", EXPIRED_MESSAGE)
                self.start_error = EXPIRED_MESSAGE
                return
            st = self.state
            try:
                secret = None
                if st is not None and st.role == "manager" and self.tls is not None:
                    from swarm.daemon.raftsecret import refresh_from_leader

                    secret = await refresh_from_leader(st.remote_managers, st.advertise_addr, self.tls,
                                                       self.keys.save_raft_secret)
                await self._start_roles(raft_secret=secret)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.error("could not restart this node's swarm roles: %r", e)
                self.start_error = f"could not start swarm roles: {e}"

    async def stop(self) -> None:
        if self._restart is not None:
            self._restart.cancel()
            with contextlib.suppress(BaseException):
                await self._restart
        if self._server is not None:
            await self._server.stop(grace=1.0)
            self._server = None
        await self._stop_roles()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.cfg.socket_path)

    async def _start_local_server(self) -> None:
        from swarm.daemon.servicers import ControlServicer, DaemonServicer
        from swarm.rpc.server import local_server

        path = self.cfg.socket_path
        _claim_socket(path)
        # grpc binds the socket when the port is added: under a umask that leaves it to root
        # alone, then opened to the --group, so there is no moment when anyone else may connect
        old = os.umask(0o177)
        try:
            server = local_server(str(path), is_manager=lambda: self.manager is not None,
                                  is_locked=lambda: self.locked)
        finally:
            os.umask(old)
        daemon_pb2_grpc.add_DaemonServicer_to_server(DaemonServicer(self), server)
        control_pb2_grpc.add_ControlServicer_to_server(ControlServicer(self), server)
        from swarm.api import dispatcher_pb2_grpc
        from swarm.daemon.tcp_servicers import LogsServicer

        dispatcher_pb2_grpc.add_LogsServicer_to_server(LogsServicer(self), server)
        await server.start()
        if self.cfg.socket_gid is not None:
            os.chown(path, -1, self.cfg.socket_gid)
            os.chmod(path, 0o660)
        self._server = server

    async def _start_roles(self, bootstrap: Any = None, raft_secret: bytes | None = None) -> None:
        """``raft_secret``: the one just fetched from the leader (else the one on disk)."""
        st = self.state
        assert st is not None and self.tls is not None
        if st.role == "manager":
            from swarm.daemon.manager import ManagerRole

            secret = raft_secret or self.keys.load_raft_secret()
            self.manager = ManagerRole(self.cfg.data_root, st, secret, tls=self._current_tls, keys=self.keys)
            self.manager.raft_gate = self._raft_gate
            await self.manager.start(wait_ready=None if bootstrap is None else 60.0)
            if bootstrap is not None:
                from swarm.daemon.membership import write_bootstrap

                await self.manager.wait_leader()
                await write_bootstrap(self.manager.store, bootstrap)
            await self._start_tcp_server()
        from swarm.daemon.agent_role import AgentRole

        self.agent = await AgentRole.create(self)
        await self.agent.start()
        from swarm.daemon.renewal import CertRenewer

        self._renewer = asyncio.create_task(CertRenewer(lambda: self.tls, self._renew_certificate).run())

    def _raft_gate(self, hosts: frozenset[str] | None) -> bool:
        """nftables on this node: the Raft port only from ``hosts`` (None: no gate). Only where
        the node has its network layer (the runtime executor: never on the loopback test
        daemons, which share the machine's own namespace)."""
        nn = getattr(self.agent, "node_network", None)
        st = self.state
        if nn is None or st is None:
            return False
        from swarm.daemon.state import raft_addr_for

        port = int(raft_addr_for(st.advertise_addr).rsplit(":", 1)[1])
        nn.set_raft_allow(port, sorted(hosts) if hosts else None)
        return True

    def _current_tls(self) -> NodeTLS:
        assert self.tls is not None
        return self.tls

    async def _renew_certificate(self) -> bool:
        """Fetch a new certificate for this node's current role and use it from now on."""
        from swarm.ca import Role, parse_identity
        from swarm.daemon.joining import renew_certificate

        async with self._busy:
            st, tls = self.state, self.tls
            if st is None or tls is None:
                return False
            new = await renew_certificate(st, tls)
            want = Role.MANAGER if st.role == "manager" else Role.WORKER
            if parse_identity(new.cert_pem).role is not want:
                return False
            self.keys.save_tls(new)
            self.tls = new
            return True

    async def _stop_roles(self, leaving: bool = False) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(BaseException):
                await self._renewer
            self._renewer = None
        if self.agent is not None:
            with contextlib.suppress(Exception):
                await self.agent.stop(cleanup_network=True if leaving else None)
            self.agent = None
        if self._tcp_server is not None:
            await self._tcp_server.stop(grace=0.5)
            self._tcp_server = None
        if self.manager is not None:
            with contextlib.suppress(Exception):
                await self.manager.stop()
            self.manager = None

    async def _start_tcp_server(self) -> None:
        from swarm.daemon.tcp_server import start_manager_server

        assert self.state is not None
        self._tcp_server = await start_manager_server(self, self.state.listen_addr)

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
        if st is None:
            return resp
        if self.locked:             # dockerd: state "locked", its error, and little else
            from swarm.ca.unlockkey import LOCKED_MESSAGE

            resp.local_node_state = "locked"
            resp.node_addr = st.advertise_addr.rsplit(":", 1)[0]
            resp.error = LOCKED_MESSAGE
            return resp
        resp.node_id = st.node_id
        resp.cluster_id = st.cluster_id
        resp.node_addr = st.advertise_addr.rsplit(":", 1)[0]
        resp.control_available = st.role == "manager"
        resp.remote_managers.extend(st.remote_managers)
        if self.manager is not None:
            from swarm.api.objects_pb2 import Node
            from swarm.api.types_pb2 import MANAGER
            from swarm.store.typed import Reader

            resp.manager_addr = st.advertise_addr
            try:
                nodes = Reader(self.manager.store).list(Node)
                resp.nodes = len(nodes)
                resp.managers = sum(1 for n in nodes if n.role == MANAGER)
                resp.leader_addr = self.manager.leader_api_addr() or ""
            except Exception as e:  # info must answer even while the store is unwell
                resp.error = str(e)
        if self.agent is not None:
            resp.held_secrets.extend(self.agent.held_secrets())
            resp.held_configs.extend(self.agent.held_configs())
        if self.agent is not None and self.agent.error:
            resp.error = self.agent.error
        if self.start_error:
            resp.error = self.start_error
        return resp

    def require_swarm(self) -> NodeState:
        if self.state is None:
            raise NotInSwarmError()
        return self.state

    def require_unlocked(self) -> NodeState:
        """In a swarm and not locked: what every cluster call needs (dockerd's errNoManager)."""
        st = self.require_swarm()
        if self.locked:
            from swarm.ca.unlockkey import SwarmLockedError

            raise SwarmLockedError()
        return st

    async def unlock(self, key_text: str) -> None:
        """`swarm unlock`: open the key files with the unlock key, then start the roles."""
        from swarm.ca.unlockkey import parse_key
        from swarm.daemon.errors import NotLockedError

        async with self._busy:
            self.require_swarm()
            if not self.locked:
                raise NotLockedError()
            kek = parse_key(key_text)
            self.tls = await asyncio.to_thread(self.keys.unlock, kek)
            self.locked = False
        log.info("unlocked: starting this node's swarm roles")
        await self._restart_roles()

    async def init(self, req: daemon_pb2.InitRequest) -> daemon_pb2.InitResponse:
        from swarm.ca.sealing import SecretsKey
        from swarm.daemon.membership import plan_init

        async with self._busy:
            if self.state is not None:
                raise AlreadyInSwarmError()
            state, tls, secret, bootstrap = plan_init(req)
            # with --autolock the files are sealed from the first write on
            self.keys.kek = bytes(bootstrap.cluster.manager_unlock_key) or None
            self.keys.save_tls(tls)
            self.keys.save_raft_secret(secret)
            self.keys.save_secrets_key(SecretsKey.generate().raw)
            self.state, self.tls = state, tls
            try:
                await self._start_roles(bootstrap)
            except BaseException:
                await self._stop_roles()
                self._wipe()
                raise
            self.state_file.save(state)
            await self._agent_ready()
            log.info("swarm initialized: node %s is now a manager", state.node_id)
            return daemon_pb2.InitResponse(node_id=state.node_id)

    async def join(self, req: daemon_pb2.JoinRequest) -> daemon_pb2.JoinResponse:
        from swarm.daemon.joining import join_swarm

        async with self._busy:
            if self.state is not None:
                raise AlreadyInSwarmError()
            try:
                state, tls = await join_swarm(self.cfg.data_root, req)
                self.state, self.tls = state, tls
                await self._start_roles()
            except BaseException:
                await self._stop_roles()
                self._wipe()
                raise
            self.state_file.save(state)
            await self._agent_ready()
            from swarm.api.types_pb2 import MANAGER, WORKER

            return daemon_pb2.JoinResponse(node_id=state.node_id,
                                           role=MANAGER if state.role == "manager" else WORKER)

    async def _agent_ready(self, bound: float = AGENT_READY_BOUND) -> None:
        """Answer init/join once our agent has its dispatcher session, as dockerd waits for the
        node to be ready: the session's registration writes the Node object, so a client that
        reads the node right after init (docker-py's update with ``Version.Index``) would
        otherwise hold a version that is already stale. Past ``bound`` we answer anyway."""
        connected = getattr(getattr(self.agent, "agent", None), "connected", None)
        if connected is None:
            return
        try:
            async with asyncio.timeout(bound):
                await connected.wait()
        except TimeoutError:
            log.warning("agent has no dispatcher session %.0f s after joining; answering anyway", bound)

    async def leave(self, force: bool) -> None:
        async with self._busy:
            self.require_swarm()
            if self.locked and not force:
                from swarm.daemon.errors import LockedLeaveError

                raise LockedLeaveError()
            if self.manager is not None and not force:
                from swarm.daemon.leaving import check_manager_leave

                check_manager_leave(self.manager)
            if self.agent is not None:
                await self.agent.remove_all_tasks()
            await self._stop_roles(leaving=True)
            self._wipe()
            log.info("left the swarm")

    # ---- role changes (promotion / demotion) -------------------------------------------------

    def on_node_update(self, node: Any) -> None:
        """Called with our Node object from the session: switch roles when asked to."""
        from swarm.api.types_pb2 import MANAGER, WORKER

        st = self.state
        if st is None or self._role_switch is not None:
            return
        if st.role == "worker" and node.spec.desired_role == MANAGER:
            self._role_switch = asyncio.create_task(self._switch_role("manager"))
        elif st.role == "manager" and node.role == WORKER and node.spec.desired_role == WORKER:
            self._role_switch = asyncio.create_task(self._switch_role("worker"))
        if self._role_switch is not None:
            self._role_switch.add_done_callback(self._role_switched)

    def _role_switched(self, task: asyncio.Task[Any]) -> None:
        self._role_switch = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("role change failed (will retry): %r", task.exception())

    async def _switch_role(self, role: str) -> None:
        from swarm.daemon.joining import raft_join, renew_certificate

        async with self._busy:
            st = self.state
            if st is None or st.role == role:
                return
            log.info("node %s: switching role %s -> %s", st.node_id, st.role, role)
            assert self.tls is not None
            tls = await renew_certificate(st, self.tls)
            await self._stop_roles()
            self.tls = tls
            # a worker's key is never sealed; a new manager's is once its follower has the key
            self.keys.forget()
            self.keys.save_tls(tls)
            if role == "manager":
                members, secret, secrets_key = await raft_join(st.remote_managers[0], tls, st.advertise_addr)
                self.keys.save_raft_secret(secret)
                self.keys.save_secrets_key(secrets_key)
                st.raft_members = members
            else:
                shutil.rmtree(self.cfg.data_root / "raft", ignore_errors=True)
                st.raft_members = []
            st.role = role
            self.state_file.save(st)
            await self._start_roles()
            if role == "worker":
                await asyncio.to_thread(self._raft_gate, None)     # no Raft port any more
            log.info("node %s: now a %s", st.node_id, role)

    def _wipe(self) -> None:
        self.state = None
        self.tls = None
        self.locked = False
        self.keys.forget()
        self.start_error = ""       # a failed or refused start is about the swarm just left
        self.state_file.remove()
        for sub in ("raft", "certificates", "worker"):
            shutil.rmtree(self.cfg.data_root / sub, ignore_errors=True)


def _expired(tls: NodeTLS) -> bool:
    from swarm.ca import parse_identity
    from swarm.ca.certs import utcnow

    return parse_identity(tls.cert_pem).not_after < utcnow()


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


__all__ = ["DaemonError", "SwarmDaemon"]
