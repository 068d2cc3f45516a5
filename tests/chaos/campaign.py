"""One campaign: a swarm on the testbed, clients writing, faults one after the other, a verdict.

    verdict = run_campaign(faults=10, seed=7, out=Path("chaos.json"), workdir=Path("/tmp/x"))

Between faults it waits (on conditions, with generous timeouts) until the cluster has a leader and
every service runs its replicas again, and records how long that took after the heal. After the
last one it stops the clients, lets the managers settle, and checks (``checker.check``) what each
manager shows against the history; then it looks for leftovers: containers with no running task,
and, once every service and network of the clients is removed, containers, cgroups, network
namespaces and nftables rules that were not there before the workload started.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from tests.chaos.bed import NET, ChaosBed
from tests.chaos.checker import Verdict, check, check_same_everywhere, converged, observe
from tests.chaos.history import History
from tests.chaos.nemesis import SKIPPED, Nemesis, schedule
from tests.chaos.workload import Client

CLIENTS = 3
COMPACTION_ENV = "PYSWARM_TEST_COMPACTION_MIN_TIME"   # swarm.daemon.manager: snapshots every 30 s
COMPACTION_S = 30
WARMUP = 8.0
CONVERGE_LIMIT = 30.0      # the bound: every service runs its replicas within 30 s of a heal


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _views(bed: ChaosBed, partial: bool = False) -> dict[str, dict[str, Any]] | None:
    """Every manager's view; None if one does not answer (with partial: the ones that do)."""
    out = {}
    for h in bed.managers:
        try:
            out[h] = observe(bed, h)
        except (OSError, RuntimeError, ValueError):
            if not partial:
                return None
    return out


def _healthy_and_converged(bed: ChaosBed) -> list[str] | None:
    """None while some manager does not answer or there is no leader; else the unconverged services."""
    if bed.leader() is None:
        return None
    views = _views(bed)
    if views is None:
        return None
    return converged(views[bed.managers[0]])


def name_prefix(bed: ChaosBed, host: str) -> str:
    """The kernel-object prefix of host's daemon (swarm/daemon/executors.py: sha256 of its data root)."""
    return "p" + hashlib.sha256(str(bed.tb.lib_dir / host).encode()).hexdigest()[:5]


def _host_state(bed: ChaosBed, host: str) -> dict[str, list[str]]:
    """host's nftables rules (set elements left out), its daemon's named netns, its links."""
    nft = bed.run_in(host, "nft", "list", "ruleset").stdout
    nft = re.sub(r"elements = \{[^}]*\}", "elements = {...}", nft)
    mine = name_prefix(bed, host)
    return {
        "nft": sorted(ln.strip() for ln in nft.splitlines() if ln.strip()),
        "netns": sorted(n for n in bed.run_in(host, "ip", "netns", "list").stdout.split()
                        if n.startswith(mine)),
        "links": sorted(re.split(r"[:@]", ln.split(": ", 1)[1])[0]
                        for ln in bed.run_in(host, "ip", "-o", "link", "show").stdout.splitlines()
                        if ": " in ln),
    }


def _containers(bed: ChaosBed, host: str, running_only: bool = True) -> list[str]:
    out = []
    for p in glob.glob(f"{bed.tb.lib_dir}/{host}/runtime/containers/*/state.json"):
        try:
            if not running_only or '"running"' in Path(p).read_text():
                out.append(Path(p).parent.name)
        except OSError:
            pass
    return out


def _cgroups(bed: ChaosBed) -> list[str]:
    """Container cgroups: directories below any daemon's cgroup parent ("pyswarm-" + sha256 of its
    data root, swarm/daemon/executors.py), in every hierarchy."""
    parents = ["pyswarm-" + hashlib.sha256(str(bed.tb.lib_dir / h).encode()).hexdigest()[:8]
               for h in bed.hosts]
    out = []
    for mp in {Path(ln.split()[1]) for ln in Path("/proc/mounts").read_text().splitlines()
               if ln.split()[2] in ("cgroup", "cgroup2")}:
        for p in parents:
            out += [str(d) for d in (mp / p).glob("*") if d.is_dir()]
    return sorted(out)


def run_campaign(faults: int, seed: int, out: Path, workdir: Path, *,
                 verbose: bool = True) -> dict[str, Any]:
    plan = schedule(seed, faults)
    log(f"seed {seed}: {faults} faults: {', '.join(p.kind for p in plan)}")
    hist = History(seed)
    verdict = Verdict()
    bed = ChaosBed.create(workdir, env={COMPACTION_ENV: str(COMPACTION_S)})
    stop = threading.Event()
    clients: list[Client] = []
    try:
        node_ids = {n["Description"]["Hostname"]: n["ID"] for n in bed.api(bed.managers[0], "/nodes")}
        baseline = {h: _host_state(bed, h) for h in bed.hosts}
        nemesis = Nemesis(bed, hist, lambda s: stop.wait(s) or True)
        clients = [Client(i, bed, hist, seed, stop, node_ids) for i in range(CLIENTS)]
        for c in clients:
            c.start()
        stop.wait(WARMUP)   # some objects exist before the first fault
        for p in plan:
            log(f"fault {p.n + 1}/{faults}: {p.kind}, hold {p.hold} s")
            try:
                f = nemesis.run(p)
            except Exception as e:
                verdict.add("a fault could not be injected or healed", hist, fault=p.kind,
                            error=str(e)[-1500:])
                log(f"  FAILED: {str(e)[-800:]}")
                if not heal_everything(bed, nemesis):
                    log("  the cluster cannot be healed: no more faults")
                    break
                continue
            log(f"  on {f.target}, healed at {f.healed:.1f} s {'; '.join(f.notes)}")
            try:
                Testbed_wait(lambda: _healthy_and_converged(bed) == [], 120,
                             "a leader and every service converged")
                f.converged = round(hist.now() - f.healed, 2)
            except TimeoutError as e:
                f.notes.append(str(e))
            if f.converged is None or f.converged > CONVERGE_LIMIT:
                verdict.add(f"services not converged within {CONVERGE_LIMIT:.0f} s of a heal", hist,
                            fault=f.kind, target=f.target, converged=f.converged,
                            unconverged=_healthy_and_converged(bed))
            for note in f.notes:
                if note.startswith("STALE"):
                    verdict.add("a cut-off manager kept answering reads", hist, fault=f.kind, note=note)
        log("faults done; stopping the clients")
        stop.set()
        for c in clients:
            c.join(timeout=120)
            for err in c.errors:
                verdict.add("workload error", hist, client=c.idx, error=err)
        # settle: every manager answers, agrees, every service converged
        def settled() -> dict[str, dict[str, Any]] | None:
            views = _views(bed)
            if views is None or converged(views[bed.managers[0]]):
                return None
            probe = Verdict()
            check_same_everywhere(views, hist, probe)
            return views if probe.ok else None
        try:
            views = Testbed_wait(settled, 120, "managers to agree and services to converge")
        except TimeoutError:
            views = _views(bed, partial=True) or {}
            verdict.add("the cluster did not settle within 120 s", hist,
                        answering=sorted(views), unconverged=converged(views[min(views)]) if views else None)
        check(hist, views, verdict)
        check_running_containers(bed, views, hist, verdict)
        check_leftovers(bed, baseline, hist, verdict)
    finally:
        stop.set()
        conv = [f.converged for f in hist.faults if f.converged is not None]
        kinds: dict[str, int] = {}
        for f in hist.faults:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        verdict.stats.update({
            "faults": len(hist.faults), "faults_by_kind": kinds, "skipped_kinds": SKIPPED,
            "converge_after_heal_s": {"median": statistics.median(conv) if conv else None,
                                      "max": max(conv) if conv else None},
            "violations": len(verdict.violations),
        })
        result = {"ok": verdict.ok, "stats": verdict.stats, "violations": verdict.violations,
                  "testbed": bed.tb.prefix}
        hist.write(out, result)
        log(f"verdict: {'OK' if verdict.ok else 'FAILED'} {json.dumps(verdict.stats)}")
        for v in verdict.violations[:20]:
            log(f"  violation: {json.dumps(v, default=str)[:600]}")
        log(f"history and verdict: {out}")
        logs = out.parent / f"{out.stem}-logs"
        logs.mkdir(parents=True, exist_ok=True)
        for h in bed.hosts:
            try:
                (logs / f"{h}.log").write_text(bed.tb.logs(h))
            except Exception as e:  # the verdict matters more than a log copy
                log(f"  no log of {h}: {e}")
        bed.tb.down(check=False)
    return result


def heal_everything(bed: ChaosBed, nemesis: Nemesis) -> bool:
    """After a fault went wrong: no partition, no stopped daemon, every daemon started."""
    import signal as sig

    bed.heal_network()
    ok = True
    for h in bed.hosts:
        pid = bed.daemon_pid(h)
        if pid is not None:
            try:
                os.kill(pid, sig.SIGCONT)
            except ProcessLookupError:
                pass
        if bed.tb.host(h).status != "running":
            try:
                bed.tb.start(h, timeout=90)
            except Exception as e:
                log(f"  {h} does not start: {str(e)[-400:]}")
                ok = False
    return ok


def Testbed_wait(fn: Any, timeout: float, what: str) -> Any:
    from tests.support.testbed import Testbed
    return Testbed.wait_for(fn, timeout=timeout, interval=0.5, what=what)


def check_running_containers(bed: ChaosBed, views: dict[str, dict[str, Any]], hist: History,
                             verdict: Verdict) -> None:
    """Every host runs as many containers as it has running tasks (none orphaned, none missing)."""
    if not views:
        return
    view = views[bed.managers[0]]
    ids = {n["ID"]: n["Description"]["Hostname"] for n in view["nodes"]}
    want: dict[str, int] = {h: 0 for h in bed.hosts}
    for t in view["tasks"]:
        if (t.get("Status") or {}).get("State") == "running":
            want[ids.get(t.get("NodeID", ""), "?")] = want.get(ids.get(t.get("NodeID", ""), "?"), 0) + 1

    def matches() -> bool:
        return all(len(_containers(bed, h)) == want[h] for h in bed.hosts)
    try:
        Testbed_wait(matches, 60, "containers to match running tasks")
    except TimeoutError:
        verdict.add("containers do not match running tasks", hist,
                    per_host={h: {"containers": len(_containers(bed, h)), "tasks": want[h]}
                              for h in bed.hosts})


def check_leftovers(bed: ChaosBed, baseline: dict[str, dict[str, list[str]]], hist: History,
                    verdict: Verdict) -> None:
    """Remove every client object; then nothing of theirs may remain on any host."""
    m = bed.leader() or bed.managers[0]
    names = [s["Spec"]["Name"] for s in bed.api(m, "/services")]
    if names:
        bed.ok(m, "service", "rm", *names)
    nets = [n["Name"] for n in bed.api(m, "/networks") if n["Name"] not in ("ingress", NET)]
    Testbed_wait(lambda: not any(_containers(bed, h) for h in bed.hosts), 90, "no running container")
    if nets:
        Testbed_wait(lambda: bed.cli(m, "network", "rm", *nets).returncode == 0
                     or not [n for n in bed.api(m, "/networks") if n["Name"] in nets], 60, "networks removed")
    leftovers: dict[str, Any] = {}

    def clean() -> bool:
        leftovers.clear()
        for h in bed.hosts:
            cs = _containers(bed, h, running_only=False)
            if cs:
                leftovers[f"{h}:containers"] = cs
            now = _host_state(bed, h)
            for k, before in baseline[h].items():
                extra = sorted(set(now[k]) - set(before))
                if extra:
                    leftovers[f"{h}:{k}"] = extra
        cg = _cgroups(bed)
        if cg:
            leftovers["cgroups"] = cg
        rules = bed.chaos_rules_left()
        if rules:
            leftovers["chaos-nft"] = rules
        return not leftovers
    try:
        Testbed_wait(clean, 60, "no leftovers")
    except TimeoutError:
        verdict.add("leftovers after every service and network was removed", hist, leftovers=dict(leftovers))
    verdict.stats["leftovers"] = sum(len(v) for v in leftovers.values())
