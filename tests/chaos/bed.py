"""The campaign's cluster: a formed swarm on the netns testbed with a registry, and fast ways in.

* ``cli(host, ...)`` runs ``swarm ...`` inside a host with ``nsenter`` straight away (what
  ``deploy/testbed exec`` does, without starting the script's Python each time);
* ``api(host, path)`` reads the Engine API on the host's own socket (Docker's JSON, for the
  checker's observations);
* ``partition(groups)`` / ``heal_network()`` put nftables drop rules in the hosts' own network
  namespaces (a table ``inet chaos`` in each; never in the root namespace).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.support.images import TEST_IMAGES, build_test_images
from tests.support.testbed import REPO, Testbed

REGISTRY_PORT = 5000
NET = "chaos-net"
CHAOS_TABLE = "chaos"


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class ChaosBed:
    def __init__(self, tb: Testbed, registry: str) -> None:
        self.tb = tb
        self.registry = registry
        self.holders = {h.name: h.holder_pid for h in tb.ls()}
        self.managers = tb.managers
        self.workers = tb.workers
        self.hosts = self.managers + self.workers
        self.addresses = {h.name: h.address for h in tb.ls()}
        self._env = dict(os.environ)
        self._env["PATH"] = f"{REPO / '.venv/bin'}{os.pathsep}{self._env.get('PATH', '/usr/bin:/bin')}"

    # ---- making one -------------------------------------------------------------------------

    @classmethod
    def create(cls, workdir: Path, managers: int = 3, workers: int = 2,
               env: dict[str, str] | None = None) -> ChaosBed:
        layout = build_test_images(workdir / "images")
        infra = "10.231.0.1"
        env_file = workdir / "daemon.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in (env or {}).items()))
        tb = Testbed()
        try:
            tb.up(managers, workers, form_swarm=True, insecure_registries=[f"{infra}:{REGISTRY_PORT}"],
                  env_file=str(env_file))
            regdir = workdir / "registry"
            (regdir / "data").mkdir(parents=True, exist_ok=True)
            cfg = regdir / "config.yml"
            cfg.write_text(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {regdir / 'data'}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {infra}:{REGISTRY_PORT}\n")
            tb.infra("docker-registry", "serve", str(cfg))
            Testbed.wait_for(lambda: tb.exec("infra", "curl", "-sf",
                                             f"http://{infra}:{REGISTRY_PORT}/v2/").returncode == 0,
                             timeout=30, what="the registry")
            for name, ref in TEST_IMAGES.items():
                cp = tb.exec("infra", "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                             f"oci:{layout}:{ref}", f"docker://{infra}:{REGISTRY_PORT}/{name}", timeout=120)
                if cp.returncode != 0:
                    raise RuntimeError(f"pushing {name}: {cp.stderr}")
            bed = cls(tb, f"{infra}:{REGISTRY_PORT}")
            bed.ok(bed.managers[0], "network", "create", "-d", "overlay", NET)
            return bed
        except BaseException:
            tb.down(check=False)
            raise

    def image(self, name: str = "demo/web:1") -> str:
        return f"{self.registry}/{name}"

    # ---- talking to hosts -----------------------------------------------------------------

    def run_in(self, host: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """cmd inside host's namespaces (SWARM_HOST set); TimeoutExpired propagates."""
        env = dict(self._env, SWARM_HOST=f"unix://{self.tb.run_dir / (host + '.sock')}")
        return subprocess.run(["nsenter", "-t", str(self.holders[host]), "-m", "-u", "-n", "--", *cmd],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)

    def cli(self, host: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return self.run_in(host, "swarm", *args, timeout=timeout)

    def ok(self, host: str, *args: str, timeout: float = 60) -> str:
        cp = self.cli(host, *args, timeout=timeout)
        if cp.returncode != 0:
            raise RuntimeError(f"swarm {' '.join(args)} on {host}: {cp.returncode} {cp.stderr.strip()}")
        return cp.stdout

    def api(self, host: str, path: str, timeout: float = 10) -> Any:
        """GET path on the host's Engine API socket: the decoded JSON (RuntimeError if not 200)."""
        conn = _UnixHTTP(str(self.tb.run_dir / f"{host}.docker.sock"), timeout)
        try:
            conn.request("GET", "/v1.41" + path)
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"{host} GET {path}: {resp.status} {body[:200]!r}")
        return json.loads(body)

    def daemon_pid(self, host: str) -> int | None:
        try:
            return int((self.tb.run_dir / f"{host}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    # ---- roles ------------------------------------------------------------------------------

    def leader(self, among: Iterable[str] | None = None) -> str | None:
        """The host the managers agree leads (the answer of most managers that answer), or None."""
        votes: dict[str, int] = {}
        for h in among or self.managers:
            try:
                nodes = self.api(h, "/nodes", timeout=5)
            except (OSError, RuntimeError, ValueError):
                continue
            for n in nodes:
                if (n.get("ManagerStatus") or {}).get("Leader"):
                    name = n["Description"]["Hostname"]
                    votes[name] = votes.get(name, 0) + 1
        if not votes:
            return None
        return max(votes, key=lambda k: votes[k])

    # ---- network faults (inside the hosts' own namespaces) --------------------------------------

    def cut(self, host: str, peers: Iterable[str]) -> None:
        """Drop everything between host and peers, both directions, in host's namespace."""
        addrs = ", ".join(self.addresses[p] for p in peers)
        base = "type filter hook {} priority -300; policy accept;"
        rules = (f"table inet {CHAOS_TABLE} {{\n"
                 f" chain input {{ {base.format('input')} ip saddr {{ {addrs} }} drop; }}\n"
                 f" chain output {{ {base.format('output')} ip daddr {{ {addrs} }} drop; }}\n"
                 "}\n")
        cp = self.run_in(host, "sh", "-c", f"nft delete table inet {CHAOS_TABLE} 2>/dev/null; "
                                           f"printf '%s' \"$0\" | nft -f -", rules)
        if cp.returncode != 0:
            raise RuntimeError(f"{host}: nft: {cp.stderr.strip()}")

    def partition(self, groups: list[list[str]]) -> None:
        """Hosts in different groups cannot talk; hosts in no group talk to everyone."""
        for g in groups:
            others = [h for o in groups if o is not g for h in o]
            for h in g:
                self.cut(h, others)

    def cut_pairs(self, pairs: list[tuple[str, str]]) -> None:
        peers: dict[str, set[str]] = {}
        for a, b in pairs:
            peers.setdefault(a, set()).add(b)
            peers.setdefault(b, set()).add(a)
        for h, ps in peers.items():
            self.cut(h, sorted(ps))

    def heal_network(self) -> None:
        for h in self.hosts:
            self.run_in(h, "nft", "delete", "table", "inet", CHAOS_TABLE)

    def chaos_rules_left(self) -> list[str]:
        return [h for h in self.hosts
                if self.run_in(h, "nft", "list", "table", "inet", CHAOS_TABLE).returncode == 0]
