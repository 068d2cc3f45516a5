"""Options for the whole test tree (only the e2e tier reads them)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--testbed", choices=("netns", "vm"), default="netns",
                     help="backend of the e2e tests: netns (deploy/testbed, default) or vm "
                          "(the qemu VMs of deploy/vmtestbed, which must be up)")
