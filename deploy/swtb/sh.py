"""Running external tools (ip, nsenter, umount) with one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from swtb.errors import TestbedError

REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "mount", "umount", "hostname", "sleep")


def check_tools() -> None:
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        raise TestbedError(f"missing tools: {', '.join(missing)} (install iproute2, util-linux, coreutils)")


def run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run argv, capture output; on failure raise TestbedError with the tool's own message."""
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=60)
    except FileNotFoundError:
        raise TestbedError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise TestbedError(f"timed out: {' '.join(argv)}") from None
    if check and cp.returncode != 0:
        msg = (cp.stderr or cp.stdout).strip().replace("\n", "; ")
        raise TestbedError(f"`{' '.join(argv)}` failed: {msg or f'exit status {cp.returncode}'}")
    return cp


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ip", *args, check=check)


def ip_json(*args: str) -> list[dict[str, Any]]:
    out = ip("-j", *args).stdout.strip()
    if not out:
        return []
    data = json.loads(out)
    return [d for d in data if d]  # `ip -j` may emit empty objects


def netns_list() -> list[str]:
    return [d["name"] for d in ip_json("netns", "list")]


def link_names() -> list[str]:
    return [d["ifname"] for d in ip_json("link", "show")]
