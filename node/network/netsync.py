"""NetSync: pushes the manager's view of the networks into this node's ``NodeNetwork``.

One per daemon; the implementation of the executor's sandbox-network seam
(``node.exec.runtime.SandboxNetwork``), between three parties:

* the runtime executor (``RuntimeExecutor(network=netsync)``) is its only caller. It forwards
  every assignments message's network/route/peer items, which the agent's worker hands to
  ``Executor.update_networks``, to :meth:`update`; they go into a pure
  :class:`~node.network.netview.NetView`. It asks for a task's sandbox:
  :meth:`setup_sandbox` before the container is created, :meth:`destroy_sandbox` when it is
  removed, :meth:`adopt_sandbox` when a restarted daemon re-adopts a running container;
* the daemon (composition root) builds it over its ``NodeNetwork`` and closes it;
* ``NodeNetwork`` (blocking, thread-safe) does the data path.

The agent never sees this module: ``node.agent`` imports ``node.exec`` only.

Design notes:

* **One thread.** Every NodeNetwork call runs in NetSync's single worker thread, so calls
  never interleave (NodeNetwork locks anyway, but ordering matters: "remove network X" and
  "attach a new container to X" must happen in the order they were decided). The loop
  decides, the thread executes, in FIFO order. Because a decision and its submission to the
  thread happen without an ``await`` in between, a network found unused by an ``apply`` that
  is queued before a sandbox setup is removed first and then re-created by that setup, never
  the other way round.
* **In use** = attached to a local sandbox that NetSync set up or adopted (``_users``). Those
  networks plus the ingress network (always, on every node: the routing mesh) are ensured; a
  network NetSync ensured that loses its last user is removed again. The ingress network is
  never removed for being unused, only when the manager replaced it by another one.
  Networks a previous daemon left (NodeNetwork re-adopts them) count as ensured: the first
  push after the first COMPLETE set removes those no local task uses any more (their
  container went while the daemon was down).
* **Debounce.** :meth:`update` only changes the view and schedules :meth:`apply` ``debounce``
  seconds later (50 ms): a burst of INCREMENTAL messages (a service scaling up) becomes one
  push. Every push is diffed against what was last pushed per network (config, peers,
  services, ingress), so unchanged networks cost nothing and only real changes are logged.
  A failed push is retried with backoff (1 s doubling to 30 s) until it succeeds.
* **Nothing is pushed before the first COMPLETE set** of this daemon: after a restart the
  NodeNetwork re-adopted its last state (peers, services, ingress) and keeps serving running
  containers with it; pushing the still-empty view would cut them off until the manager is
  reachable again. Until then sandboxes are still set up (their networks ensured, without
  peers or services) and adopted ones counted, and the first COMPLETE pushes everything.
* **Sandbox setup is immediate,** not debounced: a starting task's networks are ensured and
  their peers and services pushed from the current view (or the Network copy carried by the
  task when the view does not know it yet), then the sandbox is created and attached in task
  order with ingress first. A failure destroys the half-made sandbox and raises the
  ``node.network`` error (``InvalidNetworkConfigError`` for a malformed network); the
  executor translates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from node.network.errors import InvalidNetworkConfigError, NetworkError
from node.network.model import DnsOptions, Endpoint, NetworkConfig, PortMap, ServiceEntry
from node.network.netview import Desired, NetState, NetView, network_config, task_attachments
from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Task

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_MIN = 1.0
RETRY_MAX = 30.0


def host_port_maps(task: Task) -> tuple[PortMap, ...]:
    """The task's host-mode published ports (mode=host), as the data path takes them."""
    out = []
    for p in task.endpoint.ports:
        if p.publish_mode == 1 and p.published_port:   # PortConfig.HOST
            out.append(PortMap("udp" if p.protocol == 1 else "tcp", p.target_port, p.published_port))
    return tuple(out)


def task_dns(task: Task) -> DnsOptions | None:
    """The task's ``--dns``, ``--dns-search``, ``--dns-option`` (None: none given). A bad value
    rejects the task (``InvalidNetworkConfigError``) before its sandbox is made."""
    d = task.spec.container.dns_config
    if not (d.nameservers or d.search or d.options):
        return None
    try:
        return DnsOptions(tuple(d.nameservers), tuple(d.search), tuple(d.options))
    except InvalidNetworkConfigError as e:
        raise InvalidNetworkConfigError(f"task {task.id}: dns config: {e}") from e


class NodeNetworkLike(Protocol):
    """The part of ``node.network.NodeNetwork`` NetSync drives (a fake in unit tests)."""

    def ensure_network(self, cfg: NetworkConfig) -> None: ...
    def known_networks(self) -> Sequence[NetworkConfig]: ...
    def set_peers(self, network_id: str, peers: Sequence[str],
                  remote_endpoints: Sequence[tuple[str, str]]) -> None: ...
    def set_services(self, network_id: str, services: Sequence[ServiceEntry]) -> None: ...
    def set_ingress(self, ingress_ip_cidr: str | None, entries: Sequence[ServiceEntry]) -> None: ...
    def remove_network(self, network_id: str) -> None: ...
    def create_sandbox(self, container_id: str, dns: DnsOptions | None = None) -> str: ...
    def resolv_conf_path(self, container_id: str) -> Path: ...
    def attach(self, container_id: str, network_id: str, ip_cidr: str) -> None: ...
    def destroy_sandbox(self, container_id: str) -> None: ...
    def sandbox_endpoints(self, container_id: str) -> list[Endpoint]: ...
    def set_host_ports(self, container_id: str, ports: Sequence[PortMap]) -> None: ...
    def prune_sandboxes(self, keep: Sequence[str]) -> list[str]: ...


def _ids(entries: Iterable[ServiceEntry]) -> dict[str, ServiceEntry]:
    return {e.service_id: e for e in entries}


class NetSync:
    """Keeps ``NodeNetwork`` in line with the assignments; see the module docstring."""

    def __init__(self, node_network: NodeNetworkLike, node_id: str, *, debounce: float = 0.05) -> None:
        self.nn = node_network
        self.view = NetView(node_id)
        self.debounce = debounce
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="netsync")
        # loop-owned
        self._users: dict[str, tuple[str, ...]] = {}         # container id -> network ids
        self._fallback: dict[str, NetworkConfig] = {}        # network id -> config from a task
        self._dirty = False
        self._runner: asyncio.Task[None] | None = None
        self._closed = False
        self.synced = False                                  # a COMPLETE set was applied
        # thread-owned: what NodeNetwork was last told
        self._ensured: dict[str, NetworkConfig] = {c.id: c for c in node_network.known_networks()}
        self._peers: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {}
        self._services: dict[str, tuple[ServiceEntry, ...]] = {}
        self._ingress: tuple[str | None, tuple[ServiceEntry, ...]] | None = None

    # ---- assignments -----------------------------------------------------------------------
    async def update(self, msg: d.AssignmentsMessage) -> None:
        """``RuntimeExecutor.update_networks``: take the message's network items; push soon."""
        changed = self.view.apply(msg)
        if msg.type == d.AssignmentsMessage.COMPLETE:
            self.synced = True
        if changed or msg.type == d.AssignmentsMessage.COMPLETE:
            log.debug("assignments %s: %d network items (%s)", msg.results_in or "-", len(msg.changes),
                      "complete" if msg.type == d.AssignmentsMessage.COMPLETE else "incremental")
            self._schedule()

    async def apply(self) -> bool:
        """Push the derived state now (in the NetSync thread); False if some call failed.
        A no-op until the first COMPLETE set (see the module docstring)."""
        if not self.synced:
            return True
        des = self.view.desired(self.in_use(), self._fallback)
        return await self._call(self._push, des)

    async def flush(self) -> None:
        """Wait until no push is scheduled or running (tests, shutdown)."""
        while self._runner is not None and not self._runner.done():
            await asyncio.wait([self._runner])

    def in_use(self) -> set[str]:
        return {nid for nids in self._users.values() for nid in nids}

    # ---- sandboxes (executor side) ---------------------------------------------------------
    async def setup_sandbox(self, container_id: str, task: Task) -> tuple[str, str] | None:
        """Ensure the task's networks, create its sandbox and attach it; returns (netns path,
        resolv.conf path), or None for a task without networks."""
        atts = task_attachments(task)
        host_ports = host_port_maps(task)
        if not atts and not host_ports:
            return None
        ingress_first = sorted(atts, key=lambda a: not a[0].spec.ingress)
        pairs: list[tuple[str, str]] = []
        for net, addr in ingress_first:
            try:
                self._fallback[net.id] = network_config(net)
            except ValueError as e:
                raise InvalidNetworkConfigError(f"task {task.id}: {e}") from e
            pairs.append((net.id, addr))
        nids = tuple(n for n, _ in pairs)
        self._users[container_id] = nids
        if self.view.learn_aliases(task):
            self._schedule()
        des = self.view.desired(nids, self._fallback)
        states = [des.networks[n] for n in nids if n in des.networks]
        try:
            return await self._call(self._setup, container_id, task.id, states, pairs, self.synced,
                                    host_ports, task_dns(task))
        except Exception:
            # (cancelled: the thread may still finish the sandbox; keep counting it as in use
            # until destroy_sandbox, which queues behind it)
            self._users.pop(container_id, None)
            self._schedule()     # networks ensured for nothing go again
            raise

    async def adopt_sandbox(self, container_id: str, task: Task) -> None:
        """A re-adopted container (daemon restart): its sandbox is still there; count its
        networks as in use again and re-push their state."""
        atts = task_attachments(task)
        if not atts:
            return
        for net, _ in atts:
            with contextlib.suppress(ValueError):
                self._fallback[net.id] = network_config(net)
        self._users[container_id] = tuple(n.id for n, _ in atts)
        self.view.learn_aliases(task)
        log.info("task %s: sandbox of container %s adopted (networks %s)", task.id, container_id[:12],
                 ",".join(self._users[container_id]))
        self._schedule()

    async def destroy_sandbox(self, container_id: str) -> None:
        """Destroy the container's sandbox (no-op without one); unused networks go soon."""
        try:
            await self._call(self.nn.destroy_sandbox, container_id)
        finally:
            if self._users.pop(container_id, None) is not None:
                self._schedule()

    async def sandbox_endpoints(self, container_id: str) -> list[Endpoint]:
        """``RuntimeExecutor.container_views``: the sandbox's interfaces (`docker inspect`)."""
        return await self._call(self.nn.sandbox_endpoints, container_id)

    async def prune_sandboxes(self, keep: Iterable[str]) -> list[str]:
        """After a restart: destroy sandboxes of containers that no longer exist. Sandboxes
        this NetSync set up or adopted are kept as well: a restored task may be re-creating
        its sandbox right now, before its container exists."""
        kept = sorted(set(keep) | set(self._users))
        gone = await self._call(self.nn.prune_sandboxes, kept)
        for cid in gone:
            log.info("sandbox of container %s pruned (container gone)", cid[:12])
            if self._users.pop(cid, None) is not None:
                self._schedule()
        return gone

    async def close(self) -> None:
        """Stop pushing (pending pushes are dropped) and wait for the thread; NodeNetwork
        itself is the daemon's to close."""
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown, True)

    # ---- scheduling ------------------------------------------------------------------------
    def _schedule(self) -> None:
        self._dirty = True
        if self._closed:
            return
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._debounced(), name="netsync")

    async def _debounced(self) -> None:
        delay, backoff = self.debounce, RETRY_MIN
        while self._dirty and not self._closed:
            await asyncio.sleep(delay)
            self._dirty = False
            try:
                ok = await self.apply()
            except Exception:   # unexpected (not a NetworkError): keep the runner alive
                log.exception("network push failed")
                ok = False
            if ok:
                delay, backoff = self.debounce, RETRY_MIN
            else:
                self._dirty = True
                delay, backoff = backoff, min(backoff * 2, RETRY_MAX)
                log.warning("network push incomplete; retrying in %.1f s", delay)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # ---- thread side -----------------------------------------------------------------------
    def _push(self, des: Desired) -> bool:
        ok = True
        for nid, ns in des.networks.items():
            try:
                self._push_network(ns)
            except (NetworkError, OSError) as e:
                log.warning("network %s: push failed: %s", nid, e)
                self._ensured.pop(nid, None)   # unknown state: redo everything next time
                ok = False
        if des.ingress_id is not None and des.ingress_id in self._ensured:
            ok &= self._push_ingress(des)
        for nid, cfg in list(self._ensured.items()):
            if nid in des.networks or (cfg.ingress and des.ingress_id is None):
                continue
            why = "replaced by another ingress network" if cfg.ingress else "no local task uses it"
            log.info("network %s (%s): %s; removing", nid, cfg.name, why)
            try:
                self.nn.remove_network(nid)
            except (NetworkError, OSError) as e:
                log.warning("network %s: remove failed: %s", nid, e)
                ok = False
                continue
            self._forget(nid)
        return ok

    def _forget(self, nid: str) -> None:
        cfg = self._ensured.pop(nid, None)
        self._peers.pop(nid, None)
        self._services.pop(nid, None)
        if cfg is not None and cfg.ingress:
            self._ingress = None

    def _push_network(self, ns: NetState, full: bool = True) -> None:
        """Ensure the network; with ``full`` also its peers and services."""
        cfg = ns.config
        nid = cfg.id
        if self._ensured.get(nid) != cfg:
            old = self._ensured.get(nid)
            self._forget(nid)
            self.nn.ensure_network(cfg)
            self._ensured[nid] = cfg
            log.info("network %s (%s) VNI %d %s %s%s", nid, cfg.name, cfg.vni, cfg.subnet,
                     "ensured" if old is None else "re-created (config changed)",
                     " [ingress]" if cfg.ingress else "")
        if not full:
            return
        peers = (ns.peers, ns.remote_endpoints)
        old_peers = self._peers.get(nid)
        if old_peers != peers:
            self.nn.set_peers(nid, list(ns.peers), list(ns.remote_endpoints))
            self._peers[nid] = peers
            before_p, before_e = (set(old_peers[0]), set(old_peers[1])) if old_peers else (set(), set())
            log.info("network %s: peers %s (+%s -%s), remote endpoints %d (+%d -%d)", nid,
                     ",".join(ns.peers) or "none", ",".join(sorted(set(ns.peers) - before_p)) or "0",
                     ",".join(sorted(before_p - set(ns.peers))) or "0", len(ns.remote_endpoints),
                     len(set(ns.remote_endpoints) - before_e), len(before_e - set(ns.remote_endpoints)))
        old_svcs = self._services.get(nid)
        if old_svcs != ns.services:
            self.nn.set_services(nid, list(ns.services))
            self._services[nid] = ns.services
            before, after = _ids(old_svcs or ()), _ids(ns.services)
            log.info("network %s: %d services; added %s removed %s changed %s", nid, len(after),
                     sorted(set(after) - set(before)), sorted(set(before) - set(after)),
                     sorted(s for s in set(after) & set(before) if after[s] != before[s]))

    def _push_ingress(self, des: Desired) -> bool:
        want = (des.ingress_ip, des.ingress_entries)
        if self._ingress == want:
            return True
        if des.ingress_ip is None and self._ingress is None:
            return True      # never set up; nothing to tear down
        try:
            self.nn.set_ingress(des.ingress_ip, list(des.ingress_entries))
        except (NetworkError, OSError) as e:
            log.warning("ingress %s: push failed: %s", des.ingress_ip, e)
            self._ingress = None
            return False
        before = _ids(self._ingress[1]) if self._ingress else {}
        after = _ids(des.ingress_entries)
        self._ingress = want
        ports = sorted({f"{p.protocol}/{p.published_port}" for e in des.ingress_entries for p in e.ports})
        log.info("ingress %s on network %s: ports %s; services added %s removed %s changed %s",
                 des.ingress_ip or "(torn down)", des.ingress_id, ports or "none",
                 sorted(set(after) - set(before)), sorted(set(before) - set(after)),
                 sorted(s for s in set(after) & set(before) if after[s] != before[s]))
        return True

    def _setup(self, container_id: str, task_id: str, states: list[NetState],
               pairs: list[tuple[str, str]], full: bool,
               host_ports: Sequence[PortMap] = (), dns: DnsOptions | None = None) -> tuple[str, str]:
        for ns in states:
            self._push_network(ns, full)
        for nid, _ in pairs:
            if nid not in self._ensured:
                raise InvalidNetworkConfigError(f"task {task_id}: network {nid} has no usable config")
        path = self.nn.create_sandbox(container_id, dns)
        try:
            for nid, addr in pairs:
                self.nn.attach(container_id, nid, addr)
            if host_ports:
                self.nn.set_host_ports(container_id, host_ports)
        except BaseException:
            try:
                self.nn.destroy_sandbox(container_id)
            except (NetworkError, OSError) as e:
                log.warning("task %s: rollback of sandbox %s failed: %s", task_id, container_id[:12], e)
            raise
        log.info("task %s: container %s sandbox %s attached to %s", task_id, container_id[:12], path,
                 ", ".join(f"{n}={a}" for n, a in pairs))
        return path, str(self.nn.resolv_conf_path(container_id))
