"""Shared fixtures: one root CA per test session (key generation is cheap, but keep tests fast)."""

from __future__ import annotations

import pytest

from swarm.ca import RootCA


@pytest.fixture(scope="session")
def root() -> RootCA:
    return RootCA.create()


@pytest.fixture(scope="session")
def other_root() -> RootCA:
    return RootCA.create()
