"""The Raft link: mutual TLS and bounded framing around pysyncobj's peer connections.

Why. pysyncobj's wire format is ``zlib(pickle(message))`` in length-prefixed frames, Fernet-wrapped
with one cluster-wide password. Stock, the Raft port therefore (1) runs ``pickle.loads`` on bytes
from anyone who ever held that password - a demoted or removed manager keeps it - and (2) buffers
whatever length a stranger announces (a signed 32-bit prefix, ``bytes +=`` buffers: 2 GiB of zeros
stalled every write of the swarm for 80 s and grew the manager by 600 MiB). This module replaces the
stock transport (``SyncObj(..., transportClass=...)``, see ``raft.RaftNode``) so that:

* every connection is TLS 1.3 with certificates required and verified **both ways** (the dialer
  verifies the listener, the listener requires a client certificate), driven by pysyncobj's own
  poller without blocking (``do_handshake_on_connect=False``, ``SSLWant{Read,Write}Error``);
* after the handshake, on both sides, ``RaftTLS.accept_peer(cert_der)`` decides (the daemon: "a
  current manager whose serial is not revoked"); False closes the connection before one
  application byte is read, so nothing unauthenticated reaches Fernet, zlib or pickle;
* a connection must finish the handshake and deliver its first frame within
  ``RaftTLS.handshake_timeout`` (5 s), and that first frame may be at most ``FIRST_FRAME_MAX``
  bytes; at most ``MAX_PENDING`` such unauthenticated connections (``MAX_PENDING_PER_HOST`` per
  source address) exist at once;
* every frame's length prefix is read unsigned and checked against ``FrameLimits.max_frame``
  before the frame is buffered (too big: closed at once), inflating a frame is capped at
  ``max_message`` bytes (no zlib bombs), and send/receive buffers are ``bytearray`` (linear,
  where stock ``bytes +=`` re-copies the whole buffer per chunk);
* refusals are counted (``RaftLinkTransport.stats``) and logged with the peer address, at most
  one line per reason per ``LOG_PERIOD`` seconds.

pysyncobj's Fernet layer stays on top (the password is still required; ``Store.set_raft_secrets``
rotates it). Frames are pysyncobj's exactly except that the prefix is explicitly ``<I`` (stock:
native ``i``, the same bytes on x86-64 for any length it can send), so a TLS member cannot talk to a
stock member anyway: the whole cluster switches at once.

Threads. Everything here runs on pysyncobj's tick thread (its poller, its on-tick callbacks),
including ``contexts()`` and ``accept_peer()``: both must be quick and must not block.

pysyncobj internals relied on (0.3.17, pinned): ``TCPTransport``'s attributes ``_syncObj``,
``_server``, ``_connections``, ``_unknownConnections``, ``_nodes``, ``_nodeAddrToNode``,
``_selfNode``, ``_ready``, and methods ``_onTick``, ``_createServer``, ``addNode``,
``_shouldConnect``, ``_onNewIncomingConnection``, ``_onOutgoingConnected``,
``_onMessageReceived``, ``_onDisconnected`` (``_createServer`` and ``addNode`` are re-implemented
here after the stock ones); the duck-typed ``TcpConnection`` interface the transport uses
(``connect``, ``send``, ``disconnect``, ``fileno``, ``state``, ``set*Callback``, the attributes
``encryptor``, ``sendRandKey``, ``recvRandKey``, ``recvLastTimestamp``); ``SyncObj._poller``,
``.conf``, ``.encryptor``, ``addOnTickCallback``; ``poller.subscribe/unsubscribe`` with
``POLL_EVENT_TYPE``; ``pysyncobj.pickle`` for the (de)serialisation of messages.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import socket
import ssl
import struct
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pysyncobj.pickle as syncobj_pickle
from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.tcp_connection import CONNECTION_STATE, TcpConnection, _getAddrType, set_keepalive
from pysyncobj.tcp_server import TcpServer
from pysyncobj.transport import TCPTransport

log = logging.getLogger(__name__)

#: Frame length prefix: unsigned 32-bit little-endian.
HEADER = struct.Struct("<I")
#: The first frame on a connection is pysyncobj's random-key exchange (~200 bytes Fernet-wrapped;
#: a ``syncobj_admin`` command is about as small). Anything bigger before that is refused.
FIRST_FRAME_MAX = 4096
#: Unauthenticated (handshake or first frame still pending) incoming connections at once.
MAX_PENDING = 64
MAX_PENDING_PER_HOST = 8
#: Refusal log lines: at most one per reason per this many seconds (the rest are counted).
LOG_PERIOD = 10.0
#: Bytes read from one connection per poller event before yielding to the rest of the tick (the
#: poller is level-triggered, so data still in the kernel is signalled again; data already
#: decrypted inside OpenSSL is not, so ``SSLSocket.pending()`` is always drained first).
READ_BUDGET = 1 << 20
#: Bytes handed to one ``SSLSocket.send`` call (OpenSSL cuts them into 16 KiB records).
SEND_CHUNK = 256 * 1024
RECV_CHUNK = 64 * 1024

REASONS = ("tls_handshake", "tls_version", "no_peer_cert", "peer_rejected", "context_error",
           "frame_too_large", "first_frame_too_large", "bad_frame", "deadline", "too_many_pending",
           "closed_in_setup", "dial_timeout", "oversize_send")


@dataclass(frozen=True)
class RaftTLS:
    """How the Raft port authenticates peers. Both callables run on the Raft tick thread.

    ``contexts()`` returns ``(server_ctx, client_ctx)`` and is called for every new connection
    (certificates are renewed at run time: cache them and swap the pair when they change). Both
    must have ``verify_mode=CERT_REQUIRED`` (else the connection is refused); the client context
    needs ``check_hostname=False`` - peers are identified by certificate, not DNS name, which is
    ``accept_peer``'s job. ``raft_tls_contexts`` builds a correct pair from PEM blobs.

    ``accept_peer(cert_der)`` gets the peer's verified leaf certificate (DER) after the TLS 1.3
    handshake, on both sides; False (or an exception) closes the connection before any byte of
    it is parsed.

    ``handshake_timeout``: a connection that has not finished the handshake and delivered its
    first frame this many seconds after it was accepted (or dialled) is closed.
    """

    contexts: Callable[[], tuple[ssl.SSLContext, ssl.SSLContext]]
    accept_peer: Callable[[bytes], bool]
    handshake_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not callable(self.contexts) or not callable(self.accept_peer):
            raise TypeError("RaftTLS needs callables contexts() and accept_peer(cert_der)")
        if not self.handshake_timeout > 0:
            raise ValueError("handshake_timeout must be positive")


@dataclass(frozen=True)
class FrameLimits:
    """``max_frame``: largest frame on the wire (the length prefix); ``max_message``: largest
    inflated (zlib-decompressed) message; ``first_frame``: the first frame of a connection."""

    max_frame: int
    max_message: int
    first_frame: int = FIRST_FRAME_MAX


def frame_limits(max_proposal: int, batch_size: int) -> FrameLimits:
    """The largest frame a correct member can send, given the store's proposal cap and
    pysyncobj's ``appendEntriesBatchSizeBytes``. Derivation (pysyncobj 0.3.17, protocol-2 pickle):

    * a log entry is the pickled command ``(funcID, args, kwargs)``; protocol 2 stores ``bytes``
      as latin-1 text in UTF-8, so each byte >= 0x80 takes two: entry <= 2 x proposal + 64 KiB;
    * ``__getEntries(..., batchSize)`` stops *after* the entry that reaches the batch size (a lone
      entry >= the batch size is cut into batch-size chunks instead): entry bytes per
      AppendEntries <= batch + entry;
    * the message pickles those entries again (x2 for high bytes again, plus ~43 bytes per entry
      of at least 57 bytes - the empty batch): pickled <= 3 x entry bytes (measured 2.70 worst);
    * zlib level 3 may not shrink it (stored blocks: +0.1 %), Fernet adds 57 bytes and 16-byte
      padding, base64 x 4/3.

    With 2 MiB proposals and 4 MiB batches this is 33 MiB (rounded up to whole MiB); real frames
    are far smaller (measured worst: 5.7 MiB, random 2 MiB proposal behind 4 MiB of small entries,
    because zlib undoes most of the UTF-8 doubling). The cap must hold the worst case: a legit frame
    over it would be refused forever and that follower could never catch up. What it buys is a
    bound - no 2 GiB announcements, no buffering beyond 33 MiB per authenticated connection -
    while unauthenticated bytes never get past ``FIRST_FRAME_MAX``.
    """
    entry = 2 * max_proposal + 64 * 1024
    pickled = 3 * (batch_size + entry)
    deflated = pickled + pickled // 1000 + 64
    fernet = 4 * math.ceil((57 + (deflated // 16 + 1) * 16) / 3)
    mib = 1 << 20
    return FrameLimits(max_frame=-(-fernet // mib) * mib, max_message=pickled)


class FrameTooLarge(Exception):
    def __init__(self, size: int, limit: int, first: bool) -> None:
        super().__init__(f"{'first ' if first else ''}frame of {size} bytes announced, limit {limit}")
        self.size, self.limit, self.first = size, limit, first


class FrameReader:
    """Split a byte stream into length-prefixed frames. A prefix is checked against the limit as
    soon as its 4 bytes are in, so at most one chunk past a refused prefix is ever held; the
    buffer is a ``bytearray`` (appending and consuming from the front are both linear)."""

    def __init__(self, max_frame: int, first_frame: int | None = None) -> None:
        self.max_frame = max_frame
        self.first_frame = max_frame if first_frame is None else min(first_frame, max_frame)
        self.frames = 0
        self._buf = bytearray()
        self._need: int | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Append ``data``; return the frames it completed (payloads, prefix stripped)."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while True:
            need = self._need
            if need is None:
                if len(buf) < HEADER.size:
                    break
                (need,) = HEADER.unpack_from(buf, 0)
                first = self.frames + len(out) == 0
                limit = self.first_frame if first else self.max_frame
                if need > limit:
                    buf.clear()
                    raise FrameTooLarge(need, limit, first)
                self._need = need
            end = HEADER.size + need
            if len(buf) < end:
                break
            out.append(bytes(buf[HEADER.size:end]))
            del buf[:end]
            self._need = None
        self.frames += len(out)
        return out

    def reset(self) -> None:
        self._buf = bytearray()
        self._need = None
        self.frames = 0


class _RateLimitedLog:
    """One line per key per ``period``; the lines in between are counted into the next one."""

    def __init__(self, logger: logging.Logger, period: float = LOG_PERIOD) -> None:
        self._logger, self._period = logger, period
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: Any) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        n = self._suppressed.pop(key, 0)
        if n:
            msg += " (and %d more in the last %.0f s)"
            args = (*args, n, self._period)
        self._logger.log(level, msg, *args)
        return True


class _Link:
    """What every connection of one transport shares: the TLS config, limits, counters, log."""

    def __init__(self, tls: RaftTLS, limits: FrameLimits) -> None:
        self.tls, self.limits = tls, limits
        self.stats: dict[str, int] = dict.fromkeys(REASONS, 0)   # fixed keys: safe to copy anywhere
        self._log = _RateLimitedLog(log)

    def contexts(self) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        pair = self.tls.contexts()
        server, client = pair
        for ctx in (server, client):
            if not isinstance(ctx, ssl.SSLContext):
                raise TypeError(f"contexts() must return two ssl.SSLContext, got {type(ctx).__name__}")
            if ctx.verify_mode != ssl.CERT_REQUIRED:
                raise ValueError("raft link contexts must have verify_mode=CERT_REQUIRED")
        return server, client

    def refused(self, reason: str, peer: str, detail: str, level: int = logging.WARNING) -> None:
        self.stats[reason] += 1
        self._log.log(level, reason, "raft link %s: closed: %s [%s]", peer, detail, reason)


def _ssl_reason(e: BaseException) -> str:
    if isinstance(e, ssl.SSLError) and e.reason:
        return f"{e.reason} ({e.library or 'ssl'})"
    return f"{type(e).__name__}: {e}"


_DISCONNECTED, _DIALING, _HANDSHAKE, _OPEN = "disconnected", "dialing", "handshake", "open"
_R, _W, _E = POLL_EVENT_TYPE.READ, POLL_EVENT_TYPE.WRITE, POLL_EVENT_TYPE.ERROR


class RaftLinkConnection(TcpConnection):  # type: ignore[misc]  # pysyncobj is untyped
    """One peer connection: TCP (dialled or accepted) -> TLS 1.3 handshake -> ``accept_peer`` ->
    pysyncobj frames. Implements the whole ``TcpConnection`` interface itself: the stock methods
    keep their buffers in name-mangled ``bytes`` attributes and are never called.

    pysyncobj sees ``state`` CONNECTING until the peer is verified, then CONNECTED (for a dialled
    connection that is when ``onConnected`` fires and pysyncobj starts its key exchange)."""

    def __init__(self, poller: Any, link: _Link, *, timeout: float, sendBufferSize: int,
                 recvBufferSize: int, keepalive: tuple[int, int, int] | None = None,
                 read_budget: int = READ_BUDGET, recv_chunk: int = RECV_CHUNK) -> None:
        super().__init__(poller, timeout=timeout, sendBufferSize=sendBufferSize,
                         recvBufferSize=recvBufferSize, keepalive=keepalive)
        self.sendRandKey: bytes | None = None
        self.recvRandKey: bytes | None = None
        self.recvLastTimestamp = 0
        self.encryptor: Any = None
        self._poller, self._link = poller, link
        self._timeout, self._keepalive = timeout, keepalive
        self._sndbuf, self._rcvbuf = sendBufferSize, recvBufferSize
        self._read_budget = read_budget
        self._sock: Any = None             # socket.socket while dialling, then ssl.SSLSocket
        self._fileno: int | None = None
        self._phase = _DISCONNECTED
        self._outgoing = False
        self.peer = "?"
        self.peer_host = ""
        self._mask = 0
        self._hs_wants_write = False
        self._read_wants_write = False
        self._deadline: float | None = None
        self._peer_der: bytes | None = None
        self._last_read = time.monotonic()
        self._reader = FrameReader(link.limits.max_frame, link.limits.first_frame)
        self._wbuf = bytearray()
        self._rchunk = bytearray(recv_chunk)
        self._on_message: Callable[[Any], None] | None = None
        self._on_connected: Callable[[], None] | None = None
        self._on_disconnected: Callable[[], None] | None = None

    # ---------------------------------------------------------------- TcpConnection interface
    def setOnConnectedCallback(self, onConnected: Callable[[], None] | None) -> None:
        self._on_connected = onConnected

    def setOnMessageReceivedCallback(self, onMessageReceived: Callable[[Any], None] | None) -> None:
        self._on_message = onMessageReceived

    def setOnDisconnectedCallback(self, onDisconnected: Callable[[], None] | None) -> None:
        self._on_disconnected = onDisconnected

    def setSockoptKeepalive(self) -> None:
        if self._sock is not None and self._keepalive is not None:
            set_keepalive(self._sock, *self._keepalive)

    @property
    def state(self) -> int:
        if self._phase == _OPEN:
            return int(CONNECTION_STATE.CONNECTED)
        if self._phase == _DISCONNECTED:
            return int(CONNECTION_STATE.DISCONNECTED)
        return int(CONNECTION_STATE.CONNECTING)

    @property
    def preauth(self) -> bool:
        """Still inside the handshake + first-frame window."""
        return self._phase != _DISCONNECTED and self._deadline is not None

    def fileno(self) -> int | None:
        return self._fileno

    def getSendBufferSize(self) -> int:
        return len(self._wbuf)

    def connect(self, host: str, port: int) -> bool:
        """Dial ``host:port`` (non-blocking); TLS starts once the TCP connect completes."""
        if host is None:
            return False
        self._reset()
        self._outgoing = True
        self.peer, self.peer_host = f"{host}:{port} (dialled)", host
        sock = socket.socket(_getAddrType(host), socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._sndbuf)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self.setSockoptKeepalive()
        sock.setblocking(False)
        try:
            sock.connect((host, port))
        except OSError as e:
            if e.errno not in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                sock.close()
                self._sock = None
                return False
        self._start(_DIALING)
        return True

    def accept_tls(self, sock: socket.socket, addr: tuple[Any, ...]) -> None:
        """Take over an accepted socket and start the server side of the handshake."""
        self._reset()
        self.peer, self.peer_host = f"{addr[0]}:{addr[1]}", str(addr[0])
        self._sock = sock
        self.setSockoptKeepalive()
        sock.setblocking(False)
        try:
            server_ctx, _ = self._link.contexts()
            self._sock = server_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except Exception as e:
            self._phase = _HANDSHAKE           # not subscribed; disconnect() closes and notifies
            self._refuse("context_error", f"cannot set up TLS: {e}", logging.ERROR)
            return
        self._start(_HANDSHAKE)
        self._handshake()

    def send(self, message: Any) -> None:
        if self._phase == _DISCONNECTED:
            return
        if self.sendRandKey:
            message = (self.sendRandKey, message)
        data = zlib.compress(syncobj_pickle.dumps(message), 3)
        if self.encryptor:
            data = self.encryptor.encrypt_at_time(data, int(time.monotonic()))
        if len(data) > self._link.limits.max_frame:
            self._link.refused("oversize_send", self.peer,
                               f"sending a {len(data)}-byte frame, over the {self._link.limits.max_frame}"
                               "-byte cap: the peer will refuse it", logging.ERROR)
            if len(data) > 0xFFFFFFFF:
                self.disconnect()
                return
        self._wbuf += HEADER.pack(len(data))
        self._wbuf += data
        self._flush()

    def disconnect(self) -> None:
        notify = self._on_disconnected is not None and self._phase != _DISCONNECTED
        self.sendRandKey = None
        self.recvRandKey = None
        self.recvLastTimestamp = 0
        if self._fileno is not None:
            self._poller.unsubscribe(self._fileno)
            self._fileno = None
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        self._wbuf = bytearray()
        self._reader.reset()
        self._phase = _DISCONNECTED
        self._deadline = None
        self._peer_der = None
        self._mask = 0
        if notify:
            assert self._on_disconnected is not None
            self._on_disconnected()

    # ---------------------------------------------------------------- internals
    def _reset(self) -> None:
        if self._sock is not None or self._fileno is not None:
            cb, self._on_disconnected = self._on_disconnected, None
            self.disconnect()
            self._on_disconnected = cb
        self._wbuf = bytearray()
        self._reader.reset()
        self._hs_wants_write = self._read_wants_write = False
        now = time.monotonic()
        self._last_read = now
        self._deadline = now + self._link.tls.handshake_timeout

    def _start(self, phase: str) -> None:
        self._phase = phase
        self._fileno = self._sock.fileno()
        self._mask = 0
        self._update_subscription()

    def _update_subscription(self) -> None:
        if self._fileno is None:
            return
        mask = _R | _E
        if (self._phase == _DIALING or (self._phase == _HANDSHAKE and self._hs_wants_write)
                or (self._phase == _OPEN and (self._wbuf or self._read_wants_write))):
            mask |= _W
        if mask != self._mask:
            self._mask = mask
            self._poller.subscribe(self._fileno, self._on_event, mask)

    def check_deadline(self, now: float) -> None:
        """Called every tick by the transport: close a connection that is still not set up."""
        if self._deadline is not None and now > self._deadline and self._phase != _DISCONNECTED:
            t = self._link.tls.handshake_timeout
            if self._outgoing:
                self._refuse("dial_timeout", f"no TLS handshake and first frame within {t:g} s",
                             logging.INFO)
            else:
                self._refuse("deadline", f"no TLS handshake and first frame within {t:g} s")

    def recheck(self) -> None:
        """Ask ``accept_peer`` again about an open connection's certificate; close it on no."""
        if self._phase != _OPEN or self._peer_der is None:
            return
        try:
            ok = bool(self._link.tls.accept_peer(self._peer_der))
        except Exception:
            log.exception("raft link %s: accept_peer raised; dropping the peer", self.peer)
            ok = False
        if not ok:
            self._refuse("peer_rejected", "certificate no longer accepted (accept_peer said no)")

    def _refuse(self, reason: str, detail: str, level: int = logging.WARNING) -> None:
        self._link.refused(reason, self.peer, detail, level)
        self.disconnect()

    def _idle_timed_out(self) -> bool:
        """Stock's dead-connection check (nothing read for ``connectionTimeout``) once set up;
        the setup deadline until then."""
        now = time.monotonic()
        if self._deadline is not None:
            self.check_deadline(now)
            return self._phase == _DISCONNECTED
        if now - self._last_read > self._timeout:
            self.disconnect()
            return True
        return False

    def _on_event(self, descr: int, event: int) -> None:
        if descr != self._fileno:
            self._poller.unsubscribe(descr)
            return
        if event & _E:
            if self._deadline is not None and self._phase != _DIALING:
                self._link.refused("closed_in_setup", self.peer,
                                   f"connection lost during {self._phase} (poll error/hang-up)",
                                   logging.INFO)
            self.disconnect()
            return
        if self._idle_timed_out():
            return
        if self._phase == _DIALING:
            self._dialed()
        elif self._phase == _HANDSHAKE:
            self._handshake()
        elif self._phase == _OPEN:
            if event & _W:
                self._flush()
            if self._phase == _OPEN and (event & _R or (event & _W and self._read_wants_write)):
                self._read()
            if self._phase == _OPEN and self._wbuf and event & _R:
                self._flush()

    def _dialed(self) -> None:
        if self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.disconnect()            # refused / unreachable: pysyncobj retries, as stock
            return
        try:
            _, client_ctx = self._link.contexts()
            self._sock = client_ctx.wrap_socket(self._sock, server_side=False,
                                                do_handshake_on_connect=False)
        except Exception as e:
            self._refuse("context_error", f"cannot set up TLS: {e}", logging.ERROR)
            return
        self._phase = _HANDSHAKE
        self._handshake()

    def _handshake(self) -> None:
        try:
            self._sock.do_handshake()
        except ssl.SSLWantReadError:
            self._hs_wants_write = False
            self._update_subscription()
            return
        except ssl.SSLWantWriteError:
            self._hs_wants_write = True
            self._update_subscription()
            return
        except (ssl.SSLError, OSError) as e:
            self._refuse("tls_handshake", f"TLS handshake failed: {_ssl_reason(e)}")
            return
        self._verified()

    def _verified(self) -> None:
        sock = self._sock
        version = sock.version()
        if version != "TLSv1.3":
            self._refuse("tls_version", f"negotiated {version}, only TLSv1.3 is accepted")
            return
        der = sock.getpeercert(binary_form=True)
        if not der:
            self._refuse("no_peer_cert", "the peer presented no certificate")
            return
        try:
            ok = bool(self._link.tls.accept_peer(der))
        except Exception:
            log.exception("raft link %s: accept_peer raised; refusing the peer", self.peer)
            ok = False
        if not ok:
            self._refuse("peer_rejected", "certificate not accepted (accept_peer said no)")
            return
        self._peer_der = der
        self._phase = _OPEN
        self._last_read = time.monotonic()
        self._update_subscription()
        if self._outgoing and self._on_connected is not None:
            self._on_connected()
        if self._phase == _OPEN:
            self._read()       # records that came with the handshake are not signalled again

    def _flush(self) -> None:
        if self._phase != _OPEN or self._idle_timed_out():
            return
        wbuf = self._wbuf
        while wbuf:
            try:
                with memoryview(wbuf) as mv, mv[:SEND_CHUNK] as part:
                    n = self._sock.send(part)
            except ssl.SSLWantWriteError:
                break
            except ssl.SSLWantReadError:
                break                                    # the read side is always subscribed
            except OSError:
                self.disconnect()
                return
            if n <= 0:
                break
            del wbuf[:n]
        self._update_subscription()

    def _read(self) -> None:
        self._read_wants_write = False
        budget = self._read_budget
        chunk = self._rchunk
        with memoryview(chunk) as view:
            while self._phase == _OPEN:
                sock = self._sock
                try:
                    n = sock.recv_into(chunk)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLWantWriteError:
                    self._read_wants_write = True
                    self._update_subscription()
                    break
                except (ssl.SSLError, OSError) as e:
                    if self._deadline is not None:
                        self._link.refused("closed_in_setup", self.peer,
                                           f"closed by the peer before the first frame: {_ssl_reason(e)}")
                    self.disconnect()
                    return
                if not n:
                    if self._deadline is not None:
                        self._link.refused("closed_in_setup", self.peer,
                                           "closed by the peer before the first frame", logging.INFO)
                    self.disconnect()
                    return
                self._last_read = time.monotonic()
                try:
                    frames = self._reader.feed(view[:n])
                except FrameTooLarge as e:
                    self._refuse("first_frame_too_large" if e.first else "frame_too_large", str(e))
                    return
                for frame in frames:
                    self._deliver(frame)
                    if self._phase != _OPEN:
                        return
                budget -= n
                if budget <= 0 and not sock.pending():
                    break

    def _deliver(self, frame: bytes) -> None:
        try:
            message = self._decode(frame)
        except Exception as e:
            self._refuse("bad_frame", f"undecodable frame of {len(frame)} bytes "
                         f"({type(e).__name__}: wrong Raft secret, replay or corruption)")
            return
        self._deadline = None
        if self._on_message is not None:
            self._on_message(message)

    def _decode(self, data: bytes) -> Any:
        """Stock ``TcpConnection.__processParseMessage`` plus a bound on the inflated size."""
        enc = self.encryptor
        if enc:
            ts = enc.extract_timestamp(data)
            if ts < self.recvLastTimestamp:
                raise ValueError("frame timestamp went backwards")
            self.recvLastTimestamp = ts
            data = enc.decrypt(data)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(data, self._link.limits.max_message)
        if inflater.unconsumed_tail or not inflater.eof:
            raise ValueError(f"frame inflates beyond {self._link.limits.max_message} bytes or is truncated")
        message = syncobj_pickle.loads(raw)
        if self.recvRandKey:
            rand_key, message = message
            if rand_key != self.recvRandKey:
                raise ValueError("wrong connection key")
        return message


class _RaftLinkServer(TcpServer):  # type: ignore[misc]  # pysyncobj is untyped
    """The listening socket: accepts and hands sockets to the transport; never unbinds itself on
    a transient accept error (stock ``TcpServer`` unbinds for good on e.g. EMFILE)."""

    def __init__(self, poller: Any, host: str, port: int | str,
                 on_accept: Callable[[socket.socket, tuple[Any, ...]], None], sendBufferSize: int,
                 recvBufferSize: int, on_lost: Callable[[], None]) -> None:
        super().__init__(poller, host, port, onNewConnection=None, sendBufferSize=sendBufferSize,
                         recvBufferSize=recvBufferSize)
        self._poller, self._host, self._port = poller, host, int(port)
        self._sndbuf, self._rcvbuf = sendBufferSize, recvBufferSize
        self._on_accept, self._on_lost = on_accept, on_lost
        self._sock: socket.socket | None = None
        self._fd: int | None = None
        self._log = _RateLimitedLog(log)

    def bind(self) -> None:
        sock = socket.socket(_getAddrType(self._host), socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._sndbuf)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind((self._host, self._port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._sock, self._fd = sock, sock.fileno()
        self._poller.subscribe(self._fd, self._on_readable, _R | _E)

    def unbind(self) -> None:
        if self._fd is not None:
            self._poller.unsubscribe(self._fd)
            self._fd = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _on_readable(self, descr: int, event: int) -> None:
        if event & _E:
            log.error("raft link: listening socket %s:%s failed; binding again", self._host, self._port)
            self.unbind()
            self._on_lost()
            return
        for _ in range(32):
            if self._sock is None:
                return
            try:
                sock, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._log.log(logging.WARNING, "accept", "raft link: accept failed: %s", e)
                return
            self._on_accept(sock, addr)


class RaftLinkTransport(TCPTransport):  # type: ignore[misc]  # pysyncobj is untyped
    """pysyncobj's ``TCPTransport`` with ``RaftLinkConnection`` for every connection. Pass it with
    ``SyncObj(..., transportClass=link_transport(tls, limits))``. Requires pysyncobj's password."""

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any, *, tls: RaftTLS,
                 limits: FrameLimits) -> None:
        if not syncObj.encryptor:
            raise ValueError("the TLS raft link is a layer under pysyncobj's password, not instead of it")
        self._link = _Link(tls, limits)
        self._recheck = False
        super().__init__(syncObj, selfNode, otherNodes)

    @property
    def stats(self) -> dict[str, int]:
        return dict(self._link.stats)

    def _new_connection(self) -> RaftLinkConnection:
        conf = self._syncObj.conf
        return RaftLinkConnection(self._syncObj._poller, self._link, timeout=conf.connectionTimeout,
                                  sendBufferSize=conf.sendBufferSize, recvBufferSize=conf.recvBufferSize,
                                  keepalive=conf.tcp_keepalive)

    def _createServer(self) -> None:
        """Stock ``TCPTransport._createServer`` with our server class."""
        from pysyncobj.dns_resolver import globalDnsResolver
        conf = self._syncObj.conf
        bind_addr = conf.bindAddress
        self_addr = self._selfNode.address
        if bind_addr is not None:
            host, port = bind_addr.rsplit(":", 1)
        elif self_addr is not None:
            host, port = self_addr.rsplit(":", 1)
            host = "::" if ":" in host else "0.0.0.0"
        else:
            raise RuntimeError("Unable to determine bind address")
        if host != "0.0.0.0":
            host = globalDnsResolver().resolve(host)
        self._server = _RaftLinkServer(self._syncObj._poller, host, port, self._on_accept,
                                       sendBufferSize=conf.sendBufferSize,
                                       recvBufferSize=conf.recvBufferSize, on_lost=self._on_server_lost)

    def _on_server_lost(self) -> None:
        self._ready = False          # pysyncobj's tick binds again (tryGetReady -> _maybeBind)

    def addNode(self, node: Any) -> None:
        """Stock ``TCPTransport.addNode`` with our connection class."""
        import functools
        self._nodes.add(node)
        self._nodeAddrToNode[node.address] = node
        if self._shouldConnect(node):
            conn = self._new_connection()
            conn.encryptor = self._syncObj.encryptor
            conn.setOnConnectedCallback(functools.partial(self._onOutgoingConnected, conn))
            conn.setOnMessageReceivedCallback(functools.partial(self._onMessageReceived, node))
            conn.setOnDisconnectedCallback(functools.partial(self._onDisconnected, conn))
            self._connections[node] = conn

    def _on_accept(self, sock: socket.socket, addr: tuple[Any, ...]) -> None:
        host = str(addr[0])
        pending = [c for c in self._unknownConnections if isinstance(c, RaftLinkConnection) and c.preauth]
        if len(pending) >= MAX_PENDING or sum(c.peer_host == host for c in pending) >= MAX_PENDING_PER_HOST:
            sock.close()
            self._link.refused("too_many_pending", f"{addr[0]}:{addr[1]}",
                               f"{len(pending)} connections are still in their handshake")
            return
        try:
            conf = self._syncObj.conf
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, conf.sendBufferSize)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, conf.recvBufferSize)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            sock.close()
            return
        conn = self._new_connection()
        self._onNewIncomingConnection(conn)      # stock: encryptor + callbacks, tracked until it names itself
        conn.accept_tls(sock, addr)

    def request_recheck(self) -> None:
        """From any thread: on the next tick, ask ``accept_peer`` again about every open connection
        and close those it now refuses (a manager demoted or a certificate revoked while connected:
        ``accept_peer`` otherwise only runs when a connection is set up)."""
        self._recheck = True

    def _onTick(self) -> None:
        super()._onTick()
        now = time.monotonic()
        recheck, self._recheck = self._recheck, False
        for conn in [*self._unknownConnections, *self._connections.values()]:
            if isinstance(conn, RaftLinkConnection):
                conn.check_deadline(now)
                if recheck:
                    conn.recheck()


def link_transport(tls: RaftTLS, limits: FrameLimits,
                   created: Callable[[RaftLinkTransport], None] | None = None) -> Callable[..., Any]:
    """A ``transportClass`` for ``SyncObj``: pysyncobj calls it as ``(syncObj, selfNode, others)``."""
    def make(syncObj: Any, selfNode: Any, otherNodes: Any) -> RaftLinkTransport:
        t = RaftLinkTransport(syncObj, selfNode, otherNodes, tls=tls, limits=limits)
        if created is not None:
            created(t)
        return t
    return make


def raft_tls_contexts(root_ca_pem: bytes, cert_pem: bytes,
                      key_pem: bytes) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """``(server_ctx, client_ctx)`` for the Raft link from a node's PEM blobs: TLS 1.3 only, peer
    certificates required and verified against ``root_ca_pem``, no hostname check (identity is
    ``accept_peer``'s job), no session tickets. The key passes through a private temp file (the
    ``ssl`` module loads keys from files only) that is removed before returning."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    with tempfile.TemporaryDirectory(prefix="raft-tls-") as d:
        cert_file, key_file = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(key_pem)
        for ctx in (server, client):
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.maximum_version = ssl.TLSVersion.TLSv1_3
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=root_ca_pem.decode("ascii"))
            ctx.load_cert_chain(cert_file, key_file)
    server.num_tickets = 0
    return server, client
