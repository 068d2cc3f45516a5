"""Parent-side harness for store member processes (integration tests and bench only).

``Member`` spawns ``python -m tests.support.store_member_proc`` (in the repository root) with a
fresh control port and key, calls its commands and kills it by PID; ``Cluster`` is N of them on
127.0.0.1 with free ports.
``Cluster(tls=True)`` makes a swarm root CA and one manager certificate per member (node ids
``m0``, ``m1``, ...) and runs the Raft link over mutual TLS (``raftlink.py``); ``Cluster.issue``
makes more certificates (attack clients in tests). ``link_socket`` / ``raft_frame`` speak the Raft
port from outside, the way an attacker would.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

TLS_CLUSTER_ID = "harnesscluster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Member:
    """Parent-side handle of one member process."""

    def __init__(self, addr: str, members: list[str], data_dir: Path, password: str = "test-secret",
                 extra: list[str] | None = None, log_path: Path | None = None,
                 tls_dir: Path | None = None, data_key: bytes | None = None) -> None:
        self.addr, self.members, self.data_dir = addr, list(members), Path(data_dir)
        self.data_key = data_key
        self.password, self.extra = password, list(extra or [])
        self.tls_dir = tls_dir
        if tls_dir is not None:
            self.extra += ["--tls-dir", str(tls_dir)]
        self.log_path = log_path or self.data_dir.with_suffix(".log")
        self.ctrl = free_port()
        self.key = os.urandom(16).hex()
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None

    def start(self) -> Member:
        self.ctrl = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, STORE_PASSWORD=self.password, STORE_CTRL_KEY=self.key,
                   STORE_DATA_KEY=self.data_key.hex() if self.data_key else "")
        cmd = [sys.executable, "-m", "tests.support.store_member_proc", "--self", self.addr,
               "--members", ",".join(self.members), "--data-dir", str(self.data_dir),
               "--ctrl", str(self.ctrl), *self.extra]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                         cwd=Path(__file__).resolve().parents[2])
        self.conn = None
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        """The member process's resident set (VmRSS), KiB."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def call(self, cmd: str, timeout: float = 60.0, **kw: Any) -> Any:
        if self.conn is None:
            deadline = time.monotonic() + 20
            while True:
                if not self.alive():
                    raise RuntimeError(f"member {self.addr} exited; see {self.log_path}")
                try:
                    self.conn = Client(("127.0.0.1", self.ctrl), authkey=self.key.encode())
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        self.conn.send((cmd, kw))
        if not self.conn.poll(timeout):
            self.conn.close()
            self.conn = None
            raise TimeoutError(f"{cmd} on {self.addr} took more than {timeout} s")
        reply = self.conn.recv()
        if "error" in reply:
            raise RemoteError(reply["error"], reply["message"])
        return reply["ok"]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class Cluster:
    """N members on 127.0.0.1 with fresh ports under ``root``; kill/restart by index."""

    def __init__(self, root: Path, n: int = 3, extra: list[str] | None = None, tls: bool = False,
                 data_key: bytes | None = b"") -> None:
        """``data_key``: the Raft data key every member seals with (``swarm.store.atrest``), as
        the managers do; by default a new one, None for plain Raft files."""
        self.root = Path(root)
        self.data_key = os.urandom(32) if data_key == b"" else data_key
        self.tls = tls
        self.ca: Any = None
        if tls:
            from swarm.ca import RootCA
            self.ca = RootCA.create()
        addrs = [f"127.0.0.1:{free_port()}" for _ in range(n)]
        self.members = [Member(a, addrs, self.root / f"m{i}", extra=extra, tls_dir=self._tls_dir(i),
                               data_key=self.data_key)
                        for i, a in enumerate(addrs)]

    def issue(self, node_id: str, role: str = "swarm-manager", ca: Any = None) -> Any:
        """A ``NodeTLS`` for ``node_id`` signed by this cluster's root (or by ``ca``)."""
        from swarm.ca import NodeTLS, make_key_and_csr
        ca = ca or self.ca
        key_pem, csr_pem = make_key_and_csr()
        cert_pem = ca.issue(csr_pem, node_id, role, TLS_CLUSTER_ID, dt.timedelta(days=1))
        return NodeTLS(ca.cert_pem, cert_pem, key_pem)

    def _tls_dir(self, i: int) -> Path | None:
        if not self.tls:
            return None
        d = self.root / f"m{i}-tls"
        if not d.exists():
            write_tls_dir(d, self.issue(f"m{i}"))
        return d

    @property
    def addrs(self) -> list[str]:
        return [m.addr for m in self.members]

    def start(self) -> Cluster:
        for m in self.members:
            m.start()
        return self

    def up(self) -> list[int]:
        return [i for i, m in enumerate(self.members) if m.alive()]

    def leader(self, timeout: float = 30.0, among: list[int] | None = None) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in among if among is not None else self.up():
                try:
                    st = self.members[i].call("status", timeout=5)
                except Exception:
                    continue
                if st["state"] == "leader" and st["has_quorum"]:
                    return i
            time.sleep(0.05)
        raise TimeoutError("no leader")

    def add(self, extra: list[str] | None = None) -> Member:
        """A new member (not started) that knows the full current list plus itself."""
        addr = f"127.0.0.1:{free_port()}"
        members = [*self.addrs, addr]
        m = Member(addr, members, self.root / f"m{len(self.members)}", extra=extra,
                   tls_dir=self._tls_dir(len(self.members)), data_key=self.data_key)
        self.members.append(m)
        return m

    def stop(self) -> None:
        for m in self.members:
            m.kill()


class RemoteError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message




# ----------------------------------------------------------------------------- TLS files, attack clients
def write_tls_dir(d: Path, node_tls: Any) -> None:
    """``ca.pem``, ``cert.pem``, ``key.pem`` (0600) for ``store_member_proc --tls-dir``."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "ca.pem").write_bytes(node_tls.root_ca_pem)
    (d / "cert.pem").write_bytes(node_tls.cert_pem)
    fd = os.open(d / "key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(node_tls.key_pem)


def raft_addr(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def client_context(node_tls: Any | None, verify_server: bool = True) -> ssl.SSLContext:
    """A TLS 1.3 client context for the Raft port: with ``node_tls``'s certificate (or none), and
    verifying the server against its root (or not at all)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if verify_server and node_tls is not None:
        ctx.load_verify_locations(cadata=node_tls.root_ca_pem.decode())
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if node_tls is not None:
        with tempfile.TemporaryDirectory(prefix="harness-tls-") as d:
            write_tls_dir(Path(d), node_tls)
            ctx.load_cert_chain(Path(d) / "cert.pem", Path(d) / "key.pem")
    return ctx


def link_socket(addr: str, ctx: ssl.SSLContext | None, timeout: float = 10.0) -> socket.socket:
    """A connected socket to a member's Raft port: plain TCP (``ctx`` None), or TLS with the
    handshake done on our side (TLS 1.3: the server may still refuse our certificate after this
    returns - that shows as EOF/reset on the next read)."""
    raw = socket.create_connection(raft_addr(addr), timeout=timeout)
    if ctx is None:
        return raw
    try:
        return ctx.wrap_socket(raw)
    except BaseException:
        raw.close()
        raise


def raft_frame(message: Any, password: str | None) -> bytes:
    """One frame as pysyncobj writes it: prefix + Fernet(zlib(pickle(message)))."""
    import pysyncobj.pickle as syncobj_pickle
    from pysyncobj.encryptor import getEncryptor
    data = zlib.compress(syncobj_pickle.dumps(message), 3)
    if password is not None:
        data = getEncryptor(password).encrypt_at_time(data, int(time.monotonic()))
    return struct.pack("<I", len(data)) + data


class MakeDir:
    """Unpickling this creates ``path`` (a directory): the stand-in for arbitrary code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.path,))


def closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """True if the peer closes (EOF, reset, TLS alert) within ``wait`` seconds; False if the
    connection is still open then. Whatever the peer sends meanwhile is read and dropped."""
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except (ssl.SSLError, OSError):
            return True


def stream_oversize(sock: socket.socket, announce: int = 0x7FFFFFFF, limit: int = 64 << 20,
                    max_s: float = 60.0, chunk: int = 1 << 20) -> dict:
    """Announce a frame of ``announce`` bytes, then stream zeros until the peer closes, ``limit``
    bytes were accepted by our socket, or ``max_s``. Returns what happened."""
    zeros = bytes(chunk)
    sent, t0, closed, err = 0, time.monotonic(), False, ""
    sock.settimeout(5.0)
    try:
        sock.sendall(struct.pack("<I", announce))
        while sent < limit and time.monotonic() - t0 < max_s:
            sock.sendall(zeros)
            sent += len(zeros)
    except TimeoutError:
        err = "send timed out (peer stopped reading)"
    except (ssl.SSLError, OSError) as e:
        closed, err = True, f"{type(e).__name__}: {e}"
    if not closed and not err:
        closed = closed_by_peer(sock, 0.5)
    return {"sent": sent, "closed": closed, "error": err, "s": time.monotonic() - t0}
