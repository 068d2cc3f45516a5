"""The agent role of a node: wires node.agent to this daemon's identity and managers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from swarm.api.objects_pb2 import Node
from swarm.daemon.membership import describe

log = logging.getLogger(__name__)


class AgentRole:
    """Built in `create()` (async: constructing the node's network layer blocks)."""

    def __init__(self, daemon: Any, node_network: Any = None, netsync: Any = None) -> None:
        from node.agent.agent import Agent
        from node.agent.worker import Worker
        from swarm.daemon.executors import make_executor
        from swarm.rpc.tls import manager_channel

        self.daemon = daemon
        self.node_network = node_network
        self.netsync = netsync
        self.executor = make_executor(daemon.cfg, daemon.images, netsync, daemon.volumes)
        self.worker = Worker(daemon.cfg.data_root, self.executor,
                             lambda tid, status: self.agent.report(tid, status))
        st = daemon.state
        managers = list(st.remote_managers) or [st.advertise_addr]
        if st.role == "manager":
            managers = [st.advertise_addr, *managers]
        self.agent = Agent(
            # daemon.tls, not a copy: a renewed certificate is used from the next channel on
            channel_for=lambda addr: manager_channel(addr, daemon.tls, call_timeout=10.0),
            managers=managers,
            describe=lambda: describe(daemon.cfg.generic_resources),
            advertise_addr=st.advertise_addr,
            data_path_addr=st.data_path_addr,
            on_node=self._on_node,
            worker=self.worker,
            log_source=_Logs(self.executor, self.worker),
            vet_manager=lambda addr: vet_manager(addr, daemon.tls, st.cluster_id,
                                                 self.agent.revoked_serials, self.agent.manager_ids),
        )

    @classmethod
    async def create(cls, daemon: Any) -> AgentRole:
        import asyncio

        from swarm.daemon.executors import make_network

        nn = ns = None
        if daemon.cfg.executor == "runtime":
            st = daemon.state
            try:
                nn, ns = await asyncio.to_thread(make_network, daemon.cfg, st.node_id, st.data_path_addr,
                                                 st.data_path_port)
            except Exception as e:  # no nft, no netns support: run without overlay networking
                log.error("overlay networking unavailable on this node: %r", e)
        return cls(daemon, nn, ns)

    @property
    def error(self) -> str:
        return self.agent.error

    def held_secrets(self) -> list[str]:
        """Ids of the secrets this node holds now (in memory, for the tasks that need them)."""
        return list(self.worker.dependencies.held_secrets())

    def held_configs(self) -> list[str]:
        return list(self.worker.dependencies.held_configs())

    async def start(self) -> None:
        await self.worker.start()          # re-adopts running containers (and their sandboxes)
        if self.netsync is not None:
            try:
                await self.executor.prune_sandboxes()
            except Exception as e:
                log.warning("pruning network sandboxes: %r", e)
        self.agent.start()

    async def stop(self, cleanup_network: bool | None = None) -> None:
        """Stop the agent. The node's data path (overlays, VIP and ingress rules) is removed when
        `cleanup_network` is True (leaving the swarm), or when None and no task is left on the
        node (a clean stop); with containers still running it stays, so they keep their
        networks while the daemon restarts (live restore)."""
        import asyncio

        if cleanup_network is None:
            cleanup_network = not self.worker.managers
        await self.agent.stop()
        await self.worker.stop()
        await self.executor.close()
        if self.netsync is not None:
            await self.netsync.close()
        if self.node_network is not None:
            await asyncio.to_thread(self.node_network.close, cleanup_network)

    async def remove_all_tasks(self) -> None:
        """`swarm leave`: the node removes all of its swarm containers (reference §1.5)."""
        import asyncio

        from swarm.api import dispatcher_pb2 as d

        await self.agent.stop()
        await self.worker.assign(d.AssignmentsMessage(type=d.AssignmentsMessage.COMPLETE))
        try:
            await asyncio.wait_for(self.worker.idle(), 60)
        except TimeoutError:
            log.warning("leaving: some containers did not stop within 60 s")

    async def _on_node(self, node: Node, managers: list[str]) -> None:
        st = self.daemon.state
        if st is not None and managers and managers != st.remote_managers:
            st.remote_managers = managers
            self.daemon.state_file.save(st)
        self.daemon.on_node_update(node)


class UntrustedManagerError(ConnectionError):
    pass


async def vet_manager(addr: str, tls: Any, cluster_id: str, revoked: frozenset[str],
                      manager_ids: frozenset[str], timeout: float = 5.0) -> None:
    """Refuse a manager whose certificate the swarm no longer stands behind.

    gRPC checks the chain and the ``swarm-manager`` name, which an ex-manager's certificate still
    has for the rest of its life; grpcio does not show a client the server's certificate, so
    this opens one TLS connection of its own first (our client certificate, ALPN h2, the swarm
    root) and checks the certificate it is shown: a manager certificate of this cluster, not
    revoked, of a node that is a manager now (when we know the managers). The gRPC channel that
    follows is a second connection: a man in the middle who could swap certificates between the
    two would still need a valid, unrevoked manager certificate for the second."""
    import ssl
    import tempfile

    from swarm.ca import Role, parse_identity

    host, port = addr.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=tls.root_ca_pem.decode())
    with tempfile.NamedTemporaryFile() as cert, tempfile.NamedTemporaryFile() as key:
        cert.write(tls.cert_pem)
        key.write(tls.key_pem)
        cert.flush()
        key.flush()
        ctx.load_cert_chain(cert.name, key.name)
    ctx.set_alpn_protocols(["h2"])
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host.strip("[]"), int(port), ssl=ctx), timeout)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        # abort, not close: a TLS close waits for the server's close_notify, which a gRPC server
        # that never saw an HTTP/2 preface does not send (asyncio then waits 30 s)
        writer.transport.abort()
    from cryptography import x509

    ident = parse_identity(x509.load_der_x509_certificate(der))
    if ident.role is not Role.MANAGER or ident.cluster_id != cluster_id:
        raise UntrustedManagerError(f"{addr} is not a manager of this swarm")
    if ident.serial in revoked:
        raise UntrustedManagerError(f"{addr} presented a revoked certificate (node {ident.node_id})")
    if manager_ids and ident.node_id not in manager_ids:
        raise UntrustedManagerError(f"{addr} (node {ident.node_id}) is not a manager any more")


class _Logs:
    """The agent's log source: the tasks this worker manages, read through the executor."""

    def __init__(self, executor: Any, worker: Any) -> None:
        self.executor = executor
        self.worker = worker

    def has_task(self, task_id: str) -> bool:
        return task_id in self.worker.managers

    def tasks_of(self, service_ids: Any) -> list[str]:
        wanted = set(service_ids)
        return [tid for tid, tm in list(self.worker.managers.items()) if tm.task.service_id in wanted]

    def attrs(self, task_id: str) -> list[tuple[str, str]]:
        from node.exec.containerspec import log_attrs

        tm = self.worker.managers.get(task_id)
        return log_attrs(tm.task) if tm is not None else []

    async def logs(self, task_id: str, follow: bool, tail: int):  # type: ignore[no-untyped-def]
        async for rec in self.executor.logs(task_id, follow=follow, tail=tail):
            yield rec.timestamp.ToNanoseconds() / 1e9, rec.stream, rec.data
