"""PYSWARM_TEST_COMPACTION_MIN_TIME: the test-only knob the fault campaign uses to get snapshots."""

from __future__ import annotations

import pytest

from swarm.daemon.manager import COMPACTION_ENV, compaction_min_time_from_env


def test_default_without_the_variable(monkeypatch):
    monkeypatch.delenv(COMPACTION_ENV, raising=False)
    assert compaction_min_time_from_env() == 300.0


def test_value_in_seconds(monkeypatch):
    monkeypatch.setenv(COMPACTION_ENV, "20")
    assert compaction_min_time_from_env() == 20.0


@pytest.mark.parametrize("raw", ["abc", "0", "-5"])
def test_bad_values_are_refused_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(COMPACTION_ENV, raw)
    with pytest.raises(ValueError, match=COMPACTION_ENV):
        compaction_min_time_from_env()
