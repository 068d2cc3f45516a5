# mypy: disable-error-code="union-attr"
"""Subscriptions: no gaps, no duplicates, Reset on ring overflow and on snapshot restore."""

from __future__ import annotations

import asyncio
import pickle
import threading

from swarm.store.events import EventLog, Subscription
from swarm.store.state import StoreState, StoreView
from swarm.store.types import META_TABLE, Action, Commit, Reset


def put(st: StoreState, i: int, oid: str | None = None) -> None:
    oid = oid or f"o{i % 7}"
    data = str(i).encode()
    act = (Action.update("nodes", oid, data, expected_version=None) if st.get("nodes", oid)
           else Action.create("nodes", oid, data))
    res = st.apply_batch(f"p{i}", [act.to_wire()])
    assert res[0] == "ok", res


class Mirror:
    """Rebuilds table 'nodes' from a view plus events, and checks the index sequence."""

    def __init__(self, view: StoreView) -> None:
        self.reset(view)
        self.resets = 0

    def reset(self, view: StoreView) -> None:
        self.rows = {o.id: (o.version, o.data) for o in view.list("nodes")}
        self.index = view.index

    def feed(self, item: Commit | Reset) -> None:
        if isinstance(item, Reset):
            self.resets += 1
            self.reset(item.view)
            return
        assert item.index > self.index, (item.index, self.index)          # no duplicates
        for e in item.events:
            if e.kind == "delete":
                del self.rows[e.id]
            else:
                assert (e.old_data is None) == (e.id not in self.rows)       # no gaps
                if e.old_data is not None:
                    assert self.rows[e.id][1] == e.old_data
                self.rows[e.id] = (e.version, e.data)
        self.index = item.index

    def matches(self, st: StoreState) -> bool:
        return self.rows == {o.id: (o.version, o.data) for o in st.list("nodes")}


async def drain(sub: Subscription, mirror: Mirror, st: StoreState, timeout: float = 5.0) -> None:
    async def run() -> None:
        while mirror.index < st.index:
            mirror.feed(await sub.__anext__())
    await asyncio.wait_for(run(), timeout)


def test_view_and_subscribe_then_follow_no_gaps_no_duplicates() -> None:
    async def main() -> None:
        st = StoreState()
        log = EventLog(st, capacity=1000)
        for i in range(10):
            put(st, i)
        view, sub = log.subscribe(asyncio.get_running_loop(), None, with_view=True)
        assert view is not None
        m = Mirror(view)
        for i in range(10, 50):
            put(st, i)
        await drain(sub, m, st)
        assert m.matches(st) and m.resets == 0
        sub.close()
    asyncio.run(main())


def test_subscribe_from_index_replays_ring() -> None:
    async def main() -> None:
        st = StoreState()
        log = EventLog(st, capacity=1000)
        for i in range(5):
            put(st, i)
        v = st.view()
        for i in range(5, 20):
            put(st, i)
        _, sub = log.subscribe(asyncio.get_running_loop(), v.index)
        m = Mirror(v)
        await drain(sub, m, st)
        assert m.matches(st) and m.resets == 0
        first = sub.poll()
        assert first is None
    asyncio.run(main())


def test_slow_subscriber_gets_reset_then_continues() -> None:
    async def main() -> None:
        st = StoreState()
        log = EventLog(st, capacity=10)
        view, sub = log.subscribe(asyncio.get_running_loop(), None, with_view=True)
        assert view is not None
        m = Mirror(view)
        for i in range(100):   # far more than the ring holds
            put(st, i)
        item = await sub.__anext__()
        assert isinstance(item, Reset) and item.view.index == st.index
        m.feed(item)
        for i in range(100, 105):
            put(st, i)
        await drain(sub, m, st)
        assert m.matches(st) and m.resets == 1
        assert len(log.ring) <= 10
    asyncio.run(main())


def test_snapshot_restore_resets_subscribers() -> None:
    async def main() -> None:
        other = StoreState()
        for i in range(30):
            put(other, i, oid=f"x{i}")
        blob = pickle.loads(pickle.dumps(other.snapshot_data()))
        st = StoreState()
        log = EventLog(st)
        view, sub = log.subscribe(asyncio.get_running_loop(), None, with_view=True)
        m = Mirror(view)  # type: ignore[arg-type]
        put(st, 0)
        st.restore(blob)
        item = await asyncio.wait_for(sub.__anext__(), 2)
        assert isinstance(item, Reset)
        m.feed(item)
        put(st, 99, oid="x0")
        await drain(sub, m, st)
        assert m.matches(st) and m.index == 31
    asyncio.run(main())


def test_commits_from_another_thread_wake_the_loop() -> None:
    """Like the Raft tick thread: writes happen off-loop; the subscriber must see all of them."""
    async def main() -> None:
        st = StoreState()
        log = EventLog(st, capacity=100_000)
        view, sub = log.subscribe(asyncio.get_running_loop(), None, with_view=True)
        m = Mirror(view)  # type: ignore[arg-type]
        t = threading.Thread(target=lambda: [put(st, i) for i in range(3000)])  # type: ignore[func-returns-value]
        t.start()
        while t.is_alive() or m.index < st.index:
            m.feed(await asyncio.wait_for(sub.__anext__(), 5))
        t.join()
        assert m.matches(st) and m.index == 3000 and m.resets == 0
    asyncio.run(main())


def test_meta_table_is_not_published_and_close_ends_iteration() -> None:
    async def main() -> None:
        st = StoreState()
        log = EventLog(st)
        _, sub = log.subscribe(asyncio.get_running_loop())
        st.apply_batch("m", [Action.create(META_TABLE, "members", b"[]").to_wire()])
        put(st, 1)
        item = await asyncio.wait_for(sub.__anext__(), 2)
        assert isinstance(item, Commit) and item.index == 2 and item.events[0].table == "nodes"
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, sub.close)
        items = [x async for x in sub]
        assert items == []
        assert sub not in log.subs
    asyncio.run(main())


def test_restore_to_an_older_index_still_resets() -> None:
    """State replaced by a snapshot at or below the subscriber's position: only the generation
    tells the subscriber its view is gone."""
    async def main() -> None:
        st = StoreState()
        for i in range(3):
            put(st, i, oid=f"a{i}")
        old = pickle.loads(pickle.dumps(st.snapshot_data()))
        log = EventLog(st)
        _, sub = log.subscribe(asyncio.get_running_loop(), None, with_view=True)
        for i in range(3, 6):
            put(st, i, oid=f"b{i}")
        while sub.poll() is not None:
            pass
        assert sub.index == 6
        st.restore(old)                       # index 3 < 6
        item = await asyncio.wait_for(sub.__anext__(), 2)
        assert isinstance(item, Reset) and item.view.index == 3
        assert item.view.get("nodes", "b3") is None
    asyncio.run(main())
