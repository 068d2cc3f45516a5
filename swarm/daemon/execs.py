"""`docker exec` on a node: exec instances in the node's running task containers, as dockerd
keeps them (moby ``daemon/exec.go``, ``api/server/router/container/exec.go``).

An instance is made (``ExecCreate``: the container looked up as ``docker inspect`` does, it must
be running), started once (``ExecStart``: its output streamed back when it exits, or run detached)
and inspected (``ExecInspect``: ``Running``, ``ExitCode``). dockerd's messages and conflicts:
``No exec command specified``; ``container <id> is not running``; ``No such exec instance: <id>``;
``Error: Exec command <id> is already running`` / ``... has already run``. A process that cannot
be started (``exec: "x": executable file not found in $PATH``) gets exit code 126 (127 for a
missing command, as dockerd's ``translateContainerdStartErr``) and dockerd's ``OCI runtime exec
failed: ...`` line in its output.

What pyswarm's runtime does not do is refused at create, naming the flag, never faked: an
attached stdin (``-i``), a terminal (``-t``), ``--privileged``. The process runs until it exits
(no time limit); its stdout and stderr come back interleaved as stdout, after it exits, the first
1 MiB of them (more is cut, and the client is told in an error frame). An instance runs on even
when its client goes away; the last :data:`KEEP` instances are remembered.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from swarm.api import daemon_pb2 as d
from swarm.daemon import containers
from swarm.daemon.errors import DaemonError, InvalidRequestError
from swarm.daemon.refusals import UnimplementedError

KEEP = 256


class NoSuchExecError(DaemonError):
    code = "NOT_FOUND"

    def __init__(self, exec_id: str) -> None:
        super().__init__(f"No such exec instance: {exec_id}")


class ExecConflictError(DaemonError):
    """dockerd's errdefs.Conflict (409)."""

    code = "ABORTED"


@dataclass
class ExecInstance:
    id: str
    container_id: str
    argv: list[str]
    env: list[str]
    user: str
    working_dir: str
    attach_stdout: bool
    attach_stderr: bool
    detach_keys: str
    running: bool = False
    exit_code: int | None = None
    run: asyncio.Task[list[d.ExecOutput]] | None = field(default=None, repr=False)

    def doc(self) -> dict[str, Any]:
        """Docker's ``ExecInspect``."""
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {"privileged": False, "user": self.user, "tty": False,
                              "entrypoint": self.argv[0], "arguments": self.argv[1:]},
            "OpenStdin": False,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "Pid": 0,
        }


class ExecStore:
    """The node's exec instances, newest last; finished ones beyond ``keep`` are forgotten."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._all: OrderedDict[str, ExecInstance] = OrderedDict()

    def add(self, inst: ExecInstance) -> None:
        self._all[inst.id] = inst
        done = [k for k, v in self._all.items() if not v.running]
        for k in done[: max(0, len(self._all) - self.keep)]:
            del self._all[k]

    def get(self, exec_id: str) -> ExecInstance:
        inst = self._all.get(exec_id)
        if inst is None:
            raise NoSuchExecError(exec_id)
        return inst


def _executor(daemon: Any) -> Any:
    executor = getattr(getattr(daemon, "agent", None), "executor", None)
    if executor is None or not hasattr(executor, "exec_process"):
        raise UnimplementedError("exec needs the node's container runtime (this daemon runs without one)")
    return executor


def _refuse_unsupported(req: d.ExecCreateRequest) -> None:
    for given, what in ((req.attach_stdin, "an attached stdin (docker exec -i)"),
                        (req.tty, "a terminal (docker exec -t)"),
                        (req.privileged, "--privileged")):
        if given:
            raise UnimplementedError(f"exec with {what} is not supported by pyswarm")


async def create(daemon: Any, store: ExecStore, req: d.ExecCreateRequest) -> d.ExecCreateResponse:
    if not req.cmd:
        raise InvalidRequestError("No exec command specified")
    _refuse_unsupported(req)
    for e in req.env:
        if "=" not in e or e.startswith("="):
            raise InvalidRequestError(f"invalid environment variable {e!r}: want KEY=VALUE")
    _executor(daemon)
    v = containers.find(await containers.all_views(daemon), req.container)
    if v.state.status != "running":
        raise ExecConflictError(f"container {v.state.id} is not running")
    inst = ExecInstance(id=secrets.token_hex(32), container_id=v.state.id, argv=list(req.cmd),
                        env=list(req.env), user=req.user, working_dir=req.working_dir,
                        attach_stdout=req.attach_stdout, attach_stderr=req.attach_stderr,
                        detach_keys=req.detach_keys)
    store.add(inst)
    return d.ExecCreateResponse(id=inst.id)


def _start_failed(error: str) -> bytes:
    """dockerd's line for a process that could not be started (runc's words)."""
    return (f"OCI runtime exec failed: exec failed: unable to start container process: {error}: "
            "unknown\r\n").encode()


async def _run(executor: Any, inst: ExecInstance) -> list[d.ExecOutput]:
    from node.exec import errors as xe

    out: list[d.ExecOutput] = []
    try:
        r = await executor.exec_process(inst.container_id, inst.argv, env=inst.env, user=inst.user,
                                        workdir=inst.working_dir)
    except xe.ExecError as e:
        inst.exit_code = 126
        out.append(d.ExecOutput(stream="stdout", data=_start_failed(str(e))))
    else:
        inst.exit_code = r.exit_code
        if r.error:
            out.append(d.ExecOutput(stream="stdout", data=_start_failed(r.error)))
        if r.output:
            out.append(d.ExecOutput(stream="stdout", data=r.output))
        if r.truncated:
            out.append(d.ExecOutput(stream="error",
                                    data=b"the output was cut at 1 MiB (pyswarm's exec keeps no more)"))
    finally:
        inst.running = False
    return out


async def start(daemon: Any, store: ExecStore, req: d.ExecStartRequest) -> AsyncIterator[d.ExecOutput]:
    inst = store.get(req.id)
    if inst.exit_code is not None:
        raise ExecConflictError(f"Error: Exec command {inst.id} has already run")
    if inst.running:
        raise ExecConflictError(f"Error: Exec command {inst.id} is already running")
    executor = _executor(daemon)
    inst.running = True
    inst.run = asyncio.ensure_future(_run(executor, inst))
    if req.detach:
        return
    # shielded: a client that goes away does not kill the process nor lose its exit code
    for chunk in await asyncio.shield(inst.run):
        yield chunk


async def inspect(store: ExecStore, req: d.ExecInspectRequest) -> d.ExecInspectResponse:
    return d.ExecInspectResponse(exec_json=json.dumps(store.get(req.id).doc()))
