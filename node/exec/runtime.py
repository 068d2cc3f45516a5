"""The real executor: tasks as containers of ``node.runtime``, images from ``node.images``.

Design notes:
* ``Runtime`` and ``ImageStore`` are synchronous; every call runs in this executor's own
  thread pool (so long stops and pulls never starve the loop's default pool). A call that is
  cancelled by the task manager keeps running in its thread; the next call for the same
  container first waits for it (``_serial``), so a cancelled ``prepare`` never races the
  ``shutdown`` that follows it.
* ``wait()`` does not park a thread per container: one watcher task polls the state of every
  awaited container in a single thread call every ``poll`` seconds (the runtime keeps exit
  codes in each container's ``state.json``, written by its shim, so nothing is lost while
  ``swarmd`` is down).
* Live restore: the container id is a function of the task id (see
  :mod:`node.exec.containerspec`), so ``adopt()`` is a ``state()`` call; the shims own the
  containers and outlive the daemon.
* Pulls: a reference with a digest that is already in the store is not pulled again; for
  tags the registry is asked every time (so ``:latest`` moves), and if it cannot be reached
  but the image is on the node, the local copy is used (Docker does the same). Registry
  errors become :class:`~node.exec.errors.ImagePullError` with the registry's message
  ("manifest unknown"), so the task is REJECTED with it.
* Errors of both layers are translated at this edge, by their ``temporary`` flag and type.
* Networks (``network=``, a :class:`SandboxNetwork`: ``node.network.netsync.NetSync``, built
  and closed by the daemon; None = no overlay networking): ``update_networks()`` forwards the
  assignments' network, route and peer items (the agent hands them over and knows nothing
  more of networking); for a task
  with ``Task.networks`` ``prepare()`` has the network layer ensure the task's networks,
  create the sandbox netns and attach one interface per address (ingress first), and only
  then creates the container *joining* that netns, with the sandbox's resolv.conf (embedded
  DNS at 127.0.0.11) bind-mounted read-only at /etc/resolv.conf. ``remove()`` destroys the
  sandbox after the container (always: a no-op without one, and orphans are removed through
  a bare ``Task(id=...)`` that carries no networks). ``adopt()`` tells the network layer the
  sandbox of a re-adopted container is in use again (the sandbox itself outlived the daemon,
  and NodeNetwork adopted it at construction); :meth:`RuntimeExecutor.prune_sandboxes` drops
  sandboxes whose container is gone. Network errors: malformed network -> InvalidSpecError
  (task rejected), ``temporary`` ones -> RuntimeUnavailableError (retried), others permanent.
  Tasks without networks are untouched: the runtime gives them an empty netns as before.
* Mounts, secrets, configs: ``prepare()`` maps the spec's mounts and the referenced secrets and
  configs (read from the agent's in-memory store, :meth:`Executor.set_dependencies`) and checks
  them with Docker's rules, the node's ``data_root`` protected from bind mounts (default: the
  parent of the runtime's root, ``<data-root>/runtime``); see :mod:`node.exec.containerspec`.
* Volumes: before the first container is created (or listed), the runtime's volume store (if
  it has one) forgets every container it does not know (``forget_others``): a crash between a
  container's removal and its volumes' release must not keep a volume "in use" for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import platform
import socket
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from node.exec import errors as xe
from node.exec.containerspec import container_config, container_id, user_mounts
from node.exec.executor import LABEL_TASK_ID, ContainerInfo, Controller, Executor, LogRecord, stop_grace
from node.exec.health import (
    MAX_OUTPUT,
    HealthCheck,
    HealthConfigError,
    HealthMonitor,
    ProbeOutcome,
    UnhealthyError,
    resolve,
)
from node.exec.templates import ARCH
from node.images import ImageError, ImageStore
from node.images import RegistryUnavailableError as ImagesUnavailable
from node.images.credentials import UnreadableAuthError, decode_registry_auth
from node.runtime import Runtime
from node.runtime.errors import (
    ContainerNotFoundError,
    ContainerRuntimeError,
    ContainerStateError,
    InvalidConfigError,
    ShimUnavailableError,
)
from node.runtime.errors import ContainerStartError as RtStartError
from node.runtime.shim import MAX_EXEC_OUTPUT
from node.runtime.spec import ExecResult
from swarm.api.dispatcher_pb2 import AssignmentsMessage
from swarm.api.objects_pb2 import NodeDescription, Task
from swarm.api.types_pb2 import Platform, Resources

log = logging.getLogger(__name__)
T = TypeVar("T")
USER_EXECS = 16      # `docker exec` processes run at once (more wait their turn)


def translate(e: Exception) -> xe.ExecError:
    """Map an image or runtime error onto the executor's tree."""
    msg = str(e) or type(e).__name__
    if isinstance(e, ImagesUnavailable):
        return xe.RegistryUnavailableError(msg)
    if isinstance(e, ImageError):
        return xe.ImagePullError(msg)
    if isinstance(e, InvalidConfigError):
        return xe.InvalidSpecError(msg)
    if isinstance(e, RtStartError):
        return xe.ContainerStartError(msg)
    if isinstance(e, ContainerNotFoundError):
        return xe.ContainerGoneError(msg)
    if isinstance(e, ShimUnavailableError) or getattr(e, "temporary", False):
        return xe.RuntimeUnavailableError(msg)
    return xe.PermanentError(msg)


class SandboxEndpoint(Protocol):
    """One interface of a container's sandbox as the network layer reports it
    (``node.network.model.Endpoint``)."""

    @property
    def network_id(self) -> str: ...
    @property
    def network_name(self) -> str: ...
    @property
    def ip_cidr(self) -> str: ...
    @property
    def mac_address(self) -> str: ...
    @property
    def endpoint_id(self) -> str: ...
    @property
    def gateway(self) -> str: ...


class SandboxNetwork(Protocol):
    """What the executor needs of the network layer (``node.network.netsync.NetSync``)."""

    async def update(self, msg: AssignmentsMessage) -> None: ...
    async def setup_sandbox(self, container_id: str, task: Task) -> tuple[str, str] | None: ...
    async def adopt_sandbox(self, container_id: str, task: Task) -> None: ...
    async def destroy_sandbox(self, container_id: str) -> None: ...
    async def prune_sandboxes(self, keep: Iterable[str]) -> list[str]: ...
    async def sandbox_endpoints(self, container_id: str) -> Sequence[SandboxEndpoint]: ...


@dataclasses.dataclass(frozen=True)
class HostPort:
    """A host-mode published port of the task (``mode=host``): ``published`` on this node's
    addresses to ``target`` in the container; ``published`` 0 = exposed, not bound."""

    protocol: str        # "tcp" | "udp" | "sctp"
    target: int
    published: int
    host_ip: str = "0.0.0.0"


_PROTOCOLS = {0: "tcp", 1: "udp", 2: "sctp"}     # PortConfig.Protocol


def host_ports(task: Task) -> tuple[HostPort, ...]:
    """The task's host-mode ports (ingress-mode ones belong to the routing mesh, not the
    container, as in Docker's executor)."""
    return tuple(HostPort(_PROTOCOLS.get(p.protocol, "tcp"), p.target_port, p.published_port)
                 for p in task.endpoint.ports if p.publish_mode == 1)   # PortConfig.HOST


def _needs_sandbox(task: Task) -> bool:
    """Overlay networks, or host-mode published ports (the egress path needs a sandbox)."""
    return bool(task.networks) or any(p.published for p in host_ports(task))


def translate_network(e: Exception) -> xe.ExecError:
    """Map a network layer error (``node.network.NetworkError``, OSError) onto the executor's."""
    msg = f"network: {e}" if str(e) else f"network: {type(e).__name__}"
    if isinstance(e, ValueError):       # InvalidNetworkConfigError is one
        return xe.InvalidSpecError(msg)
    if getattr(e, "temporary", False):
        return xe.RuntimeUnavailableError(msg)
    return xe.PermanentError(msg)


@dataclasses.dataclass(frozen=True)
class ContainerView:
    """One container: the runtime's ``ContainerState``, what its create wrote (``config.json``:
    process, image, mounts, limits), with a healthcheck Docker's ``State.Health`` object, the
    interfaces of its sandbox (from the network layer) and the task's host-mode ports."""

    state: Any
    config: dict[str, Any]
    health: dict[str, Any] | None = None
    endpoints: tuple[SandboxEndpoint, ...] = ()
    ports: tuple[HostPort, ...] = ()


def _info(st: Any) -> ContainerInfo:
    return ContainerInfo(container_id=st.id, state=str(st.status), pid=st.pid or 0,
                         exit_code=st.exit_code, error=st.error or "")


class RuntimeExecutor(Executor):
    """Runs tasks with ``node.runtime``; see the module docstring."""

    def __init__(self, runtime: Runtime, images: ImageStore, hostname: str | None = None,
                 poll: float = 0.25, max_threads: int = 64, network: SandboxNetwork | None = None,
                 data_root: str | os.PathLike[str] | None = None) -> None:
        self.rt = runtime
        root = getattr(runtime, "root", None)
        self.data_root = str(data_root) if data_root is not None else (
            os.path.dirname(os.path.abspath(root)) if root is not None else "")
        self._volumes_synced = False
        self._volumes_lock = asyncio.Lock()
        self.images = images
        self.network = network
        self.hostname = hostname or socket.gethostname()
        self.poll = poll
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="exec")
        # `docker exec` processes run as long as they like: their own threads, so a long one
        # never holds a thread the tasks' operations need
        self._user_execs = ThreadPoolExecutor(USER_EXECS, thread_name_prefix="user-exec")
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._waiters: dict[str, list[asyncio.Future[int]]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._controllers: weakref.WeakValueDictionary[str, RuntimeController] = weakref.WeakValueDictionary()
        from node.runtime.linux import DOCKER_DEFAULT_CAPS

        self.default_caps = tuple(DOCKER_DEFAULT_CAPS)

    # ---- Executor ----------------------------------------------------------------------------
    def describe(self) -> NodeDescription:
        mem = 0
        with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
        machine = platform.machine()
        return NodeDescription(
            hostname=self.hostname,
            platform=Platform(os="linux", architecture=ARCH.get(machine, machine)),
            resources=Resources(nano_cpus=(os.cpu_count() or 1) * 1_000_000_000, memory_bytes=mem),
            engine_version="pyswarm")

    def controller(self, task: Task) -> RuntimeController:
        ctl = RuntimeController(self, task)
        self._controllers[ctl.cid] = ctl
        return ctl

    async def container_views(self) -> list[ContainerView]:
        """Every container of this node, as `docker ps` and `docker inspect` show them."""
        def run() -> list[tuple[Any, dict[str, Any]]]:
            return [(st, self.rt.config(st.id)) for st in self.rt.list()]

        out = []
        for st, cfg in await self.call(run):
            ctl = self._controllers.get(st.id)
            health = ctl.health.state.to_docker() if ctl is not None and ctl.health is not None else None
            ports = host_ports(ctl.task) if ctl is not None else ()
            out.append(ContainerView(st, cfg, health, await self._endpoints(st.id, cfg), ports))
        return out

    async def _endpoints(self, cid: str, cfg: dict[str, Any]) -> tuple[SandboxEndpoint, ...]:
        """The sandbox's interfaces (none without a sandbox); a listing does not fail on them."""
        if self.network is None or not cfg.get("netns_path"):
            return ()
        try:
            return tuple(await self.net(self.network.sandbox_endpoints(cid)))
        except xe.ExecError as e:
            log.warning("container %s: its sandbox's interfaces are unknown: %s", cid[:12], e)
            return ()

    async def exec_process(self, cid: str, argv: Sequence[str], *, env: Sequence[str] = (),
                           user: str = "", workdir: str = "") -> ExecResult:
        """``docker exec``: ``argv`` in the running container ``cid`` until it exits
        (``Runtime.exec``: the container's namespaces, cgroups, user, capabilities and seccomp
        filter; no time limit; stdout and stderr interleaved, up to the shim's 1 MiB)."""
        def run() -> ExecResult:
            return self.rt.exec(cid, list(argv), env=list(env), user=user, workdir=workdir,
                                timeout=None, max_output=MAX_EXEC_OUTPUT)

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._user_execs, run)
        except ContainerStateError as e:
            raise xe.ContainerNotRunningError(str(e)) from e
        except (ContainerRuntimeError, ImageError) as e:
            raise translate(e) from e

    async def task_ids(self) -> set[str]:
        await self.sync_volumes()
        states = await self.call(self.rt.list)
        return {s.labels[LABEL_TASK_ID] for s in states if s.labels.get(LABEL_TASK_ID)}

    async def logs(self, task_id: str, follow: bool = False, tail: int = -1) -> AsyncIterator[LogRecord]:
        from node.runtime.logs import read_logs
        from node.runtime.spec import Status

        cid = container_id(task_id)
        try:
            await self.call(self.rt.state, cid)
        except xe.ContainerGoneError:
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)
        stop = threading.Event()
        end = object()

        def exited() -> bool:
            if stop.is_set():
                return True
            try:
                return self.rt.state(cid).status != Status.RUNNING
            except ContainerRuntimeError:
                return True

        def pump() -> None:
            try:
                for line in read_logs(self.rt.cdir / cid / "container.log", follow, tail, exited):
                    if stop.is_set():
                        break
                    asyncio.run_coroutine_threadsafe(queue.put(line), loop).result()
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, end)

        fut = loop.run_in_executor(self._pool, pump)
        try:
            while (item := await queue.get()) is not end:
                ts = Timestamp()
                ts.FromJsonString(item.ts)
                yield LogRecord(ts, item.stream, item.data.encode())
        finally:
            stop.set()
            while not queue.empty():   # unblock a pump waiting on a full queue
                queue.get_nowait()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(fut), 2)

    @property
    def protected(self) -> tuple[str, ...]:
        """Paths no bind mount may use (the node's data root)."""
        return (self.data_root,) if self.data_root else ()

    async def sync_volumes(self) -> None:
        """Once, before any container is created: the volume store forgets every container the
        runtime does not have (see the module docstring). No-op without volumes."""
        if self._volumes_synced:
            return
        async with self._volumes_lock:
            volumes = getattr(self.rt, "volumes", None)
            if self._volumes_synced or volumes is None:
                self._volumes_synced = True
                return

            def sync() -> list[tuple[str, str]]:
                return list(volumes.forget_others([s.id for s in self.rt.list()]))

            for name, cid in await self.call(sync):
                log.info("volume %s: reference of removed container %s dropped", name, cid[:12])
            self._volumes_synced = True

    async def update_networks(self, msg: AssignmentsMessage) -> None:
        """Hand the assignments' network items to the network layer (ignored without one)."""
        if self.network is not None:
            await self.net(self.network.update(msg))

    async def prune_sandboxes(self) -> list[str]:
        """After a restart: destroy network sandboxes whose container no longer exists.

        Call once after ``Worker.start()`` (which re-adopts the live containers); returns the
        container ids whose sandboxes went."""
        if self.network is None:
            return []
        keep = [s.id for s in await self.call(self.rt.list)]
        return await self.net(self.network.prune_sandboxes(keep))

    async def net(self, aw: Awaitable[T]) -> T:
        """Await a network layer call, translating its errors."""
        from node.network.errors import NetworkError

        try:
            return await aw
        except (NetworkError, OSError) as e:
            raise translate_network(e) from e

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        self._pool.shutdown(wait=False)
        self._user_execs.shutdown(wait=False)

    # ---- plumbing ------------------------------------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking runtime/image call in our pool, translating its errors."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except (ContainerRuntimeError, ImageError) as e:
            raise translate(e) from e

    async def serial(self, cid: str, fn: Callable[[], T]) -> T:
        """Like :meth:`call`, but one at a time per container, even across cancellation."""
        while (prev := self._inflight.get(cid)) is not None and not prev.done():
            await asyncio.wait([prev])
        fut = asyncio.ensure_future(self.call(fn))
        self._inflight[cid] = fut

        def done(f: asyncio.Future[Any]) -> None:
            if self._inflight.get(cid) is f:
                del self._inflight[cid]
            if not f.cancelled():
                f.exception()   # retrieved: no "exception was never retrieved" if nobody awaits

        fut.add_done_callback(done)
        return await asyncio.shield(fut)

    async def wait_exit(self, cid: str) -> int:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(cid, []).append(fut)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="exec-exit-watcher")
        try:
            return await fut
        finally:
            waiters = self._waiters.get(cid, [])
            if fut in waiters:
                waiters.remove(fut)
            if not waiters:
                self._waiters.pop(cid, None)

    async def _watch(self) -> None:
        def poll_all(cids: list[str]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for cid in cids:
                try:
                    out[cid] = self.rt.state(cid)
                except ContainerRuntimeError as e:
                    out[cid] = e
            return out

        while self._waiters:
            loop = asyncio.get_running_loop()
            try:
                states = await loop.run_in_executor(self._pool, poll_all, list(self._waiters))
            except RuntimeError as e:   # pool shut down: let the waiters retry (temporary)
                states = {cid: ShimUnavailableError(f"exit watcher: {e}") for cid in self._waiters}
            for cid, st in states.items():
                if isinstance(st, Exception):
                    result: Any = translate(st)
                elif str(st.status) == "exited":
                    result = st.exit_code if st.exit_code is not None else xe.ContainerGoneError(
                        f"container {cid}: exit status unknown ({st.error or 'shim lost'})")
                else:
                    continue
                for fut in self._waiters.pop(cid, []):
                    if not fut.done():
                        (fut.set_exception if isinstance(result, Exception) else fut.set_result)(result)
            await asyncio.sleep(self.poll)


class RuntimeController(Controller):
    def __init__(self, executor: RuntimeExecutor, task: Task) -> None:
        super().__init__(task)
        self.x = executor
        self.cid = container_id(task.id)
        self.health: HealthMonitor | None = None
        self._health_run: asyncio.Task[None] | None = None

    # ---- healthcheck (node.exec.health) ----------------------------------------------------
    def _healthcheck(self) -> HealthCheck | None:
        c = self.task.spec.container
        image = self.x.images.get(c.image) if c.image else None
        cfg = getattr(image, "config", None)
        try:
            return resolve(c.healthcheck if c.HasField("healthcheck") else None,
                           getattr(cfg, "healthcheck", None))
        except HealthConfigError as e:
            raise xe.InvalidSpecError(f"healthcheck: {e}") from None

    async def _probe(self, argv: list[str], timeout: float) -> ProbeOutcome:
        r = await self.x.call(lambda: self.x.rt.exec(self.cid, argv, timeout=timeout,
                                                     max_output=MAX_OUTPUT + 1))
        out = r.output if not r.error else (r.output + r.error.encode())
        return ProbeOutcome(r.exit_code, out, timed_out=r.timed_out, truncated=r.truncated)

    def _start_health(self, started_at: float | None = None) -> HealthMonitor | None:
        """The container's health monitor, started once (None without a healthcheck)."""
        if self.health is None:
            check = self._healthcheck()
            if check is None:
                return None
            self.health = HealthMonitor(check, self._probe, started_at=started_at)
            self._health_run = asyncio.ensure_future(self.health.run())
        return self.health

    async def _stop_health(self) -> None:
        run, self._health_run = self._health_run, None
        if run is not None:
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run

    async def _unhealthy(self) -> None:
        """Docker's controller: stop the container, then fail the task."""
        await self._stop_health()
        log.info("task %s: container %s is unhealthy; stopping it", self.task.id, self.cid[:12])
        await self.shutdown()
        raise xe.UnhealthyContainerError()

    async def _state(self) -> Any | None:
        try:
            return await self.x.serial(self.cid, lambda: self.x.rt.state(self.cid))
        except xe.ContainerGoneError:
            return None

    async def adopt(self) -> ContainerInfo | None:
        st = await self._state()
        if st is not None:
            log.info("task %s: re-attached to container %s (%s)", self.task.id, self.cid[:12], st.status)
            if self.x.network is not None and _needs_sandbox(self.task):
                await self.x.net(self.x.network.adopt_sandbox(self.cid, self.task))
        return _info(st) if st is not None else None

    async def inspect(self) -> ContainerInfo | None:
        st = await self._state()
        if st is None:
            return None
        info = _info(st)
        if self.health is not None:      # started by start(): RUNNING is reported once healthy
            return dataclasses.replace(info, health=self.health.status)
        return info

    async def prepare(self) -> None:
        if await self._state() is not None:
            return
        ref = self.task.spec.container.image
        if not ref:
            raise xe.InvalidSpecError("ContainerSpec: image reference must be provided")
        image = await self.x.serial(self.cid, lambda: self._pull(ref))
        if await self._state() is not None:
            return
        await self.x.sync_volumes()
        deps = self.x.dependencies
        # mapped and checked before a sandbox exists: a bad mount or a missing secret rejects
        # the task with nothing to undo (the check is repeated with the sandbox's resolv.conf)
        await self.x.serial(self.cid, lambda: user_mounts(self.task, deps, self.x.protected, self.x.hostname))
        sandbox: tuple[str, str] | None = None
        if self.x.network is not None and _needs_sandbox(self.task):
            sandbox = await self.x.net(self.x.network.setup_sandbox(self.cid, self.task))
        netns_path, resolv = sandbox if sandbox is not None else (None, None)

        def create() -> None:
            cfg = container_config(self.task, image, self.x.hostname, self.x.default_caps,
                                   netns_path=netns_path, resolv_conf=resolv, deps=deps,
                                   protected=self.x.protected)
            self.x.rt.create(cfg)

        try:
            await self.x.serial(self.cid, create)
        except xe.ExecError:
            if sandbox is not None:
                await self._destroy_sandbox(quiet=True)
            raise
        log.info("task %s: container %s created from %s%s", self.task.id, self.cid[:12], ref,
                 f" in sandbox {netns_path}" if netns_path else "")

    async def _destroy_sandbox(self, quiet: bool = False) -> None:
        if self.x.network is None:
            return
        try:
            await self.x.net(self.x.network.destroy_sandbox(self.cid))
        except xe.ExecError as e:
            if not quiet:
                raise
            log.warning("task %s: destroying the sandbox of %s failed: %s", self.task.id, self.cid[:12], e)

    def _pull(self, ref: str) -> Any:
        if "@" in ref:
            local = self.x.images.get(ref)
            if local is not None:
                return local
        try:
            img = self.x.images.pull(ref, credentials=registry_credentials(self.task))
            log.info("task %s: pulled %s", self.task.id, ref)
            return img
        except ImageError as e:
            local = self.x.images.get(ref)
            if local is None:
                raise
            log.warning("task %s: pull of %s failed (%s); using the image on the node", self.task.id, ref, e)
            return local

    async def start(self) -> None:
        """Start the container; with a healthcheck, return only once it is healthy (the task
        stays STARTING meanwhile, as in Docker), or fail the task when it turns unhealthy. A
        container that exits before either returns here: ``wait()`` reports its exit."""
        st = await self._state()
        if st is None:
            raise xe.ContainerStartError(f"task {self.task.id}: no container to start")
        if str(st.status) == "created":
            await self.x.serial(self.cid, lambda: self.x.rt.start(self.cid))
        elif str(st.status) != "running" or self.health is not None:
            return   # already started and checked (e.g. before an agent restart)
        monitor = self._start_health()
        if monitor is None:
            return
        healthy = asyncio.ensure_future(monitor.wait_healthy())
        exited = asyncio.ensure_future(self.x.wait_exit(self.cid))
        try:
            await asyncio.wait([healthy, exited], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (healthy, exited):
                f.cancel()
        if healthy.done() and not healthy.cancelled() and isinstance(healthy.exception(), UnhealthyError):
            await self._unhealthy()

    async def wait(self) -> int:
        """The exit code; a container found unhealthy meanwhile is stopped and the task fails
        with Docker's ``dockerexec: unhealthy container``."""
        if await self._state() is None:
            raise xe.ContainerGoneError(f"task {self.task.id}: container {self.cid[:12]} is gone")
        monitor = self._start_health()          # adopted after an agent restart: checked again
        if monitor is None:
            return await self.x.wait_exit(self.cid)
        exited = asyncio.ensure_future(self.x.wait_exit(self.cid))
        unhealthy = asyncio.ensure_future(monitor.wait_unhealthy())
        try:
            await asyncio.wait([exited, unhealthy], return_when=asyncio.FIRST_COMPLETED)
        finally:
            unhealthy.cancel()
            if not exited.done():
                exited.cancel()
        if exited.done() and not exited.cancelled():
            await self._stop_health()
            return exited.result()
        await self._unhealthy()
        raise AssertionError("unreachable")

    async def shutdown(self, grace: float | None = None) -> None:
        await self._stop_health()
        g = stop_grace(self.task) if grace is None else grace
        sig = self.task.spec.container.stop_signal or None

        def stop() -> None:
            try:
                self.x.rt.stop(self.cid, g, sig)
            except ContainerNotFoundError:
                pass

        await self.x.serial(self.cid, stop)

    async def terminate(self) -> None:
        await self._stop_health()

        def kill() -> None:
            try:
                self.x.rt.kill(self.cid, "SIGKILL")
            except ContainerNotFoundError:
                pass

        await self.x.serial(self.cid, kill)

    async def remove(self) -> None:
        st = await self._state()
        if st is None:
            await self._destroy_sandbox()
            return
        if str(st.status) == "running":
            await self.shutdown()

        def rm() -> None:
            try:
                self.x.rt.remove(self.cid, force=True)
            except ContainerNotFoundError:
                pass

        await self.x.serial(self.cid, rm)
        log.info("task %s: container %s removed", self.task.id, self.cid[:12])
        await self._destroy_sandbox()


def registry_credentials(task: Task) -> tuple[str, str] | None:
    """(user, password) from the task's ``--with-registry-auth`` (Docker's X-Registry-Auth,
    :mod:`node.images.credentials`); None when there are none or they cannot be read (the pull
    then goes anonymous)."""
    try:
        return decode_registry_auth(task.spec.container.pull_options.registry_auth)
    except UnreadableAuthError as e:
        log.warning("task %s: %s; pulling anonymously", task.id, e)
        return None
