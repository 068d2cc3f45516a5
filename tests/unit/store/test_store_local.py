# mypy: disable-error-code="union-attr"
"""Store on one member over loopback: construction rules, API wiring, error mapping, lifecycle.

A single-member cluster commits on pysyncobj's next tick (~50 ms per write), so writes are few.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from swarm.store import (
    Action,
    AlreadyExistsError,
    Commit,
    ConflictError,
    InvalidArgumentError,
    NameConflictError,
    NotFoundError,
    Store,
)
from tests.support.store_harness import free_port


def test_refuses_to_start_without_password(tmp_path: Path) -> None:
    a = f"127.0.0.1:{free_port()}"
    with pytest.raises(ValueError, match="password"):
        Store(a, [a], tmp_path, "")
    with pytest.raises(ValueError, match="self"):
        Store(a, ["127.0.0.1:1"], tmp_path, "pw")


def test_single_member_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    addr = f"127.0.0.1:{port}"

    async def main() -> None:
        st = Store(addr, [addr], tmp_path, "pw")
        flips: list[bool] = []
        st.on_leadership_change(flips.append)
        st.start()
        try:
            await st.wait_ready(10)
            assert st.is_leader() and st.leader() == addr and st.has_quorum()
            # bound to the given address only, not 0.0.0.0
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.2", port)) != 0
            view, sub = st.view_and_subscribe()
            i1 = await st.apply([Action.create("services", "s1", b"a", unique={"name": "web"}),
                                 Action.create("tasks", "t1", b"t", indexes={"service_id": "s1"})])
            assert st.get("services", "s1").version == i1 == st.index
            assert [o.id for o in st.find("tasks", "service_id", "s1")] == ["t1"]
            assert st.find_unique("services", "name", "web").id == "s1"
            with pytest.raises(ConflictError, match="update out of sequence"):
                await st.apply([Action.update("services", "s1", b"b", expected_version=i1 - 1)])
            with pytest.raises(AlreadyExistsError):
                await st.apply([Action.create("services", "s1", b"")])
            with pytest.raises(NameConflictError):
                await st.apply([Action.create("services", "s2", b"", unique={"name": "web"})])
            with pytest.raises(NotFoundError):
                await st.apply([Action.delete("tasks", "nope")])
            with pytest.raises(InvalidArgumentError):
                await st.apply([Action.create("_raft", "x", b"")])
            with pytest.raises(InvalidArgumentError, match="split"):
                await st.apply([Action.create("tasks", f"big{i}", b"x" * 2**20) for i in range(3)])
            i2 = await asyncio.to_thread(st.apply_sync, [Action.update("services", "s1", b"c",
                                                                       expected_version=i1)])
            assert i2 == i1 + 1
            assert await st.barrier() >= i2
            got = [await asyncio.wait_for(sub.__anext__(), 5) for _ in range(2)]
            assert [c.index for c in got if isinstance(c, Commit)] == [i1, i2]
            assert view.get("services", "s1") is None          # the view did not move
            status = st.status()
            assert status["leader"] == addr and status["members"] == {addr: True}
            assert st.members() == [addr]
            for _ in range(100):
                if st.stored_members() == [addr]:
                    break
                await asyncio.sleep(0.05)
            assert st.stored_members() == [addr]
            assert Store.saved_members(tmp_path) == [addr]
            await asyncio.sleep(0)
            assert flips == [True]
        finally:
            st.close()
            st.close()   # idempotent
        with socket.socket() as s:   # port is free again
            s.bind(("127.0.0.1", port))

    asyncio.run(main())


def test_port_in_use_fails_start_cleanly(tmp_path: Path) -> None:
    from swarm.store import StoreError
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        st = Store(addr, [addr], tmp_path, "pw")
        with pytest.raises(StoreError, match="cannot bind"):
            st.start()
        st.close()
