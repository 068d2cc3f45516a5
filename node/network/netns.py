"""Network namespaces: create (bind-mounted under /run/netns), delete, and work inside them.

``setns(CLONE_NEWNET)`` changes only the calling *thread*, so per-namespace work runs on a
thread that entered the namespace (runtime lab §5, netns_inproc.py). Two flavours:

* ``NsThread``: a long-lived thread pinned to one namespace, owning ONE pyroute2 ``IPRoute``
  socket for its lifetime; jobs are queued to it and run one at a time (so netlink calls for
  a namespace never interleave). Used for the host namespace, each per-network namespace
  and the ingress sandbox - the ones touched again and again.
* ``run_in_ns(path, fn)``: a short-lived thread for one-off work in a container sandbox
  (attach, nft apply, binding DNS sockets). Thousands of idle pinned threads for containers
  would cost more than the ~1 ms a thread start costs on the rare call.

Children spawned (``nft``) from such a thread inherit that thread's namespace: the process
is never forked in Python; subprocess uses vfork/exec from the calling thread.

Sockets belong to the namespace they were created in, whichever thread uses them later -
the DNS server relies on that.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import queue
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError as _PyNetlinkError

from node.network.errors import NamespaceError, NetlinkError, NftError
from node.network.nft import recreate

log = logging.getLogger(__name__)
T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2
NETNS_DIR = Path("/run/netns")
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise NamespaceError(f"setns({path}): {os.strerror(e)}")
    finally:
        os.close(fd)


def ns_path(name: str) -> str:
    return str(NETNS_DIR / name)


def list_netns(startswith: str) -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(startswith))
    except FileNotFoundError:
        return []


def netns_exists(name: str) -> bool:
    return os.path.ismount(ns_path(name))


def create_netns(name: str) -> str:
    """Create a fresh netns bind-mounted at /run/netns/<name> (lo left down); idempotent."""
    path = ns_path(name)
    if netns_exists(name):
        return path
    _shared_netns_dir()
    err: list[BaseException] = []

    def run() -> None:
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                raise NamespaceError(f"unshare(NEWNET): {os.strerror(ctypes.get_errno())}")
            Path(path).touch(exist_ok=True)
            src = f"/proc/self/task/{threading.get_native_id()}/ns/net"
            if _libc.mount(src.encode(), path.encode(), None, MS_BIND, None) != 0:
                raise NamespaceError(f"bind mount {path}: {os.strerror(ctypes.get_errno())}")
        except BaseException as e:  # handed to the caller's thread
            err.append(e)

    t = threading.Thread(target=run, name=f"netns-create-{name}")
    t.start()
    t.join()
    if err:
        raise err[0]
    log.debug("netns %s created", name)
    return path


_netns_dir_ready = False


def _shared_netns_dir() -> None:
    """Make /run/netns a shared mount exactly as ``ip netns add`` does: a mount namespace made
    later (a container's) copies our bind mounts, and only with shared propagation does our
    umount reach those copies - otherwise they keep deleted namespaces alive.

    iproute2's algorithm, idempotent: try make-shared; only if that fails with EINVAL (not a
    mount point) bind the directory onto itself first. (Never test with os.path.ismount: a
    bind mount of a directory onto itself has the parent's st_dev, so it says "no" forever
    and every call would stack another layer.)
    """
    global _netns_dir_ready
    if _netns_dir_ready:
        return
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    d = str(NETNS_DIR).encode()
    if _libc.mount(b"none", d, None, MS_SHARED | MS_REC, None) != 0:
        if ctypes.get_errno() != errno.EINVAL:
            raise NamespaceError(f"make {NETNS_DIR} shared: {os.strerror(ctypes.get_errno())}")
        if _libc.mount(d, d, None, MS_BIND | MS_REC, None) != 0 or \
                _libc.mount(b"none", d, None, MS_SHARED | MS_REC, None) != 0:
            raise NamespaceError(f"bind {NETNS_DIR}: {os.strerror(ctypes.get_errno())}")
    _netns_dir_ready = True


def delete_netns(name: str) -> None:
    """Unmount and unlink /run/netns/<name>; the kernel frees it once nothing holds it."""
    path = ns_path(name)
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        if e not in (errno.EINVAL, errno.ENOENT):
            raise NamespaceError(f"umount {path}: {os.strerror(e)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    log.debug("netns %s deleted", name)


def wrap_netlink(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call fn(*args, **kwargs), turning pyroute2's NetlinkError into ours."""
    try:
        return fn(*args, **kwargs)
    except _PyNetlinkError as e:
        raise NetlinkError(f"{what}: {e}", e.code) from e


def _nft(script: str, where: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True,
                              timeout=20, check=False)
    except FileNotFoundError as e:
        raise NftError("nft(8) is not installed") from e
    except subprocess.TimeoutExpired as e:
        raise NftError(f"nft timed out {where}") from e


def nft_apply(script: str, where: str = "", table: str | None = None) -> None:
    """Run ``nft -f -`` in the calling thread's namespace; one script = one transaction.
    If an update of ``table`` fails, it is retried as delete + create (nft.recreate)."""
    r = _nft(script, where)
    if r.returncode != 0 and table is not None:
        log.info("nft update failed %s (%s); recreating table %s", where, r.stderr.strip(), table)
        script = recreate(table, script)
        r = _nft(script, where)
    if r.returncode != 0:
        raise NftError(f"nft -f failed {where}: {r.stderr.strip()}\n--- ruleset ---\n{script}")


def nft_json(where: str = "") -> str:
    r = subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True,
                       timeout=20, check=False)
    if r.returncode != 0:
        raise NftError(f"nft list failed {where}: {r.stderr.strip()}")
    return r.stdout


def write_sysctl(key: str, value: str) -> None:
    """/proc/sys/net is per namespace of the *opening thread*: call it on the ns thread."""
    Path("/proc/sys", key.replace(".", "/")).write_text(value)


class NsThread:
    """A thread pinned to one namespace with one IPRoute; ``call(fn)`` runs fn(ipr) there."""

    def __init__(self, name: str, path: str | None) -> None:
        self.name = name
        self.path = path
        self._q: queue.SimpleQueue[tuple[Callable[[IPRoute], Any], Future[Any]] | None] = \
            queue.SimpleQueue()
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=f"ns-{name}",
                                        daemon=True)
        self._thread.start()
        ready.result()

    def _run(self, ready: Future[None]) -> None:
        try:
            if self.path is not None:
                _setns(self.path)
            ipr = IPRoute()
        except BaseException as e:  # reported to the constructor
            ready.set_exception(e)
            return
        ready.set_result(None)
        try:
            while (job := self._q.get()) is not None:
                fn, fut = job
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    fut.set_result(fn(ipr))
                except BaseException as e:  # delivered to the caller by Future
                    fut.set_exception(e)
        finally:
            ipr.close()

    def call(self, fn: Callable[[IPRoute], T], timeout: float = 60.0) -> T:
        if not self._thread.is_alive():
            raise NamespaceError(f"namespace thread {self.name} is not running")
        fut: Future[T] = Future()
        self._q.put((fn, fut))
        return fut.result(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join(10)


def run_in_ns(path: str, fn: Callable[[IPRoute], T], netlink: bool = True) -> T:
    """One-off: a fresh thread enters ``path``, runs fn(ipr) (ipr None if netlink=False)."""
    out: Future[T] = Future()

    def run() -> None:
        try:
            _setns(path)
            if netlink:
                with IPRoute() as ipr:
                    out.set_result(fn(ipr))
            else:
                out.set_result(fn(None))  # type: ignore[arg-type]
        except BaseException as e:  # delivered to the caller by Future
            out.set_exception(e)

    t = threading.Thread(target=run, name="ns-oneoff", daemon=True)
    t.start()
    t.join()
    return out.result()
