"""The container's first process: namespaces, rootfs, hardening, then exec.

Runs in a child forked by the shim *after* the shim did ``unshare(CLONE_NEWPID)``, so this
process is pid 1 of a fresh pid namespace. Order (cf. runc's ``init``):

1. ``setns`` into ``netns_path`` if given, then ``unshare`` mount, uts, ipc (+ net when not
   joining) namespaces; make ``/`` recursively slave so nothing leaks to the host; read
   everything needed later (seccomp BPF) -- after ``pivot_root`` host files are gone;
2. make the writable layer's directories and /etc files while the shim makes the v1
   cgroups; wait for its ``J``. Born in the container's cgroup2 directory (the shim forks
   with ``clone3``), this process then writes ``0`` to the ``tasks`` file of each v1
   hierarchy: moving oneself is the only migration that skips the global lock whose first
   use after a quiet spell waits for an RCU grace period (5-9 ms here; writing a pid to
   ``cgroup.procs`` always takes it, REPORT §2);
3. overlayfs at ``rootfs`` (lower dirs passed relative to their common parent, which keeps
   the option string short for deep images), ``/proc``, a minimal ``/dev`` (tmpfs +
   null/zero/full/random/urandom/tty, devpts, shm, mqueue), ``/sys`` read-only, then the
   user's bind/tmpfs/volume mounts and files (secrets, configs), resolved inside the rootfs
   (:mod:`node.runtime.mountns`; after the defaults, as runc: a tmpfs at /dev/shm wins);
4. ``pivot_root(".", ".")`` + lazy unmount of the old root (runc's trick, no put_old dir);
5. runc's masked paths (``/dev/null`` over files, read-only tmpfs over dirs) and read-only
   ``/proc`` paths; optional read-only rootfs; hostname; the user looked up in the
   container's own ``/etc/passwd``/``/etc/group``; workdir (created if missing);
6. ``unshare(CLONE_NEWCGROUP)`` so the cgroup
   namespace is rooted at the container's own cgroup; capability bounding set, then
   setgroups/setresgid/setresuid, then ``capset`` (root keeps Docker's 14 capabilities,
   other users end with none effective, as in Docker); ``no_new_privs``;
7. tell the shim ``R`` (ready) and block until it writes ``G`` (``start``), load the seccomp
   filter and ``execvpe``. Any failure is written to the ready pipe as ``E<message>`` and the
   process exits 127 (126 if the command exists but cannot be executed); the pipe is
   close-on-exec, so EOF after ``G`` means exec succeeded.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource  # at import: after pivot_root the host's stdlib is out of reach
import signal
import socket
import stat
import termios
from typing import Any, NoReturn

from node.runtime import linux as L
from node.runtime import mountns
from node.runtime import securejoin as sj

MASKED = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap")
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
           ("tty", 5, 0))


def run(cfg: dict[str, Any], ready_w: int, go_r: int, out_w: int, err_w: int) -> NoReturn:
    code = 127
    try:
        _setup(cfg, ready_w, go_r, out_w, err_w)
    except BaseException as e:  # report anything to the shim, never return into its code
        msg = f"{e.__class__.__name__}: {e}" if not isinstance(e, OSError) else str(e)
        if isinstance(e, ExecError):     # Docker: 127 not found, 126 found but not executable
            code = 127 if e.errno == errno.ENOENT else 126
        try:
            os.write(ready_w, b"E" + msg.encode(errors="replace")[:4000])
        except OSError:
            pass
    os._exit(code)


class ExecError(OSError):
    """execve of the container's command failed."""


def _setup(cfg: dict[str, Any], ready_w: int, go_r: int, out_w: int, err_w: int) -> None:
    proc = cfg["process"]
    flags = L.CLONE_NEWNS | L.CLONE_NEWUTS | L.CLONE_NEWIPC
    if cfg.get("netns_path"):
        fd = os.open(cfg["netns_path"], os.O_RDONLY | os.O_CLOEXEC)
        try:
            L.setns(fd, L.CLONE_NEWNET)
        finally:
            os.close(fd)
    else:
        flags |= L.CLONE_NEWNET
    L.unshare(flags)
    bpf = b""
    if cfg.get("seccomp_bpf"):
        with open(cfg["seccomp_bpf"], "rb") as f:
            bpf = f.read()
    if cfg.get("tty"):       # -t: the pty is our stdin, stdout, stderr and controlling terminal
        os.setsid()
        fcntl.ioctl(out_w, termios.TIOCSCTTY, 0)
        for n in (0, 1, 2):
            os.dup2(out_w, n)
    else:
        devnull = os.open("/dev/null", os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
    keep = sorted({0, 1, 2, ready_w, go_r})
    for lo, hi in zip(keep, [*keep[1:], 65536], strict=True):
        os.closerange(lo + 1, hi)
    L.mount(None, "/", None, L.MS_REC | L.MS_SLAVE)
    _make_layer_dirs(cfg)
    if os.read(go_r, 1) != b"J":                # the shim made our v1 cgroups (or failed)
        os._exit(1)
    for path in cfg.get("cgroup_tasks", ()):    # v1: move ourselves, the lock-free migration
        try:
            with open(path, "w") as f:
                f.write("0")
        except OSError as e:
            raise OSError(e.errno, f"joining cgroup {os.path.dirname(path)}: {e.strerror}") from None
    rootfs = cfg["rootfs"]
    _mount_rootfs(cfg, rootfs)
    _mount_dev_proc_sys(rootfs)                 # first, as runc: a user's /dev/shm goes on top
    mountns.mount_all(rootfs, list(cfg.get("mounts") or ()), cfg.get("files") or None,
                      cfg.get("files_stage") or os.path.join(os.path.dirname(rootfs), "files"))
    os.chdir(rootfs)
    L.pivot_root(".", ".")
    L.umount2(".", L.MNT_DETACH)
    os.chdir("/")
    _sysctls(cfg.get("sysctls") or {})          # before /proc/sys goes read-only
    _mask_and_protect()
    if cfg.get("read_only"):
        L.mount(None, "/", None, L.MS_REMOUNT | L.MS_BIND | L.MS_RDONLY)
    socket.sethostname(proc["hostname"])
    uid, gid, groups, home = resolve_user(proc["user"])
    groups = with_extra_groups(groups, proc.get("groups") or ())
    env = list(proc["env"])
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    cwd = proc["cwd"]
    if not os.path.isdir(cwd):
        os.makedirs(cwd, 0o755)
    os.chdir(cwd)
    L.unshare(L.CLONE_NEWCGROUP)                # root the cgroup namespace at the container's
    apply_limits(proc)                          # while we still hold CAP_SYS_RESOURCE
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
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.write(ready_w, b"R")
    if os.read(go_r, 1) != b"G":
        os._exit(1)
    os.close(go_r)
    if bpf:
        L.load_seccomp_bpf(bpf)
    argv = proc["argv"]
    envd = dict(e.split("=", 1) for e in env)
    try:
        os.execvpe(argv[0], argv, envd)
    except OSError as e:
        raise ExecError(e.errno, f'exec: "{argv[0]}": {e.strerror}') from None


def _make_layer_dirs(cfg: dict[str, Any]) -> None:
    """The overlay's upper, work and mount-point directories, and the /etc files of the
    writable layer (hostname, hosts, resolv.conf; see runtime._etc_files)."""
    for key in ("upper", "work", "rootfs"):
        os.mkdir(cfg[key])
    if cfg.get("etc_files"):
        etc = os.path.join(cfg["upper"], "etc")
        os.mkdir(etc, 0o755)
        for name, text in cfg["etc_files"].items():
            with open(os.path.join(etc, name), "w") as f:
                f.write(text)


def _mount_rootfs(cfg: dict[str, Any], rootfs: str) -> None:
    lowers = cfg["lowers"]                      # top -> bottom
    base = os.path.dirname(lowers[0])
    if all(os.path.dirname(p) == base for p in lowers):
        os.chdir(base)                          # overlayfs resolves relative paths at mount time
        lower = ":".join(os.path.basename(p) for p in lowers)
    else:
        lower = ":".join(lowers)
    L.mount("overlay", rootfs, "overlay", 0,
            f"lowerdir={lower},upperdir={cfg['upper']},workdir={cfg['work']}")


def _target(rootfs: str, path: str, is_dir: bool) -> str:
    """The mount point for ``path`` inside ``rootfs`` (made if missing), as a host path with
    no symlink left in it; resolved inside the rootfs (:mod:`node.runtime.securejoin`).

    Mounts happen before ``pivot_root``, so an absolute symlink in the image (``/proc ->
    /etc``) would otherwise resolve against the host's root.
    """
    real_root = os.path.realpath(rootfs)
    root = os.open(real_root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = sj.walk(root, path, create="dir" if is_dir else "file", refuse_escaping_leaf=True)
    finally:
        os.close(root)
    try:
        real = os.readlink(sj.procfd(fd))
    finally:
        os.close(fd)
    if not (real == real_root or real.startswith(real_root + "/")):
        raise OSError(errno.EPERM, f"mount target {path} resolves outside the container rootfs")
    return real


def _mount_dev_proc_sys(rootfs: str) -> None:
    proc = _target(rootfs, "/proc", True)
    L.mount("proc", proc, "proc", L.MS_NOSUID | L.MS_NOEXEC | L.MS_NODEV)
    dev = _target(rootfs, "/dev", True)
    L.mount("tmpfs", dev, "tmpfs", L.MS_NOSUID | L.MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in DEVICES:
        p = f"{dev}/{name}"
        os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(p, 0o666)
    for i, n in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{n}")
    os.symlink("/proc/self/fd", f"{dev}/fd")
    os.symlink("/proc/kcore", f"{dev}/core")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    for d in ("pts", "shm", "mqueue"):
        os.mkdir(f"{dev}/{d}", 0o755)
    L.mount("devpts", f"{dev}/pts", "devpts", L.MS_NOSUID | L.MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5")
    L.mount("shm", f"{dev}/shm", "tmpfs", L.MS_NOSUID | L.MS_NOEXEC | L.MS_NODEV, "mode=1777,size=65536k")
    L.mount("mqueue", f"{dev}/mqueue", "mqueue", L.MS_NOSUID | L.MS_NOEXEC | L.MS_NODEV)
    sys_ = _target(rootfs, "/sys", True)
    L.mount("sysfs", sys_, "sysfs", L.MS_NOSUID | L.MS_NOEXEC | L.MS_NODEV | L.MS_RDONLY)


def _mask_and_protect() -> None:
    for p in MASKED:
        if os.path.isdir(p):
            L.mount("tmpfs", p, "tmpfs", L.MS_RDONLY)
        elif os.path.exists(p):
            L.mount("/dev/null", p, None, L.MS_BIND)
    for p in READONLY:
        if os.path.exists(p):
            L.mount(p, p, None, L.MS_BIND | L.MS_REC)
            L.mount(p, p, None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY | L.MS_REC)


def _sysctls(values: dict[str, str]) -> None:
    for key, value in values.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise OSError(e.errno, f"sysctl {key}={value}: {e.strerror}") from None


def apply_limits(proc: dict[str, Any]) -> None:
    """--ulimit and --oom-score-adj of the process (and its children); needs CAP_SYS_RESOURCE
    to raise a hard limit or lower the score, so before the capabilities are dropped."""
    for name, soft, hard in proc.get("rlimits") or ():
        res = getattr(resource, "RLIMIT_" + name.upper())
        inf = resource.RLIM_INFINITY
        resource.setrlimit(res, (inf if soft == -1 else soft, inf if hard == -1 else hard))
    adj = proc.get("oom_score_adj")
    if adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(adj))


def with_extra_groups(groups: list[int], extra: Any, group: str = "/etc/group") -> list[int]:
    """``groups`` plus --group's (names looked up in the container's /etc/group, or gids)."""
    out = list(groups)
    gr = _read_db(group) if extra else []
    for name in extra:
        if name.isdigit():
            gid = int(name)
        else:
            entry = next((e for e in gr if len(e) >= 3 and e[0] == name), None)
            if entry is None:
                raise OSError(2, f"unable to find group {name}: no matching entries in group file")
            gid = int(entry[2])
        if gid not in out:
            out.append(gid)
    return out


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(spec: str, passwd: str = "/etc/passwd", group: str = "/etc/group") -> tuple[
        int, int, list[int], str]:
    """Docker's user resolution inside the rootfs: return (uid, gid, groups, home)."""
    user, _, grp = spec.partition(":")
    pw = _read_db(passwd)
    gr = _read_db(group)
    entry = next((e for e in pw if len(e) >= 6 and (e[0] == user or (user.isdigit() and e[2] == user))), None)
    if entry is None and not user.isdigit():
        raise OSError(2, f"unable to find user {user}: no matching entries in passwd file")
    uid = int(entry[2]) if entry else int(user)
    gid = int(entry[3]) if entry else 0
    home = entry[5] if entry and entry[5] else "/"
    if grp:
        g = next((e for e in gr if len(e) >= 3 and (e[0] == grp or (grp.isdigit() and e[2] == grp))), None)
        if g is None and not grp.isdigit():
            raise OSError(2, f"unable to find group {grp}: no matching entries in group file")
        gid = int(g[2]) if g else int(grp)
    name = entry[0] if entry else None
    groups = sorted({int(e[2]) for e in gr if len(e) >= 4 and name and name in e[3].split(",")} - {gid})
    return uid, gid, [gid, *groups] if not grp else [gid], home
