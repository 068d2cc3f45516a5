"""Lifecycle of a whole testbed: up, down (idempotent, state-free if need be), status.

What `down` kills (the rule): a process is ours and may be signalled only if
  1. its PID is recorded in our state dir (daemon, holder, infra) AND its start time still
     matches the one recorded with it (so a reused PID is never hit), or
  2. its network namespace (/proc/PID/ns/net) is one of our named netns (P-*), or
  3. its mount namespace is that of a process found by rule 2, and that mount namespace is
     neither PID 1's nor our own (i.e. one our `unshare` made, such as a host's holder ns), or
  4. it descends from a process found by rules 1-3 (a container in its own namespaces, whose
     shim lives in the host's netns; collected before anything is signalled), or
  5. it is in the cgroup tree of one of our daemons' container runtimes (``pyswarm-`` + 8 hex
     digits of sha256(data root), in every mounted hierarchy; the trees are removed too: a
     shim killed by `down` never got to remove its container's cgroups).
Our own process and its ancestors are never signalled. Nothing is ever matched by name.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from swtb import hosts, net, procs
from swtb.config import INFRA, BedConfig, Paths
from swtb.errors import TestbedError
from swtb.sh import check_tools, run


def require_root() -> None:
    if os.geteuid() != 0:
        raise TestbedError("the testbed needs root (network namespaces, mounts, routes)")


def leftovers(paths: Paths) -> list[str]:
    found = [f"netns {n}" for n in net.our_netns(paths)] + [f"link {n}" for n in net.our_links(paths)]
    found += [f"cgroup {d}" for d in daemon_cgroups(paths, _daemon_hosts(paths, None))]
    found += [f"route {r}" for r in net.our_routes(paths.route_metric)]
    if paths.state_file.exists():
        found.append(f"state {paths.state_file}")
    return found


def warnings(paths: Paths) -> list[str]:
    """Things that do not stop `up` but may surprise: reused data, a firewall on the bridge."""
    out = []
    if paths.lib_dir.is_dir() and any(paths.lib_dir.iterdir()):
        out.append(f"reusing the data roots in {paths.lib_dir} (`down --purge` deletes them)")
    nf = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    if nf.exists() and nf.read_text().strip() == "1" and shutil.which("nft"):
        ruleset = run("nft", "list", "ruleset", check=False).stdout
        if any("hook forward" in c and "policy drop" in c for c in ruleset.split("chain ")[1:]):
            out.append("br_netfilter is on and a forward chain drops by default: traffic between "
                       "the hosts on the bridge may be dropped by the machine's firewall")
    return out


def up(cfg: BedConfig, paths: Paths, timeout: float, keep_on_error: bool = False) -> None:
    require_root()
    check_tools()
    left = leftovers(paths)
    if left:
        raise TestbedError(f"testbed {paths.prefix} is already up or left over ({', '.join(left[:4])}); "
                           f"run `deploy/testbed --prefix {paths.prefix} down` first")
    net.check_no_overlap(cfg.routes)
    cfg.save(paths)  # first, so `down` knows everything even if `up` fails half-way
    try:
        net.add_routes(cfg.routes, cfg.route_metric)  # safety first: before any address exists
        net.create_bridge(paths)
        net.add_node(paths, INFRA, cfg.infra_address, cfg.prefixlen)
        for h in cfg.hosts:
            net.add_node(paths, h.name, h.address, cfg.prefixlen)
        for h in cfg.hosts:
            hosts.start_holder(cfg, paths, h.name)
        started = [(h.name, hosts.start_daemon(cfg, paths, h.name)) for h in cfg.hosts]
        for name, p in started:
            hosts.wait_ready(paths, name, p, timeout)
    except BaseException:  # also Ctrl-C: never leave half a testbed behind
        if not keep_on_error:
            down(paths, purge=True, timeout=5.0)
        raise


@dataclass
class DownReport:
    processes: list[int] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.processes)} processes", f"{len(self.cgroups)} cgroups",
                 f"{len(self.netns)} netns", f"{len(self.links)} links", f"{len(self.routes)} routes",
                 f"{len(self.mounts)} mounts"]
        text = "removed " + ", ".join(parts)
        if self.dirs:
            text += "; deleted " + ", ".join(self.dirs)
        return text


def _protected() -> set[int]:
    """Our own process and its ancestors."""
    out, pid = set(), os.getpid()
    while pid > 1:
        out.add(pid)
        try:
            st = Path(f"/proc/{pid}/stat").read_text()
            pid = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            break
    return out


def recorded_pids(paths: Paths) -> list[int]:
    """Rule 1: live processes whose PID (and start time) we recorded."""
    if not paths.run_dir.is_dir():
        return []
    out = []
    for f in sorted(paths.run_dir.glob("*.pid")):
        pid = procs.read_pidfile(f)
        if pid is not None:
            out.append(pid)
    return out


def netns_pids(paths: Paths) -> list[int]:
    """Rules 2 and 3: processes in our netns, and in mount namespaces made for them."""
    ids = {i for i in (net.netns_inode(n) for n in net.our_netns(paths)) if i}
    if not ids:
        return []
    pids = list(procs.all_pids())
    found = {p for p in pids if procs.ns_id(p, "net") in ids}
    mnts = {procs.ns_id(p, "mnt") for p in found} - {procs.ns_id(1, "mnt"), procs.ns_id("self", "mnt"), None}
    found |= {p for p in pids if procs.ns_id(p, "mnt") in mnts}
    return sorted(p for p in found if procs.alive(p))


def our_pids(paths: Paths) -> set[int]:
    """Rules 1-4 (see the module docstring)."""
    found = set(recorded_pids(paths)) | set(netns_pids(paths))
    return {p for p in found | procs.descendants(found) if procs.alive(p)}


def _mounts_under(dirs: list[Path]) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            mp = mp.encode().decode("unicode_escape")  # \040 etc.
            for d in dirs:
                if mp == str(d) or mp.startswith(str(d) + "/"):
                    out.append(mp)
    return sorted(set(out), key=lambda m: m.count("/"), reverse=True)


def down(paths: Paths, purge: bool, timeout: float) -> DownReport:
    require_root()
    rep = DownReport()
    cfg = None
    try:
        cfg = BedConfig.load(paths)
    except TestbedError:
        pass  # a damaged state file must not stop the cleanup
    protected = _protected()
    # 1. daemons first, gently (SIGTERM, then SIGKILL after timeout); note everything that
    #    descends from ours before, since killing a shim orphans its container
    before = {p: procs.start_time(p) for p in our_pids(paths)}  # start times guard PID reuse
    names = [h.name for h in cfg.hosts] if cfg else []
    daemons = [p for p in (hosts.daemon_pid(paths, n) for n in names) if p is not None]
    procs.stop([p for p in daemons if p not in protected], timeout)
    rep.processes += daemons
    # 2. everything else: what we saw before, and whatever is ours now
    for _ in range(5):
        seen = {p for p, st in before.items() if procs.start_time(p) == st}
        victims = [p for p in seen | our_pids(paths) if p not in protected and procs.alive(p)]
        before = {}
        if not victims:
            break
        procs.stop(victims, 2.0)
        rep.processes += victims
    # 2b. rule 5: whatever still runs in our daemons' cgroups; then the cgroup trees
    cg_hosts = _daemon_hosts(paths, cfg)
    for _ in range(5):
        victims = [p for p in _cgroup_pids(daemon_cgroups(paths, cg_hosts)) if p not in protected]
        if not victims:
            break
        procs.stop(victims, 2.0)
        rep.processes += victims
    rep.cgroups = _delete_cgroup_trees(daemon_cgroups(paths, cg_hosts))
    # 3. routes, links, netns
    metric = cfg.route_metric if cfg else paths.route_metric
    routes = list(dict.fromkeys((cfg.routes if cfg else []) + net.our_routes(metric)))
    rep.routes = net.delete_routes(routes, metric)
    links = net.our_links(paths)
    for link in sorted(links, key=lambda n: n == paths.bridge):  # bridge last
        net.delete_link(link)
    rep.links = [n for n in links if n not in net.our_links(paths)]
    names = net.our_netns(paths)
    for n in names:
        net.delete_netns(n)
    rep.netns = [n for n in names if n not in net.our_netns(paths)]
    rep.netns += _delete_daemon_netns_files(paths, cg_hosts)
    # 4. mounts under our directories, then the directories
    dirs = [paths.run_dir, paths.lib_dir]
    for mp in _mounts_under(dirs):
        if run("umount", "-l", mp, check=False).returncode == 0:
            rep.mounts.append(mp)
    still = _mounts_under(dirs)
    if still:
        raise TestbedError(f"cannot unmount {', '.join(still)}; not deleting {paths.run_dir}")
    for d in [paths.run_dir] + ([paths.lib_dir] if purge else []):
        if d.exists():
            shutil.rmtree(d)
            rep.dirs.append(str(d))
    left = leftovers(paths)
    if left:
        raise TestbedError(f"down left these behind: {', '.join(left)}")
    rep.processes = sorted(set(rep.processes))
    return rep


def daemon_name_prefix(data_root: Path) -> str:
    """The kernel-object name prefix a swarmd with this data root uses (the same rule as
    swarm/daemon/executors.py name_prefix: "p" + 5 hex digits of sha256(data root))."""
    import hashlib

    return "p" + hashlib.sha256(str(data_root).encode()).hexdigest()[:5]


def _daemon_hosts(paths: Paths, cfg: BedConfig | None) -> list[str]:
    """Every host that may have run a daemon: the state file's, and the data roots on disk."""
    names = {h.name for h in cfg.hosts} if cfg else set()
    if paths.lib_dir.is_dir():
        names |= {p.name for p in paths.lib_dir.iterdir() if p.is_dir()}
    return sorted(names)


def daemon_cgroup_parent(data_root: Path) -> str:
    """The cgroup parent a swarmd with this data root gives its containers (the same rule as
    swarm/daemon/executors.py cgroup_parent: "pyswarm-" + 8 hex digits of sha256(data root))."""
    import hashlib

    return "pyswarm-" + hashlib.sha256(str(data_root).encode()).hexdigest()[:8]


def _cgroup_mountpoints() -> list[Path]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] in (["cgroup"], ["cgroup2"]):
                out.append(Path(left.split()[4]))
    return out


def daemon_cgroups(paths: Paths, hosts_: list[str]) -> list[Path]:
    """The top directories of our daemons' container cgroups, in every hierarchy."""
    parents = [daemon_cgroup_parent(paths.data_root(h)) for h in hosts_]
    return [mp / p for mp in _cgroup_mountpoints() for p in parents if (mp / p).is_dir()]


def _cgroup_pids(tops: list[Path]) -> list[int]:
    pids: set[int] = set()
    for top in tops:
        for d, _, _ in os.walk(top):
            try:
                pids |= {int(x) for x in Path(d, "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
    return sorted(pids)


def _delete_cgroup_trees(tops: list[Path], timeout: float = 5.0) -> list[str]:
    """rmdir every directory below and including ``tops``, deepest first (a cgroup with no
    processes can be removed at once; a dying one may take a moment)."""
    import time

    removed: list[str] = []
    for top in tops:
        for d, _, _ in os.walk(top, topdown=False):
            deadline = time.monotonic() + timeout
            while True:
                try:
                    os.rmdir(d)
                    removed.append(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TestbedError(f"cannot remove cgroup {d} (processes still in it?)") from None
                    time.sleep(0.02)
    return removed


def _delete_daemon_netns_files(paths: Paths, hosts_: list[str]) -> list[str]:
    """The daemons' overlay, ingress and sandbox namespaces were entered by name under the
    shared /run/netns from inside the hosts' mount namespaces: once the hosts are gone the
    namespaces are gone too, but their name files stay. Remove exactly those of our daemons."""
    prefixes = tuple(daemon_name_prefix(paths.data_root(h)) + "sw" for h in hosts_)
    removed: list[str] = []
    netns_dir = Path("/run/netns")
    if not prefixes or not netns_dir.is_dir():
        return removed
    for f in sorted(netns_dir.iterdir()):
        if f.name.startswith(prefixes):
            run("umount", "-l", str(f), check=False)
            try:
                f.unlink()
                removed.append(f.name)
            except OSError:
                pass
    return removed


@dataclass
class HostStatus:
    host: str
    address: str
    pid: int | None
    holder_pid: int | None
    socket: str
    status: str
    data_root: str
    log: str


def status(cfg: BedConfig, paths: Paths) -> list[HostStatus]:
    out = []
    for h in cfg.hosts:
        holder = procs.read_pidfile(paths.holder_pidfile(h.name))
        pid = hosts.daemon_pid(paths, h.name)
        sock = paths.socket(h.name)
        if holder is None:
            st = "down"
        elif pid is None:
            st = "stopped"
        elif hosts.socket_answers(sock):
            st = "running"
        else:
            st = "starting"
        out.append(HostStatus(h.name, h.address, pid, holder, str(sock), st,
                              str(paths.data_root(h.name)), str(paths.log(h.name))))
    infra = hosts.infra_pids(paths)
    out.append(HostStatus(INFRA, cfg.infra_address, infra[0] if infra else None, None, "-",
                          f"{len(infra)} running" if infra else "idle", "-", "-"))
    return out

