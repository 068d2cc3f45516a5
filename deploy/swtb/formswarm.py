"""Hook for `deploy/testbed up --form-swarm`: turn the started daemons into one swarm.

Not implemented yet (issue #2 only starts the daemons). The intended shape, for whoever fills
it in: on mgr1 `swarm init --advertise-addr <mgr1 address>`; read `swarm join-token -q
manager|worker`; then `swarm join --token T --advertise-addr <addr> <mgr1 address>:2377` on the
other managers and on the workers; finally wait until `swarm node ls` on mgr1 shows every host
Ready. `swarm_cli(cfg, paths, host, *args)` below runs the CLI inside a host.
"""

from __future__ import annotations

import subprocess

from swtb import hosts
from swtb.config import BedConfig, Paths
from swtb.errors import TestbedError

IMPLEMENTED = False


class NotImplementedYet(TestbedError):
    exit_code = 2


def check_available() -> None:
    """Called before `up` touches anything, so an unusable flag leaves nothing behind."""
    if not IMPLEMENTED:
        raise NotImplementedYet("up --form-swarm: not implemented yet (start the daemons without it)")


def swarm_cli(cfg: BedConfig, paths: Paths, host: str, *args: str,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `swarm ARGS` inside host (SWARM_HOST points at its daemon)."""
    argv, env = hosts.exec_argv(cfg, paths, host, ["swarm", *args])
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)


def form_swarm(cfg: BedConfig, paths: Paths, timeout: float) -> None:
    """Init on the first manager, join the rest; raise TestbedError on failure."""
    check_available()
    raise NotImplementedYet("up --form-swarm: not implemented yet")
