"""`deploy/testbed up --form-swarm`: turn the started daemons into one swarm.

On the first manager `swarm init --advertise-addr <its address>`; read `swarm join-token -q
manager|worker`; then `swarm join --token T --advertise-addr <addr> <first manager>:2377` on the
other managers (one at a time: Raft membership changes are serialized) and on the workers;
finally wait until `swarm node ls` on the first manager shows every host Ready and every
manager Leader or Reachable.
"""

from __future__ import annotations

import subprocess

from swtb import hosts
from swtb.config import BedConfig, Paths
from swtb.errors import TestbedError

IMPLEMENTED = True


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


def _ok(cfg: BedConfig, paths: Paths, host: str, *args: str) -> str:
    r = swarm_cli(cfg, paths, host, *args)
    if r.returncode != 0:
        raise TestbedError(f"{host}: swarm {' '.join(args)} failed: {(r.stderr or r.stdout).strip()}")
    return r.stdout


def form_swarm(cfg: BedConfig, paths: Paths, timeout: float) -> None:
    """Init on the first manager, join the rest; raise TestbedError on failure."""
    import json
    import time

    check_available()
    managers = [h for h in cfg.hosts if h.name.startswith("mgr")]
    workers = [h for h in cfg.hosts if not h.name.startswith("mgr")]
    if not managers:
        raise TestbedError("up --form-swarm needs at least one manager")
    first = managers[0]
    _ok(cfg, paths, first.name, "init", "--advertise-addr", first.address)
    remote = f"{first.address}:2377"
    tokens = {role: _ok(cfg, paths, first.name, "join-token", "-q", role).strip()
              for role in ("manager", "worker")}
    for role, group in (("manager", managers[1:]), ("worker", workers)):
        for h in group:
            _ok(cfg, paths, h.name, "join", "--token", tokens[role], "--advertise-addr", h.address, remote)
    deadline = time.monotonic() + timeout
    while True:
        r = swarm_cli(cfg, paths, first.name, "node", "ls", "--format", "json")
        nodes = [json.loads(x) for x in r.stdout.splitlines() if x.strip()] if r.returncode == 0 else []
        managers_ok = sum(1 for n in nodes if n["ManagerStatus"] in ("Leader", "Reachable"))
        if len(nodes) == len(cfg.hosts) and all(n["Status"] == "Ready" for n in nodes) \
                and managers_ok == len(managers):
            return
        if time.monotonic() > deadline:
            raise TestbedError(f"the swarm did not form in {timeout:.0f}s: {r.stdout or r.stderr}")
        time.sleep(0.3)
