"""Command-line front end of deploy/testbed. Errors are one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from swtb import bed, formswarm, hosts
from swtb.config import DEFAULT_OVERLAY_POOLS, DEFAULT_PREFIX, DEFAULT_SUBNET, INFRA, BedConfig, Paths
from swtb.errors import TestbedError, UsageError

REPO = Path(__file__).resolve().parents[2]
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def find_swarmd(explicit: str | None) -> str:
    chosen = explicit or os.environ.get("SWTB_SWARMD")
    if chosen:
        if not os.access(chosen, os.X_OK):
            raise UsageError(f"swarmd not found or not executable: {chosen}")
        return os.path.abspath(chosen)
    for cand in (str(REPO / ".venv/bin/swarmd"), shutil.which("swarmd")):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise UsageError("cannot find swarmd: pass --swarmd PATH or set SWTB_SWARMD")


def read_env_file(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    env: dict[str, str] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise UsageError(f"cannot read env file {path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"{path}:{n}: expected KEY=VALUE")
        env[key.strip()] = value.strip()
    return env


def parse_signal(text: str) -> int:
    name = text.upper().removeprefix("SIG")
    if name.isdigit():
        return int(name)
    try:
        return int(signal.Signals["SIG" + name])
    except KeyError:
        raise UsageError(f"unknown signal {text!r}") from None


def command(args: list[str]) -> list[str]:
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        raise UsageError("missing command after --")
    return args


# ---- subcommands ----------------------------------------------------------------------------

def cmd_up(a: argparse.Namespace, paths: Paths) -> int:
    if a.form_swarm:
        formswarm.check_available()
    daemon_args = list(a.daemon_arg)
    for reg in a.insecure_registry:
        daemon_args += ["--insecure-registry", reg]
    cfg = BedConfig.plan(paths, a.managers, a.workers, a.subnet,
                         a.overlay_pool or list(DEFAULT_OVERLAY_POOLS), find_swarmd(a.swarmd),
                         daemon_args, read_env_file(a.env_file), a.log_level)
    for w in bed.warnings(paths):
        print(f"testbed: warning: {w}", file=sys.stderr)
    bed.up(cfg, paths, a.timeout, keep_on_error=a.keep_on_error)
    if a.form_swarm:
        formswarm.form_swarm(cfg, paths, a.timeout)
    print_table(bed.status(cfg, paths))
    return 0


def cmd_down(a: argparse.Namespace, paths: Paths) -> int:
    rep = bed.down(paths, purge=a.purge, timeout=a.timeout)
    print(f"testbed {paths.prefix} down: {rep.summary()}")
    return 0


def print_table(rows: list[bed.HostStatus]) -> None:
    cols = ("HOST", "ADDRESS", "PID", "SOCKET", "STATUS")
    data = [(r.host, r.address, str(r.pid or "-"), r.socket, r.status) for r in rows]
    widths = [max(len(c), *(len(d[i]) for d in data)) for i, c in enumerate(cols)]
    for row in [cols, *data]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def cmd_ls(a: argparse.Namespace, paths: Paths) -> int:
    rows = bed.status(BedConfig.require(paths), paths)
    if a.format == "json":
        for r in rows:
            print(json.dumps(asdict(r)))
    else:
        print_table(rows)
    return 0


def cmd_exec(a: argparse.Namespace, paths: Paths) -> int:
    cfg = BedConfig.require(paths)
    argv, env = hosts.exec_argv(cfg, paths, a.host, command(a.cmd))
    sys.stdout.flush()
    os.execvpe(argv[0], argv, env)
    return 127  # not reached


def cmd_infra(a: argparse.Namespace, paths: Paths) -> int:
    BedConfig.require(paths)
    print(hosts.start_infra(paths, command(a.cmd)))
    return 0


def cmd_logs(a: argparse.Namespace, paths: Paths) -> int:
    cfg = BedConfig.require(paths)
    cfg.host(a.host)
    try:
        lines = paths.log(a.host).read_text(errors="replace").splitlines()
    except OSError:
        raise TestbedError(f"{a.host}: no log at {paths.log(a.host)}") from None
    for line in lines[-a.lines:] if a.lines else lines:
        print(line)
    return 0


def cmd_kill(a: argparse.Namespace, paths: Paths) -> int:
    cfg = BedConfig.require(paths)
    cfg.host(a.host)
    pid = hosts.kill_daemon(paths, a.host, parse_signal(a.signal), None if a.no_wait else a.timeout)
    if pid is None:
        raise TestbedError(f"{a.host}: swarmd is not running")
    print(f"{a.host}: sent SIG{a.signal.upper().removeprefix('SIG')} to swarmd pid {pid}")
    return 0


def _start(cfg: BedConfig, paths: Paths, host: str, timeout: float) -> None:
    from swtb import procs

    if procs.read_pidfile(paths.holder_pidfile(host)) is None:
        hosts.start_holder(cfg, paths, host)  # host namespaces gone (crash test): make new ones
    p = hosts.start_daemon(cfg, paths, host)
    hosts.wait_ready(paths, host, p, timeout)
    print(f"{host}: swarmd running, pid {p.pid}")


def cmd_start(a: argparse.Namespace, paths: Paths) -> int:
    cfg = BedConfig.require(paths)
    cfg.host(a.host)
    _start(cfg, paths, a.host, a.timeout)
    return 0


def cmd_restart(a: argparse.Namespace, paths: Paths) -> int:
    cfg = BedConfig.require(paths)
    cfg.host(a.host)
    hosts.stop_daemon(paths, a.host, a.timeout)
    _start(cfg, paths, a.host, a.timeout)
    return 0


# ---- parser ---------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="testbed",
        description="Multi-host swarmd testbed on network namespaces (needs root).",
        epilog="Example: deploy/testbed up --managers 3 --workers 2; "
               "deploy/testbed exec mgr1 -- swarm info; deploy/testbed down --purge")
    p.add_argument("--prefix", default=os.environ.get("SWTB_PREFIX", DEFAULT_PREFIX),
                   help="name prefix of every object, swtb[a-z0-9]{0,4} (env SWTB_PREFIX; default swtb)")
    p.add_argument("--run-dir", help="state dir (env SWTB_RUN; default /run/PREFIX)")
    p.add_argument("--lib-dir", help="data roots dir (env SWTB_LIB; default /var/lib/PREFIX)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("up", help="create the hosts and start swarmd in each")
    s.add_argument("--managers", type=int, default=1, metavar="M")
    s.add_argument("--workers", type=int, default=0, metavar="W")
    s.add_argument("--subnet", default=DEFAULT_SUBNET, help=f"underlay /24 (default {DEFAULT_SUBNET})")
    s.add_argument("--overlay-pool", action="append", default=[], metavar="NET",
                   help="overlay address pool to guard with an unreachable route (repeatable; "
                        f"default {', '.join(DEFAULT_OVERLAY_POOLS)})")
    s.add_argument("--swarmd", help="swarmd executable (env SWTB_SWARMD; default the repo's .venv)")
    s.add_argument("--daemon-arg", action="append", default=[], metavar="ARG",
                   help="extra swarmd argument (repeatable; write --daemon-arg=--flag=value)")
    s.add_argument("--insecure-registry", action="append", default=[], metavar="HOST:PORT",
                   help="passed to every swarmd (repeatable), e.g. 10.231.0.1:5000")
    s.add_argument("--env-file", help="KEY=VALUE lines added to every swarmd's environment")
    s.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each daemon")
    s.add_argument("--keep-on-error", action="store_true", help="do not tear down if up fails")
    s.add_argument("--form-swarm", action="store_true",
                   help="also run swarm init/join (not implemented yet: exits 2)")
    s.set_defaults(func=cmd_up)

    s = sub.add_parser("down", help="stop everything and remove every trace (idempotent)")
    s.add_argument("--purge", action="store_true", help="also delete the data roots")
    s.add_argument("--timeout", type=float, default=10.0, help="grace seconds before SIGKILL")
    s.set_defaults(func=cmd_down)

    s = sub.add_parser("ls", help="hosts: address, swarmd pid, socket, status")
    s.add_argument("--format", choices=("table", "json"), default="table")
    s.set_defaults(func=cmd_ls)

    s = sub.add_parser("exec", help="run a command inside a host (SWARM_HOST set): exec HOST -- CMD")
    s.add_argument("host", help=f"host name, or {INFRA}")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_exec)

    s = sub.add_parser("infra", help="run a command in the background in the infra netns (.1)")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_infra)

    s = sub.add_parser("logs", help="print a host's swarmd log")
    s.add_argument("host")
    s.add_argument("-n", "--lines", type=int, default=0, help="only the last N lines")
    s.set_defaults(func=cmd_logs)

    s = sub.add_parser("kill", help="signal a host's swarmd (default TERM) and wait for it to exit")
    s.add_argument("host")
    s.add_argument("--signal", "-s", default="TERM")
    s.add_argument("--no-wait", action="store_true")
    s.add_argument("--timeout", type=float, default=20.0)
    s.set_defaults(func=cmd_kill)

    for name, func, text in (("start", cmd_start, "start a host's swarmd again (same data root)"),
                             ("restart", cmd_restart, "stop (TERM, then KILL) and start a host's swarmd")):
        s = sub.add_parser(name, help=text)
        s.add_argument("host")
        s.add_argument("--timeout", type=float, default=60.0)
        s.set_defaults(func=func)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        paths = Paths.make(a.prefix, a.run_dir, a.lib_dir)
        bed.require_root()
        rc: int = a.func(a, paths)
        return rc
    except TestbedError as e:
        print(f"testbed: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("testbed: interrupted", file=sys.stderr)
        return 130
