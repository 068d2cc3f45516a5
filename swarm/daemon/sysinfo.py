"""Facts about this host reported by `swarm version`, `swarm info` and the node description."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path

from swarm import API_VERSION, __version__


def hostname() -> str:
    return socket.gethostname()


def ncpu() -> int:
    return len(os.sched_getaffinity(0))


def mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cgroup_version() -> str:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "2"
    return "1"


def arch() -> str:
    return platform.machine()


def version_fields() -> dict[str, str]:
    return {
        "version": __version__,
        "api_version": API_VERSION,
        "python_version": platform.python_version(),
        "os": platform.system().lower(),
        "arch": arch(),
        "kernel_version": platform.release(),
    }
