"""`service logs --since` values, read as Docker reads them (api/types/time GetTimestamp)."""

from __future__ import annotations

import pytest

from swarm.cli.durations import parse_timestamp


def test_since_timestamps_as_docker_reads_them() -> None:
    assert parse_timestamp("1700000000") == 1700000000.0
    assert parse_timestamp("1700000000.5") == 1700000000.5
    assert parse_timestamp("10m", now=1000.0) == 400.0
    assert parse_timestamp("1h30m", now=10_000.0) == 10_000.0 - 5400
    assert parse_timestamp("2023-11-14T22:13:20Z") == 1700000000.0
    assert parse_timestamp("2023-11-14T23:13:20.250000000+01:00") == 1700000000.25
    assert parse_timestamp("2023-11-14T22:13:20") == 1700000000.0        # no zone: UTC
    assert parse_timestamp("2023-11-14") == 1699920000.0
    with pytest.raises(ValueError, match='failed to parse value as time or duration: "yesterday"'):
        parse_timestamp("yesterday")
