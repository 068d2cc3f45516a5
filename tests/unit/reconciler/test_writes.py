"""commit(): batching under the size limits, re-building a refused batch from the latest state."""

from __future__ import annotations

import asyncio
from typing import Any

from swarm.api.objects_pb2 import Task
from swarm.reconciler.writes import Built, Change, commit
from swarm.store import ConflictError, typed
from swarm.store.typed import Reader


class FakeStore:
    """Just enough of Store for Reader and apply; refuses the first ``conflicts`` batches."""

    def __init__(self, conflicts: int = 0) -> None:
        self.rows: dict[str, Any] = {}
        self.batches: list[int] = []
        self.conflicts = conflicts
        self.reads = 0

    def get(self, table: str, oid: str) -> Any:
        self.reads += 1
        return self.rows.get(oid)

    async def apply(self, actions: list[Any]) -> int:
        if self.conflicts:
            self.conflicts -= 1
            raise ConflictError("update out of sequence", table="tasks", id=actions[0].id)
        self.batches.append(len(actions))
        return len(self.batches)


def creates(n: int) -> list[Change]:
    def make(i: int) -> Change:
        def build(r: Reader) -> Built | None:
            return [typed.create(Task(id=f"t{i}", service_id="s", slot=i + 1))], [f"t{i} created"]
        return Change(build, key=f"t{i}")
    return [make(i) for i in range(n)]


def test_batches_of_at_most_500_actions() -> None:
    st = FakeStore()
    assert asyncio.run(commit(st, creates(1200))) == 1200
    assert st.batches == [500, 500, 200]


def test_batches_split_by_bytes() -> None:
    st = FakeStore()
    asyncio.run(commit(st, creates(100), max_bytes=2000))
    assert len(st.batches) > 1 and sum(st.batches) == 100


def test_conflict_rebuilds_from_latest_state_and_drops_what_no_longer_applies() -> None:
    st = FakeStore(conflicts=1)
    built = {"n": 0}

    def build(r: Reader) -> Built | None:
        built["n"] += 1
        if built["n"] > 1:
            return None   # the second look finds the decision obsolete
        return [typed.create(Task(id="x"))], ["x"]
    assert asyncio.run(commit(st, [Change(build, key="x"), *creates(3)])) == 3
    assert built["n"] == 2 and st.batches == [3]


def test_gives_up_after_repeated_conflicts() -> None:
    st = FakeStore(conflicts=100)
    assert asyncio.run(commit(st, creates(3))) == 0
    assert st.batches == []
