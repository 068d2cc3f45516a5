"""Running external tools with one-line errors (TestbedError) instead of tracebacks."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from swtb.errors import TestbedError


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 60, input: str | None = None,
        capture: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        cp = subprocess.run(list(argv), capture_output=capture, text=True, input=input, timeout=timeout)
    except FileNotFoundError:
        raise TestbedError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise TestbedError(f"timed out after {timeout:.0f}s: {' '.join(argv)}") from None
    if check and cp.returncode != 0:
        msg = ((cp.stderr or "") + (cp.stdout or "")).strip().splitlines()
        tail = "; ".join(msg[-5:]) or f"exit status {cp.returncode}"
        raise TestbedError(f"`{' '.join(argv)}` failed: {tail}")
    return cp


def in_netns(ns: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]
