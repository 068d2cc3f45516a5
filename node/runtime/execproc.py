"""A second process in a running container (``docker exec``; healthchecks): forked by the shim.

Like runc's ``exec`` (nsenter + init), in two forks, both from the single-threaded shim:

1. the *joiner* (the shim's child) is born in the container's pid namespace already (the
   shim did ``unshare(CLONE_NEWPID)`` before forking the container's first process, so every
   child of the shim is), but in the host's other namespaces and cgroups. It moves itself
   into the container's cgroups (cgroup2 ``cgroup.procs``, then each v1 ``tasks`` file),
   opens the container's namespace files (``/proc/<pid>/ns/*`` of its first process) and
   ``setns`` into ipc, uts, net, cgroup and last mnt -- ``setns`` into the mount namespace
   puts the process at the container's root (the pivoted rootfs);
2. it forks the *process*, hands the shim a pidfd of it over a socket pair (``SCM_RIGHTS``:
   pid numbers differ between the namespaces, a pidfd does not; the shim kills by it at the
   timeout), waits for it and writes its exit code (128+N if killed by N) before it exits
   itself. It stays the parent: an orphan would be adopted by the container's init (the
   user's process, which may never reap it). The process gets ``PR_SET_PDEATHSIG(SIGKILL)``,
   so it cannot outlive a killed joiner;
3. the process then does what the container's first process did before its exec (same
   order, same values from ``config.json``): working directory, the user resolved in the
   container's own ``/etc/passwd``, bounding set, groups/gid/uid, capabilities,
   ``no_new_privs``, seccomp, then ``execvpe`` with the container's environment plus the
   exec's own. stdin is /dev/null; stdout and stderr go to one pipe the shim reads (a
   healthcheck keeps the combined output, as Docker's does). A failure before the exec is
   written to an error pipe (close-on-exec: EOF means exec succeeded) and exits 126/127
   like Docker (``exec: "x": executable file not found``).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
from typing import Any, NoReturn

from node.runtime import linux as L
from node.runtime.container import apply_limits, resolve_user, with_extra_groups

#: Namespaces joined, in order (mnt last: after it the host's /proc paths are gone).
NAMESPACES = (("ipc", L.CLONE_NEWIPC), ("uts", L.CLONE_NEWUTS), ("net", L.CLONE_NEWNET),
              ("cgroup", L.CLONE_NEWCGROUP), ("mnt", L.CLONE_NEWNS))


def joiner(cfg: dict[str, Any], init_pid: int, req: dict[str, Any], bpf: bytes,
           out_w: int, err_w: int, report: socket.socket) -> NoReturn:
    """Runs in the shim's child: join the container, fork the process, hand over its pidfd,
    report its exit code, exit."""
    code = 1
    try:
        # Visible to the container's processes (same pid namespace) while still in the host's
        # mount namespace: non-dumpable, so /proc/<pid>/root, /exe, /fd are closed to them
        # (their root lacks CAP_SYS_PTRACE), as runc's nsexec does.
        L.prctl(L.PR_SET_DUMPABLE, 0)
        _join_cgroups(cfg)
        fds = [(os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag)
               for name, flag in NAMESPACES]
        for fd, flag in fds:
            L.setns(fd, flag)
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            report.close()
            _process(cfg, req, bpf, out_w, err_w)
        os.close(out_w)
        pidfd = os.pidfd_open(pid)
        socket.send_fds(report, [b"P"], [pidfd])
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        exit_code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        report.sendall(f"{exit_code}\n".encode())
        code = 0
    except BaseException as e:  # never fall back into shim code
        try:
            os.write(err_w, b"E" + str(e).encode(errors="replace")[:4000])
        except OSError:
            pass
    os._exit(code)


def _join_cgroups(cfg: dict[str, Any]) -> None:
    paths = []
    if cfg.get("cgroup_unified"):
        paths.append(os.path.join(cfg["cgroup_unified"], "cgroup.procs"))
    paths += list(cfg.get("cgroup_tasks") or ())
    for p in paths:
        try:
            with open(p, "w") as f:
                f.write("0")
        except OSError as e:
            raise OSError(e.errno, f"joining cgroup {os.path.dirname(p)}: {e.strerror}") from None


def _process(cfg: dict[str, Any], req: dict[str, Any], bpf: bytes, out_w: int, err_w: int) -> NoReturn:
    code = 127
    try:
        _exec(cfg, req, bpf, out_w, err_w)
    except BaseException as e:
        if isinstance(e, OSError) and getattr(e, "exec_failed", False):
            code = 127 if e.errno == errno.ENOENT else 126
        else:
            code = 126
        msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        try:
            os.write(err_w, b"E" + msg.encode(errors="replace")[:4000])
        except OSError:
            pass
    os._exit(code)


def _exec(cfg: dict[str, Any], req: dict[str, Any], bpf: bytes, out_w: int, err_w: int) -> None:
    proc = cfg["process"]
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    keep = sorted({0, 1, 2, err_w})
    for lo, hi in zip(keep, [*keep[1:], 65536], strict=True):
        os.closerange(lo + 1, hi)
    uid, gid, groups, home = resolve_user(req.get("user") or proc["user"])
    groups = with_extra_groups(groups, proc.get("groups") or ())
    env = dict(e.split("=", 1) for e in proc["env"] if "=" in e)
    env.setdefault("HOME", home)
    env.update(dict(e.split("=", 1) for e in req.get("env") or () if "=" in e))
    os.chdir(req.get("cwd") or proc["cwd"] or "/")
    apply_limits(proc)
    keep_caps = L.caps_mask(L.DOCKER_DEFAULT_CAPS if cfg.get("caps") is None else cfg["caps"])
    L.drop_bounding(keep_caps)
    L.prctl(L.PR_CAP_AMBIENT, L.PR_CAP_AMBIENT_CLEAR_ALL)
    os.setgroups(groups)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if uid == 0:
        L.capset(keep_caps, keep_caps, 0)
    else:
        L.capset(0, 0, 0)
    L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
    L.prctl(L.PR_SET_PDEATHSIG, signal.SIGKILL)    # after the credential change (which clears it)
    if bpf:
        L.load_seccomp_bpf(bpf)
    argv = list(req["argv"])
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        err = OSError(e.errno, f'exec: "{argv[0]}": {_reason(e)}')
        err.exec_failed = True  # type: ignore[attr-defined]
        raise err from None


def _reason(e: OSError) -> str:
    return "executable file not found in $PATH" if e.errno == errno.ENOENT else (e.strerror or str(e))
