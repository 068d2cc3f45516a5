"""An instant, scriptable fake executor (Nomad's mock driver, for swarmkit's agent).

Used by the agent's unit tests, the conformance suite and the many-agent scale benchmark, so
it costs nothing per task: no threads, no processes, no files; exits are ``call_later``
timers on the running loop and waits are futures.

What a task does is a :class:`Behavior`, taken from (first match wins):

1. ``FakeExecutor(script=...)``: a function of the task returning a ``Behavior`` or ``None``;
2. the task's environment (so it works end to end through ``service create -e``)::

       FAKE_RUN_SECONDS=2.5     run that long, then exit (default: run until stopped)
       FAKE_EXIT_CODE=3         the exit code when it ends by itself (default 0)
       FAKE_PREPARE_SECONDS=1   "pull" time
       FAKE_PREPARE_ERROR=text  prepare fails permanently with that text
       FAKE_PREPARE_TEMPFAIL=2  prepare fails temporarily that many times first
       FAKE_START_ERROR=text    start fails with that text
       FAKE_IGNORE_STOP=1       ignore the stop signal (only the kill after grace ends it)
       FAKE_LOG=text            one stdout line written at start
       FAKE_CAT=/run/secrets/a,/cfg  at start, one stdout line per listed file the task got:
                                "<target> <uid>:<gid> <mode> <content>" (or "<target>: no such file")
       FAKE_MOUNTS=1            at start, one stdout line per mount:
                                "mount <type> <source> <target> ro|rw"

3. the default: run until stopped.

Images: ``FakeExecutor(images={...})`` makes every other image fail to "pull" with
``<image>: manifest unknown`` (like the registry); ``images=None`` accepts any image.

Network items of the assignments (``update_networks``) are not acted on: the last
``NETWORK_UPDATES_KEPT`` messages are kept in ``executor.network_updates`` for tests.

Mounts, secrets and configs are mapped and checked as the real executor does
(:func:`node.exec.containerspec.user_mounts`: a missing secret or a bad bind rejects the task
with the same message), and what a task got is kept on its container (``container.mounts``,
``container.files``) -- in memory only, like the values' store -- and can be printed to its log
(``FAKE_CAT``, ``FAKE_MOUNTS``) so tests through ``service logs`` see it. The fake creates no
file and no mount: this is proof of the mapping only.

Containers live in the executor (``executor.containers``), not in the controllers, so a
"restarted agent" -- a new worker and new controllers on the same executor -- finds them
again through ``adopt()``, as the real runtime's containers survive ``swarmd``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

from node.exec.containerspec import user_mounts
from node.exec.errors import (
    ContainerGoneError,
    ContainerStartError,
    ImagePullError,
    RegistryUnavailableError,
)
from node.exec.executor import ContainerInfo, Controller, Executor, LogRecord, stop_grace, task_name
from node.runtime.mounts import File, Mount
from swarm.api.dispatcher_pb2 import AssignmentsMessage
from swarm.api.objects_pb2 import NodeDescription, Task
from swarm.api.types_pb2 import Platform, Resources

log = logging.getLogger(__name__)

EXIT_SIGTERM = 143
EXIT_SIGKILL = 137
NETWORK_UPDATES_KEPT = 64


@dataclass(frozen=True)
class Behavior:
    """What a fake task does. See the module docstring for the env var spelling."""

    run_seconds: float | None = None
    exit_code: int = 0
    prepare_seconds: float = 0.0
    prepare_error: str | None = None
    prepare_temporary_failures: int = 0
    start_error: str | None = None
    ignore_stop: bool = False
    log_lines: tuple[str, ...] = ()
    cat: tuple[str, ...] = ()
    show_mounts: bool = False

    @classmethod
    def from_env(cls, env: Iterable[str]) -> Behavior:
        e = dict(item.partition("=")[::2] for item in env)

        def num(key: str, default: float | None) -> float | None:
            v = e.get(key)
            if v is None or v == "":
                return default
            f = float(v)
            return None if math.isinf(f) else f

        return cls(
            run_seconds=num("FAKE_RUN_SECONDS", None),
            exit_code=int(e.get("FAKE_EXIT_CODE") or 0),
            prepare_seconds=num("FAKE_PREPARE_SECONDS", 0.0) or 0.0,
            prepare_error=e.get("FAKE_PREPARE_ERROR") or None,
            prepare_temporary_failures=int(e.get("FAKE_PREPARE_TEMPFAIL") or 0),
            start_error=e.get("FAKE_START_ERROR") or None,
            ignore_stop=e.get("FAKE_IGNORE_STOP", "") not in ("", "0", "false"),
            log_lines=(e["FAKE_LOG"],) if e.get("FAKE_LOG") else (),
            cat=tuple(p for p in (e.get("FAKE_CAT") or "").split(",") if p),
            show_mounts=e.get("FAKE_MOUNTS", "") not in ("", "0", "false"),
        )


def _now() -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(time.time_ns())
    return ts


@dataclass
class FakeContainer:
    id: str
    task_id: str
    name: str
    behavior: Behavior
    state: str = "created"
    pid: int = 0
    exit_code: int | None = None
    logs: list[LogRecord] = field(default_factory=list)
    mounts: tuple[Mount, ...] = ()
    files: tuple[File, ...] = ()
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.TimerHandle | None = None

    def exit(self, code: int) -> None:
        if self.state == "exited":
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.state, self.exit_code = "exited", code
        self.exited.set()

    def info(self) -> ContainerInfo:
        return ContainerInfo(container_id=self.id, state=self.state, pid=self.pid, exit_code=self.exit_code)

    def start_lines(self) -> list[str]:
        """What the behavior prints at start (FAKE_LOG, FAKE_MOUNTS, FAKE_CAT)."""
        lines = list(self.behavior.log_lines)
        if self.behavior.show_mounts:
            lines += [f"mount {m.type} {m.source} {m.target} {'ro' if m.read_only else 'rw'}"
                      for m in self.mounts]
        by_target = {f.target: f for f in self.files}
        for path in self.behavior.cat:
            f = by_target.get(path)
            lines.append(f"{path}: no such file" if f is None else
                         f"{path} {f.uid}:{f.gid} {f.mode:04o} {f.data.decode(errors='replace')}")
        return lines


class FakeExecutor(Executor):
    """Executor with in-memory containers; see the module docstring."""

    def __init__(self, images: Iterable[str] | None = None,
                 script: Callable[[Task], Behavior | None] | None = None,
                 hostname: str = "fake-node", nano_cpus: int = 4_000_000_000,
                 memory_bytes: int = 8 << 30, data_root: str = "") -> None:
        self.data_root = data_root      # protected from bind mounts, as in the real executor
        self.images = set(images) if images is not None else None
        self.script = script
        self.hostname = hostname
        self.nano_cpus = nano_cpus
        self.memory_bytes = memory_bytes
        self.containers: dict[str, FakeContainer] = {}
        self.calls: list[tuple[str, str]] = []
        self.network_updates: deque[AssignmentsMessage] = deque(maxlen=NETWORK_UPDATES_KEPT)
        self._tempfails: dict[str, int] = {}
        self._ids = itertools.count(1)

    def describe(self) -> NodeDescription:
        return NodeDescription(hostname=self.hostname,
                               platform=Platform(os="linux", architecture="amd64"),
                               resources=Resources(nano_cpus=self.nano_cpus, memory_bytes=self.memory_bytes),
                               engine_version="pyswarm-fake")

    def behavior(self, task: Task) -> Behavior:
        if self.script is not None:
            b = self.script(task)
            if b is not None:
                return b
        return Behavior.from_env(task.spec.container.env)

    def controller(self, task: Task) -> FakeController:
        return FakeController(self, task)

    async def task_ids(self) -> set[str]:
        return set(self.containers)

    async def logs(self, task_id: str, follow: bool = False, tail: int = -1) -> AsyncIterator[LogRecord]:
        c = self.containers.get(task_id)
        if c is None:
            return
        lines = c.logs if tail < 0 else c.logs[len(c.logs) - tail:] if tail else []
        for rec in list(lines):
            yield rec
        if follow:
            await c.exited.wait()

    async def update_networks(self, msg: AssignmentsMessage) -> None:
        """Recorded (the last few), not acted on: the fake has no data path."""
        self.network_updates.append(msg)

    def kill_behind_our_back(self, task_id: str, exit_code: int = EXIT_SIGKILL) -> None:
        """Test helper: the container's process dies (OOM, crash) without the agent asking."""
        self.containers[task_id].exit(exit_code)


class FakeController(Controller):
    def __init__(self, executor: FakeExecutor, task: Task) -> None:
        super().__init__(task)
        self.x = executor

    def _record(self, op: str) -> None:
        self.x.calls.append((self.task.id, op))

    @property
    def _container(self) -> FakeContainer | None:
        return self.x.containers.get(self.task.id)

    async def adopt(self) -> ContainerInfo | None:
        self._record("adopt")
        c = self._container
        return c.info() if c else None

    async def prepare(self) -> None:
        self._record("prepare")
        if self._container is not None:
            return
        b = self.x.behavior(self.task)
        if b.prepare_seconds:
            await asyncio.sleep(b.prepare_seconds)
        image = self.task.spec.container.image
        if self.x.images is not None and image not in self.x.images:
            raise ImagePullError(f"{image}: manifest unknown")
        if b.prepare_error:
            raise ImagePullError(b.prepare_error)
        failed = self.x._tempfails.get(self.task.id, 0)
        if failed < b.prepare_temporary_failures:
            self.x._tempfails[self.task.id] = failed + 1
            raise RegistryUnavailableError(f"{image}: registry unavailable (fake, attempt {failed + 1})")
        mounts, files = user_mounts(self.task, self.x.dependencies,
                                    (self.x.data_root,) if self.x.data_root else (), self.x.hostname)
        if self._container is None:  # another prepare may have finished while we slept
            cid = f"fake{next(self.x._ids):012d}"
            self.x.containers[self.task.id] = FakeContainer(cid, self.task.id, task_name(self.task), b,
                                                            mounts=tuple(mounts), files=tuple(files))

    async def start(self) -> None:
        self._record("start")
        c = self._container
        if c is None:
            raise ContainerStartError(f"task {self.task.id}: no container to start")
        if c.state != "created":
            return
        if c.behavior.start_error:
            c.exit(128)
            raise ContainerStartError(c.behavior.start_error)
        c.state, c.pid = "running", 10000 + next(self.x._ids)
        c.logs.extend(LogRecord(_now(), "stdout", (line + "\n").encode()) for line in c.start_lines())
        if c.behavior.run_seconds is not None:
            c.timer = asyncio.get_running_loop().call_later(c.behavior.run_seconds, c.exit,
                                                            c.behavior.exit_code)

    async def wait(self) -> int:
        self._record("wait")
        c = self._container
        if c is None:
            raise ContainerGoneError(f"task {self.task.id}: container is gone")
        await c.exited.wait()
        return int(c.exit_code if c.exit_code is not None else -1)

    async def shutdown(self, grace: float | None = None) -> None:
        self._record("shutdown")
        c = self._container
        if c is None or c.state == "exited":
            return
        if c.state == "created":
            c.exit(EXIT_SIGKILL)
            return
        if not c.behavior.ignore_stop:
            c.exit(EXIT_SIGTERM)
            return
        g = stop_grace(self.task) if grace is None else grace
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(c.exited.wait(), g)
        c.exit(EXIT_SIGKILL)

    async def terminate(self) -> None:
        self._record("terminate")
        c = self._container
        if c is not None:
            c.exit(EXIT_SIGKILL)

    async def remove(self) -> None:
        self._record("remove")
        c = self._container
        if c is None:
            return
        if c.state != "exited":
            await self.shutdown()
        self.x.containers.pop(self.task.id, None)

    async def inspect(self) -> ContainerInfo | None:
        c = self._container
        return c.info() if c else None
