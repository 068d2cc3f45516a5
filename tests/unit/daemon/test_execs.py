"""swarm.daemon.execs: dockerd's exec instances over a fake executor (the real runtime's exec is
proven in tests/integration/test_runtime_exec.py; `docker exec` end to end in
tests/e2e/test_engineapi_e2e.py)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from node.exec import errors as xe
from node.runtime.spec import ExecResult
from swarm.api import daemon_pb2 as d
from swarm.daemon import execs
from swarm.daemon.containers import NoSuchContainerError
from swarm.daemon.errors import InvalidRequestError
from swarm.daemon.refusals import UnimplementedError
from tests.unit.daemon.test_containers import view

CID = "c" * 64


class FakeExecutor:
    def __init__(self, result: ExecResult | Exception | None = None, status: str = "running") -> None:
        self.views = [view(CID, "web.1.abc", status)]
        self.result = result if result is not None else ExecResult(exit_code=0, output=b"hello\n")
        self.calls: list[tuple[Any, ...]] = []
        self.gate: asyncio.Event | None = None

    async def container_views(self) -> list[Any]:
        return self.views

    async def exec_process(self, cid: str, argv: list[str], *, env: list[str], user: str,
                           workdir: str) -> ExecResult:
        self.calls.append((cid, argv, env, user, workdir))
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def daemon(x: Any) -> Any:
    return SimpleNamespace(agent=SimpleNamespace(executor=x))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def create(dm: Any, store: execs.ExecStore, **kw: Any) -> str:
    req = d.ExecCreateRequest(container=kw.pop("container", "web.1.abc"),
                              cmd=kw.pop("cmd", ["echo", "hello"]), attach_stdout=True,
                              attach_stderr=True, **kw)
    return (await execs.create(dm, store, req)).id


async def start(dm: Any, store: execs.ExecStore, exec_id: str, detach: bool = False) -> list[d.ExecOutput]:
    return [c async for c in execs.start(dm, store, d.ExecStartRequest(id=exec_id, detach=detach))]


def inspect(store: execs.ExecStore, exec_id: str) -> dict[str, Any]:
    return dict(json.loads(run(execs.inspect(store, d.ExecInspectRequest(id=exec_id))).exec_json))


def test_an_exec_runs_once_its_output_and_exit_code_are_dockers() -> None:
    x, store = FakeExecutor(ExecResult(exit_code=3, output=b"out and err\n")), execs.ExecStore()

    async def go() -> tuple[str, dict[str, Any], list[d.ExecOutput]]:
        eid = await create(daemon(x), store, container=CID[:12], env=["A=1"], user="nobody",
                           working_dir="/tmp")
        before = json.loads((await execs.inspect(store, d.ExecInspectRequest(id=eid))).exec_json)
        return eid, before, await start(daemon(x), store, eid)

    eid, before, out = run(go())
    assert len(eid) == 64 and before["ExitCode"] is None and before["Running"] is False
    assert [(c.stream, c.data) for c in out] == [("stdout", b"out and err\n")]
    assert x.calls == [(CID, ["echo", "hello"], ["A=1"], "nobody", "/tmp")]
    doc = inspect(store, eid)
    assert doc == {"ID": eid, "Running": False, "ExitCode": 3,
                   "ProcessConfig": {"privileged": False, "user": "nobody", "tty": False,
                                     "entrypoint": "echo", "arguments": ["hello"]},
                   "OpenStdin": False, "OpenStderr": True, "OpenStdout": True, "CanRemove": False,
                   "ContainerID": CID, "DetachKeys": "", "Pid": 0}
    with pytest.raises(execs.ExecConflictError, match=f"^Error: Exec command {eid} has already run$"):
        run(start(daemon(x), store, eid))


def test_a_second_start_while_running_is_a_conflict_and_a_gone_client_loses_nothing() -> None:
    x, store = FakeExecutor(ExecResult(exit_code=0, output=b"late\n")), execs.ExecStore()

    async def go() -> dict[str, Any]:
        x.gate = asyncio.Event()
        eid = await create(daemon(x), store)
        client = asyncio.ensure_future(start(daemon(x), store, eid))
        while not x.calls:
            await asyncio.sleep(0)
        assert json.loads((await execs.inspect(store, d.ExecInspectRequest(id=eid))).exec_json)["Running"]
        with pytest.raises(execs.ExecConflictError, match=r"is already running$"):
            await start(daemon(x), store, eid)
        client.cancel()                                   # the client went away
        with pytest.raises(asyncio.CancelledError):
            await client
        x.gate.set()
        inst = store.get(eid)
        assert inst.run is not None
        await inst.run
        return inst.doc()

    doc = run(go())
    assert doc["Running"] is False and doc["ExitCode"] == 0


def test_detach_answers_at_once_and_the_process_runs_on() -> None:
    x, store = FakeExecutor(), execs.ExecStore()

    async def go() -> tuple[list[d.ExecOutput], dict[str, Any]]:
        x.gate = asyncio.Event()
        eid = await create(daemon(x), store)
        out = await start(daemon(x), store, eid, detach=True)
        running = store.get(eid).doc()
        x.gate.set()
        await store.get(eid).run  # type: ignore[misc]
        return out, running | {"after": store.get(eid).exit_code}

    out, doc = run(go())
    assert out == [] and doc["Running"] is True and doc["after"] == 0


def test_a_process_that_cannot_start_gets_dockerds_line_and_exit_code() -> None:
    missing = ExecResult(exit_code=127, output=b"",
                         error='exec: "nosuch": executable file not found in $PATH')
    x, store = FakeExecutor(missing), execs.ExecStore()
    eid = run(create(daemon(x), store, cmd=["nosuch"]))
    out = run(start(daemon(x), store, eid))
    assert [c.data for c in out] == [
        b'OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": '
        b"executable file not found in $PATH: unknown\r\n"]
    assert inspect(store, eid)["ExitCode"] == 127

    x2 = FakeExecutor(xe.ContainerNotRunningError("container is exited, not running"))
    eid2 = run(create(daemon(x2), store))
    out2 = run(start(daemon(x2), store, eid2))
    assert b"container is exited, not running" in out2[0].data and inspect(store, eid2)["ExitCode"] == 126


def test_cut_output_is_told_in_an_error_chunk() -> None:
    x, store = FakeExecutor(ExecResult(exit_code=0, output=b"x" * 10, truncated=True)), execs.ExecStore()
    out = run(start(daemon(x), store, run(create(daemon(x), store))))
    assert [c.stream for c in out] == ["stdout", "error"] and b"1 MiB" in out[1].data


@pytest.mark.parametrize("kw, err, msg", [
    ({"cmd": []}, InvalidRequestError, "^No exec command specified$"),
    ({"env": ["NOEQUALS"]}, InvalidRequestError, "invalid environment variable 'NOEQUALS'"),
    ({"attach_stdin": True}, UnimplementedError, r"stdin \(docker exec -i\) is not supported"),
    ({"tty": True}, UnimplementedError, r"terminal \(docker exec -t\) is not supported"),
    ({"privileged": True}, UnimplementedError, "--privileged is not supported"),
    ({"container": "nosuch"}, NoSuchContainerError, "^No such container: nosuch$"),
])
def test_bad_creates_are_refused_naming_what_and_nothing_is_kept(kw: dict[str, Any], err: type,
                                                                 msg: str) -> None:
    x, store = FakeExecutor(), execs.ExecStore()
    with pytest.raises(err, match=msg):
        run(create(daemon(x), store, **kw))
    assert store._all == {} and x.calls == []


def test_a_stopped_container_and_a_node_without_the_runtime_are_refused() -> None:
    store = execs.ExecStore()
    with pytest.raises(execs.ExecConflictError, match=f"^container {CID} is not running$"):
        run(create(daemon(FakeExecutor(status="exited")), store))
    no_runtime = SimpleNamespace(agent=SimpleNamespace(executor=SimpleNamespace()))
    with pytest.raises(UnimplementedError, match="container runtime"):
        run(create(no_runtime, store))
    with pytest.raises(execs.NoSuchExecError, match=r"^No such exec instance: nope$"):
        run(start(daemon(FakeExecutor()), store, "nope"))
    with pytest.raises(execs.NoSuchExecError):
        inspect(store, "nope")


def test_the_store_forgets_the_oldest_finished_instances_only() -> None:
    store = execs.ExecStore(keep=2)
    mk = [execs.ExecInstance(id=str(n), container_id=CID, argv=["true"], env=[], user="", working_dir="",
                             attach_stdout=True, attach_stderr=True, detach_keys="",
                             running=n == 0, exit_code=None if n == 0 else 0) for n in range(4)]
    for inst in mk:
        store.add(inst)
    assert list(store._all) == ["0", "3"]     # 2 kept: the running one and the newest finished
