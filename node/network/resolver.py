"""The embedded DNS server: 127.0.0.11:53 (UDP and TCP) inside every container sandbox.

One thread serves every sandbox. Each sandbox gets its own UDP socket and TCP listener,
*created inside the sandbox namespace* (on a short-lived setns thread) and then handed to
the server thread: a socket stays in the namespace it was born in, whoever reads it.

Names we own (``lookup(container_id, name)`` returns a tuple, maybe empty) are answered
here. Other names are forwarded to the host's resolvers from sockets the server thread
creates - the server thread lives in the node's own namespace, so forwarding works even
though the container has no route to the host's nameserver (Docker does the same).
UDP forwarding is asynchronous (a socket per query in the same selector, with a deadline;
on timeout the next upstream is tried); a TCP client gets a short thread that blocks on the
upstreams in turn.

Close a sandbox's sockets (``remove_sandbox``) before deleting its namespace: an open
socket keeps a namespace alive.
"""

from __future__ import annotations

import logging
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from node.network import dns
from node.network.netns import run_in_ns

log = logging.getLogger(__name__)
Lookup = Callable[[str, str], "tuple[str, ...] | None"]
DNS_IP = "127.0.0.11"
FORWARD_TIMEOUT = 2.0   # per upstream, then the next one


@dataclass
class _Fwd:
    reply: socket.socket
    client: tuple[str, int]
    deadline: float
    query: bytes
    attempt: int          # index into upstreams
    upstreams: list[str]  # the sandbox's (its --dns servers, else the host's)


class DnsServer:
    """Serves every sandbox from one selector thread."""

    def __init__(self, lookup: Lookup, upstreams: list[str], ttl: int = 600, port: int = 53) -> None:
        self._lookup = lookup
        self._upstreams = upstreams
        self._ttl = ttl
        self._port = port
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._socks: dict[str, list[socket.socket]] = {}
        self._sb_upstreams: dict[str, list[str]] = {}   # sandboxes with their own (--dns)
        self._fwd: dict[socket.socket, _Fwd] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", ""))
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="dns", daemon=True)
        self._thread.start()

    # -- sandboxes -------------------------------------------------------------------------

    def upstreams(self, container_id: str) -> list[str]:
        """Where a sandbox's other names are asked: its ``--dns`` servers, else the host's."""
        return self._sb_upstreams.get(container_id) or self._upstreams

    def add_sandbox(self, container_id: str, netns_path: str, upstreams: list[str] | None = None) -> None:
        if upstreams:
            self._sb_upstreams[container_id] = list(upstreams)
        if container_id in self._socks:
            return

        def make(_ipr: object) -> list[socket.socket]:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            for s in (u, t):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((DNS_IP, self._port))
                s.setblocking(False)
            t.listen(64)
            return [u, t]

        socks = run_in_ns(netns_path, make, netlink=False)
        with self._lock:
            self._socks[container_id] = socks
            self._sel.register(socks[0], selectors.EVENT_READ, ("udp", container_id))
            self._sel.register(socks[1], selectors.EVENT_READ, ("tcp", container_id))
        self._wake()
        log.debug("dns: serving sandbox %s", container_id)

    def remove_sandbox(self, container_id: str) -> None:
        with self._lock:
            self._sb_upstreams.pop(container_id, None)
            socks = self._socks.pop(container_id, [])
            for s in socks:
                self._sel.unregister(s)
                s.close()
            for fs, f in list(self._fwd.items()):
                if f.reply in socks:
                    self._drop_fwd(fs)
        self._wake()

    def close(self) -> None:
        self._stop = True
        self._wake()
        self._thread.join(5)
        for cid in list(self._socks):
            self.remove_sandbox(cid)
        for fs in list(self._fwd):
            self._drop_fwd(fs)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- loop -------------------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _loop(self) -> None:
        while not self._stop:
            events = self._sel.select(0.5)
            with self._lock:
                for key, _mask in events:
                    kind, cid = key.data
                    try:
                        self._handle(kind, cid, key.fileobj)  # type: ignore[arg-type]
                    except OSError as e:
                        log.debug("dns: %s on %s socket of %s", e, kind, cid)
                now = time.monotonic()
                for fs, f in list(self._fwd.items()):
                    if f.deadline < now:
                        self._drop_fwd(fs)
                        if f.attempt + 1 < len(f.upstreams) and f.reply.fileno() >= 0:
                            self._forward_udp(f.query, f.reply, f.client, f.upstreams, f.attempt + 1)

    def _handle(self, kind: str, cid: str, sock: socket.socket) -> None:
        if kind == "wake":
            sock.recv(512)
        elif kind == "udp":
            data, client = sock.recvfrom(4096)
            out = self.answer(cid, data)
            if out is not None:
                sock.sendto(out, client)
            elif self.upstreams(cid):
                self._forward_udp(data, sock, client, self.upstreams(cid))
        elif kind == "tcp":
            conn, _ = sock.accept()
            threading.Thread(target=self._serve_tcp, args=(cid, conn), daemon=True,
                             name="dns-tcp").start()
        elif kind == "fwd":
            f = self._fwd.get(sock)
            try:
                data = sock.recv(65535)
            except OSError as e:  # e.g. ECONNREFUSED: nothing listens there, try the next one
                log.debug("dns: upstream error %s", e)
                self._drop_fwd(sock)
                if f is not None and f.attempt + 1 < len(f.upstreams):
                    self._forward_udp(f.query, f.reply, f.client, f.upstreams, f.attempt + 1)
                return
            if f is not None:
                f.reply.sendto(data, f.client)
            self._drop_fwd(sock)

    def answer(self, cid: str, data: bytes) -> bytes | None:
        """Local answer, or None to forward. Malformed queries get FORMERR or nothing."""
        try:
            q = dns.parse_question(data)
        except dns.DnsFormatError:
            if len(data) >= 12:
                return data[:2] + struct.pack("!H", 0x8000 | dns.RCODE_FORMERR) + bytes(8)
            return None
        ips = self._lookup(cid, q.name)
        if ips is None:
            if not self.upstreams(cid):
                return dns.build_response(data, q, rcode=dns.RCODE_SERVFAIL)
            return None
        ips_l = list(ips)
        random.shuffle(ips_l)
        return dns.build_response(data, q, ips_l, ttl=self._ttl)

    def _forward_udp(self, data: bytes, reply: socket.socket, client: tuple[str, int],
                     upstreams: list[str], attempt: int = 0) -> None:
        """Send to upstreams[attempt]; on timeout the loop retries with the next one."""
        fs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fs.setblocking(False)
        try:
            fs.connect((upstreams[attempt], 53))
            fs.send(data)
        except OSError as e:
            log.debug("dns: forward to %s failed: %s", upstreams[attempt], e)
            fs.close()
            return
        self._fwd[fs] = _Fwd(reply, client, time.monotonic() + FORWARD_TIMEOUT, data, attempt, upstreams)
        self._sel.register(fs, selectors.EVENT_READ, ("fwd", ""))

    def _drop_fwd(self, fs: socket.socket) -> None:
        if self._fwd.pop(fs, None) is not None:
            self._sel.unregister(fs)
        fs.close()

    def _serve_tcp(self, cid: str, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                msg = _recv_tcp_msg(conn)
                out = self.answer(cid, msg)
                for upstream in self.upstreams(cid) if out is None else []:
                    try:
                        with socket.create_connection((upstream, 53), FORWARD_TIMEOUT) as up:
                            up.sendall(struct.pack("!H", len(msg)) + msg)
                            out = _recv_tcp_msg(up)
                            break
                    except (OSError, ValueError) as e:
                        log.debug("dns: tcp forward to %s failed: %s", upstream, e)
                if out is not None:
                    conn.sendall(struct.pack("!H", len(out)) + out)
            except (OSError, ValueError) as e:
                log.debug("dns: tcp query from sandbox %s failed: %s", cid, e)


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ValueError("connection closed mid-message")
        buf += chunk
    return buf


def _recv_tcp_msg(s: socket.socket) -> bytes:
    (n,) = struct.unpack("!H", _recv_exact(s, 2))
    return _recv_exact(s, n)
