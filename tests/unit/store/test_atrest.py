"""Encryption at rest of the Raft data (swarm.store.atrest): sealed entries, sealed snapshots."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from pysyncobj.config import SERIALIZER_STATE

from swarm.ca.sealing import SecretsKey
from swarm.store.atrest import BLOCK, MAGIC, RAFT_DATA_PURPOSE, DataKey, SealedDataError, open_snapshot
from swarm.store.raft import _Fsm
from swarm.store.snapshot import SnapshotWriter, read_snapshot
from swarm.store.state import StoreState
from swarm.store.types import Action
from tests.unit.store.test_snapshot import RAFT, fill, wait_done

WIRE = [Action.create("secrets", "s1", b"the-plain-value", unique={"name": "db"}).to_wire()]


def key() -> DataKey:
    return DataKey(os.urandom(32))


def sealed_bytes(k: DataKey, data: bytes) -> bytes:
    out = io.BytesIO()
    w = k.writer(out)
    w.write(data)
    w.close()
    return out.getvalue()


def unsealed(k: DataKey | None, blob: bytes) -> bytes:
    return open_snapshot(io.BytesIO(blob), k).read()


def test_an_entry_round_trips_and_hides_its_content() -> None:
    k = key()
    blob = k.seal_entry(WIRE)
    assert b"the-plain-value" not in blob and b"secrets" not in blob
    assert k.open_entry(blob) == WIRE
    assert k.seal_entry(WIRE) != blob             # a fresh nonce each time


def test_an_entry_under_another_key_or_altered_is_refused() -> None:
    k = key()
    blob = k.seal_entry(WIRE)
    with pytest.raises(SealedDataError, match="does not open"):
        key().open_entry(blob)
    flipped = bytearray(blob)
    flipped[20] ^= 1
    with pytest.raises(SealedDataError, match="does not open"):
        k.open_entry(bytes(flipped))
    for bad in (b"", b"\x02" + blob[1:], blob[:20]):
        with pytest.raises(SealedDataError):
            k.open_entry(bad)


def test_the_data_key_is_derived_from_the_secrets_key_for_its_purpose() -> None:
    sk = SecretsKey.generate()
    a = sk.derive(RAFT_DATA_PURPOSE)
    assert len(a) == 32 and a == SecretsKey(sk.raw).derive(RAFT_DATA_PURPOSE)
    assert a != sk.raw and a != sk.derive(b"another purpose")


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17])
def test_a_sealed_file_round_trips_at_every_block_boundary(size: int) -> None:
    k = key()
    data = os.urandom(size)
    blob = sealed_bytes(k, data)
    assert blob.startswith(MAGIC)
    assert unsealed(k, blob) == data


def test_a_damaged_sealed_file_is_refused() -> None:
    k = key()
    data = os.urandom(2 * BLOCK + 5)
    blob = sealed_bytes(k, data)
    first = len(MAGIC) + 4 + 12 + BLOCK + 16          # the first record, whole
    cases = {
        "flipped byte": blob[:first + 40] + bytes([blob[first + 40] ^ 1]) + blob[first + 41:],
        "truncated at a record boundary": blob[:first],
        "truncated inside a record": blob[:-3],
        "appended bytes": blob + b"x",
        "another key": None,
    }
    for what, bad in cases.items():
        with pytest.raises(SealedDataError):
            unsealed(key() if bad is None else k, blob if bad is None else bad)
            raise AssertionError(what)
    # a record moved: the second record before the first
    rec1 = blob[len(MAGIC):first]
    rec2_len = int.from_bytes(blob[first:first + 4], "big")
    rec2 = blob[first:first + 4 + rec2_len]
    swapped = MAGIC + rec2 + rec1 + blob[first + 4 + rec2_len:]
    with pytest.raises(SealedDataError):
        unsealed(k, swapped)


def test_a_plain_file_is_read_as_it_is_and_a_sealed_one_needs_a_key() -> None:
    assert unsealed(key(), b"\x1f\x8bplain gzip bytes") == b"\x1f\x8bplain gzip bytes"
    with pytest.raises(SealedDataError, match="no key"):
        unsealed(None, sealed_bytes(key(), b"data"))


def test_a_snapshot_with_a_key_is_sealed_and_restores(tmp_path: Path) -> None:
    k = key()
    st = StoreState()
    fill(st, 3000, prefix="secret-name-")
    w = SnapshotWriter(st, tmp_path / "raft.dump", k)
    w.serialize("unused", RAFT)
    assert wait_done(w) == SERIALIZER_STATE.SUCCESS
    raw = (tmp_path / "raft.dump").read_bytes()
    assert raw.startswith(MAGIC) and b"secret-name-" not in raw
    raft, data = read_snapshot(tmp_path / "raft.dump", k)
    assert raft == RAFT and len(data["tables"]["tasks"]) == 3000
    with pytest.raises(SealedDataError):
        read_snapshot(tmp_path / "raft.dump", key())
    with pytest.raises(SealedDataError):
        read_snapshot(tmp_path / "raft.dump", None)


def test_a_plain_snapshot_from_before_still_restores_with_a_key(tmp_path: Path) -> None:
    st = StoreState()
    fill(st, 10)
    w = SnapshotWriter(st, tmp_path / "raft.dump")
    w.serialize("unused", RAFT)
    wait_done(w)
    _, data = read_snapshot(tmp_path / "raft.dump", key())
    assert len(data["tables"]["tasks"]) == 10


def test_the_state_machine_opens_sealed_entries_and_still_applies_plain_ones() -> None:
    k = key()
    st = StoreState()
    fsm = _Fsm(st, k)
    apply = _Fsm.apply_batch.__wrapped__          # the state machine itself, without pysyncobj
    assert apply(fsm, "p1", k.seal_entry(WIRE))[0] == "ok"
    assert st.get("secrets", "s1") is not None
    plain = [Action.create("tasks", "t1", b"x").to_wire()]
    assert apply(fsm, "p2", plain)[0] == "ok"        # an entry from before
    res = apply(fsm, "p3", key().seal_entry([Action.create("tasks", "t2", b"x").to_wire()]))
    assert res[:2] == ("error", "sealed") and st.get("tasks", "t2") is None
    keyless = _Fsm(StoreState())
    assert apply(keyless, "p4", k.seal_entry(WIRE))[:2] == ("error", "sealed")
