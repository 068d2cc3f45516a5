"""Fixtures of the e2e tier: the network-namespace testbed (deploy/testbed).

    def test_something(testbed):
        tb = testbed(managers=3, workers=2)          # up, with a unique prefix
        assert tb.cli("mgr1", "info").returncode == 0
        # torn down (down --purge) after the test, pass or fail

Tests skip cleanly when not run as root or when ip/nsenter/swarmd are missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.testbed import Testbed, missing_requirements


@pytest.fixture
def testbed_factory() -> Iterator[Callable[..., Testbed]]:
    """Like `testbed` but hands back a Testbed that is not up yet (for tests of `up` itself)."""
    why = missing_requirements()
    if why:
        pytest.skip(why)
    made: list[Testbed] = []

    def make() -> Testbed:
        tb = Testbed()
        made.append(tb)
        return tb

    yield make
    _teardown(made)


@pytest.fixture
def testbed(testbed_factory: Callable[..., Testbed]) -> Callable[..., Testbed]:
    """Factory: testbed(managers=1, workers=0, **up_options) -> a running Testbed."""

    def make(managers: int = 1, workers: int = 0, **kw: Any) -> Testbed:
        return testbed_factory().up(managers, workers, **kw)

    return make


def _teardown(made: list[Testbed]) -> None:
    failures = []
    for tb in reversed(made):
        for host in tb.hosts if tb.is_up and tb.run_dir.exists() else []:
            # shown by pytest only when the test failed
            print(f"----- {tb.prefix} {host} log (tail) -----\n{tb.logs(host, 40)}")
        cp = tb.down(purge=True, check=False)
        if cp.returncode != 0:
            failures.append(f"{tb.prefix}: {cp.stderr.strip()}")
    if failures:
        pytest.fail("testbed teardown failed: " + "; ".join(failures))
