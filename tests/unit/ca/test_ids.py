from __future__ import annotations

import re

import pytest

from swarm.ca import ids


def test_new_id_is_25_lowercase_base36() -> None:
    for _ in range(2000):
        i = ids.new_id()
        assert re.fullmatch(r"[0-9a-z]{25}", i), i


def test_new_ids_are_unique() -> None:
    assert len({ids.new_id() for _ in range(5000)}) == 5000


def test_new_id_drops_the_low_entropy_leading_digit(monkeypatch: pytest.MonkeyPatch) -> None:
    # All-zero entropy with the top bit forced on is 2**135: its base-36 text minus the first digit.
    monkeypatch.setattr(ids.secrets, "token_bytes", lambda n: bytes(n))
    expected = ids.to_base36(1 << 135)
    assert len(expected) == 27
    assert ids.new_id() == expected[1:26]


def test_first_character_varies() -> None:
    assert len({ids.new_id()[0] for _ in range(500)}) > 10


@pytest.mark.parametrize("n", [0, 1, 35, 36, 2**128 - 1, 2**256 - 1])
def test_base36_round_trip(n: int) -> None:
    assert ids.from_base36(ids.to_base36(n)) == n


@pytest.mark.parametrize("bad", ["", "ABC", "a-b", "z z"])
def test_from_base36_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        ids.from_base36(bad)


def test_is_valid_id() -> None:
    assert ids.is_valid_id(ids.new_id())
    assert not ids.is_valid_id("short")
    assert not ids.is_valid_id("A" * 25)
