"""The v1 cgroup set-up the shim runs for its container (see :mod:`node.runtime.cgroups`).

Its own module with nothing but ``os``: the zygote imports it before forking shims, and
every module or object a shim touches costs it private memory (pages shared with the
zygote get copied when refcounts change; pathlib, logging and the spec types together cost
~0.7 MiB per shim).
"""

from __future__ import annotations

import os

from node.runtime.errors import RuntimeSetupError

#: runc's default device allow-list (no tty/console: containers get pipes, not a terminal)
DEVICE_RULES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")
CFS_PERIOD = 100_000


def setup_v1(ctrl_dirs: dict[str, str], memory_bytes: int | None, nano_cpus: int | None,
             pids: int | None, cid: str = "") -> None:
    """Create the v1 directories (``controller -> dir``; co-mounted controllers share one) and
    write the limits and the device allow-list, from paths the daemon computed."""
    if not ctrl_dirs:
        return
    try:
        for d in dict.fromkeys(ctrl_dirs.values()):
            os.makedirs(d, exist_ok=True)
        m = ctrl_dirs["memory"]
        writes: list[tuple[str, str | int]] = []
        if memory_bytes:
            writes.append((f"{m}/memory.limit_in_bytes", memory_bytes))
            if os.path.exists(f"{m}/memory.memsw.limit_in_bytes"):
                writes.append((f"{m}/memory.memsw.limit_in_bytes", memory_bytes))
        if nano_cpus:
            cpu = ctrl_dirs["cpu"]
            writes += [(f"{cpu}/cpu.cfs_period_us", CFS_PERIOD),
                       (f"{cpu}/cpu.cfs_quota_us", nano_cpus * CFS_PERIOD // 1_000_000_000)]
        if pids:
            writes.append((f"{ctrl_dirs['pids']}/pids.max", pids))
        dev = ctrl_dirs["devices"]
        writes.append((f"{dev}/devices.deny", "a"))
        writes += [(f"{dev}/devices.allow", rule) for rule in DEVICE_RULES]
        for path, value in writes:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, str(value).encode())
            except OSError as e:
                raise OSError(e.errno, f"{e.strerror}: {path!r}") from None
            finally:
                os.close(fd)
    except OSError as e:
        raise RuntimeSetupError(f"cgroup setup for {cid} failed: {e}") from e
