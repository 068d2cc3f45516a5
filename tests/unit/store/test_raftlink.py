"""swarm/store/raftlink.py in one process: the frame parser and its caps, the frame-size bound,
and two RaftLinkConnections over loopback driven by one pysyncobj poller (handshake, accept_peer,
caps, deadline, the SSLSocket.pending() drain). No timing asserts; every wait is a bounded loop."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from pysyncobj.poller import PollPoller

from swarm.ca import RootCA, make_key_and_csr
from swarm.store import RaftTLS, raft, raft_tls_contexts
from swarm.store.raftlink import (
    FIRST_FRAME_MAX,
    HEADER,
    FrameLimits,
    FrameReader,
    FrameTooLarge,
    RaftLinkConnection,
    _Link,
    _RateLimitedLog,
    frame_limits,
)

pytestmark = pytest.mark.timeout(120)


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


# ----------------------------------------------------------------------------- FrameReader
def test_frames_split_anywhere_come_out_whole() -> None:
    payloads = [b"", b"a", os.urandom(1000), os.urandom(70_000)]
    stream = b"".join(frame(p) for p in payloads)
    r = FrameReader(max_frame=1 << 20)
    out: list[bytes] = []
    for i in range(0, len(stream), 7):           # 7-byte chunks: headers split across chunks too
        out += r.feed(stream[i:i + 7])
    assert out == payloads
    assert r.buffered == 0 and r.frames == 4
    r2 = FrameReader(max_frame=1 << 20)
    assert r2.feed(stream) == payloads           # all in one chunk


def test_prefix_is_checked_before_the_frame_is_buffered() -> None:
    r = FrameReader(max_frame=1000)
    assert r.feed(frame(b"x" * 10)) == [b"x" * 10]
    with pytest.raises(FrameTooLarge) as ei:
        r.feed(struct.pack("<I", 0x7FFFFFFF))    # the 2 GiB announcement alone is refused
    assert ei.value.size == 0x7FFFFFFF and ei.value.limit == 1000 and not ei.value.first
    assert r.buffered == 0


def test_prefix_is_unsigned() -> None:
    # stock pysyncobj reads a signed 'i': 0xFFFFFFFF is -1 there, and slicing with it misbehaves
    r = FrameReader(max_frame=1 << 20)
    with pytest.raises(FrameTooLarge) as ei:
        r.feed(b"\xff\xff\xff\xff" + b"\0" * 16)
    assert ei.value.size == 2**32 - 1


def test_first_frame_has_its_own_cap() -> None:
    r = FrameReader(max_frame=1 << 20, first_frame=100)
    with pytest.raises(FrameTooLarge) as ei:
        r.feed(frame(b"y" * 101))
    assert ei.value.first and ei.value.limit == 100
    r = FrameReader(max_frame=1 << 20, first_frame=100)
    big = b"z" * 5000
    assert r.feed(frame(b"k" * 100) + frame(big)) == [b"k" * 100, big]   # then the normal cap
    with pytest.raises(FrameTooLarge):
        r.feed(struct.pack("<I", (1 << 20) + 1))


def test_buffer_holds_one_frame_at_most() -> None:
    r = FrameReader(max_frame=1 << 20)
    chunk = frame(os.urandom(300)) * 50
    biggest = 0
    for _ in range(200):
        assert len(r.feed(chunk)) == 50
        biggest = max(biggest, r.buffered)
    assert biggest == 0 and r.frames == 10_000


# ----------------------------------------------------------------------------- frame bound
def test_frame_limits_for_the_store_constants() -> None:
    lim = raft.FRAME_LIMITS
    assert lim == frame_limits(raft.MAX_PROPOSAL_BYTES, raft.BATCH_SIZE_BYTES)
    assert lim.max_frame == 33 << 20
    assert lim.max_message == 3 * (raft.BATCH_SIZE_BYTES + 2 * raft.MAX_PROPOSAL_BYTES + 64 * 1024)
    assert lim.first_frame == FIRST_FRAME_MAX
    assert frame_limits(1 << 20, 1 << 20).max_frame < lim.max_frame


def _command(pid: str, data: bytes | None) -> bytes:
    """A log entry as pysyncobj stores it: type byte + pickle((funcID, args, kwargs))."""
    import pysyncobj.pickle as sp
    actions = [] if data is None else [("create", "tasks", "t" * 20, None, data, {"service_id": "s1"}, {})]
    return b"\x00" + sp.dumps((0, (pid, actions), {}))


@pytest.mark.parametrize("kind", ["uniform", "high-bytes"])
def test_worst_append_entries_fits_under_the_cap(kind: str) -> None:
    """A batch as pysyncobj builds it at the limits: small distinct entries up to the batch size,
    then one maximal proposal (random, or every byte >= 0x80: the most pickle expansion)."""
    import pysyncobj.pickle as sp
    raw = os.urandom(raft.MAX_PROPOSAL_BYTES - 4096)
    if kind == "high-bytes":
        raw = bytes(b | 0x80 for b in raw)
    entries, total = [], 0
    while total < raft.BATCH_SIZE_BYTES:
        c = _command(uuid.uuid4().hex, None)
        entries.append((c, 10**9 + len(entries), 7))
        total += len(c)
    entries.append((_command(uuid.uuid4().hex, raw), 2 * 10**9, 7))
    msg = {"type": "append_entries", "term": 7, "commit_index": 10**9, "entries": entries,
           "prevLogIdx": 10**9 - 1, "prevLogTerm": 7}
    pickled = sp.dumps(msg)
    wire = Fernet(Fernet.generate_key()).encrypt_at_time(zlib.compress(pickled, 3), 1)
    lim = raft.FRAME_LIMITS
    assert len(pickled) <= lim.max_message
    assert len(wire) <= lim.max_frame
    assert len(wire) < lim.max_frame // 4        # zlib undoes most of protocol 2's doubling


# ----------------------------------------------------------------------------- small parts
def test_rate_limited_log_counts_what_it_drops(caplog: pytest.LogCaptureFixture) -> None:
    rl = _RateLimitedLog(logging.getLogger("t.rl"), period=3600)
    with caplog.at_level(logging.WARNING, "t.rl"):
        assert rl.log(logging.WARNING, "a", "refused %s", "x")
        assert not rl.log(logging.WARNING, "a", "refused %s", "y")
        assert rl.log(logging.WARNING, "b", "other %s", "z")
    assert [r.getMessage() for r in caplog.records] == ["refused x", "other z"]
    rl._last["a"] = time.monotonic() - 7200
    with caplog.at_level(logging.WARNING, "t.rl"):
        rl.log(logging.WARNING, "a", "refused %s", "w")
    assert caplog.records[-1].getMessage() == "refused w (and 1 more in the last 3600 s)"


def test_raft_tls_config_is_checked() -> None:
    with pytest.raises(TypeError):
        RaftTLS(contexts=None, accept_peer=lambda d: True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RaftTLS(contexts=lambda: (None, None), accept_peer=lambda d: True, handshake_timeout=0)  # type: ignore
    lax = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)                 # verify_mode CERT_NONE
    good = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    link = _Link(RaftTLS(contexts=lambda: (lax, good), accept_peer=lambda d: True), raft.FRAME_LIMITS)
    with pytest.raises(ValueError, match="CERT_REQUIRED"):
        link.contexts()


def test_key_ring_sends_with_one_and_accepts_several() -> None:
    old, new, other = (Fernet(Fernet.generate_key()) for _ in range(3))
    ring = raft.key_ring(old, [old, new])
    tok = ring.encrypt_at_time(b"m", 42)
    assert old.decrypt(tok) == b"m"                             # sends with `send`
    for f in (old, new):
        t = f.encrypt_at_time(b"n", 43)
        assert ring.extract_timestamp(t) == 43 and ring.decrypt(t) == b"n"
    with pytest.raises(InvalidToken):
        ring.decrypt(other.encrypt_at_time(b"x", 1))
    only_new = raft.key_ring(new, [new])
    with pytest.raises(InvalidToken):
        only_new.extract_timestamp(old.encrypt_at_time(b"x", 1))


def test_encryptor_swaps_release_every_waiter() -> None:
    sw = raft._EncryptorSwaps()
    assert sw.take() is None
    e1, e2 = sw.request("a"), sw.request("b")
    got = sw.take()
    assert got is not None and got[0] == "b" and got[1] == [e1, e2]
    assert sw.take() is None


# ----------------------------------------------------------------------------- two connections on loopback
_ROOT = RootCA.create()


def _node_tls(node_id: str, ca: RootCA = _ROOT) -> tuple[bytes, bytes, bytes]:
    key_pem, csr_pem = make_key_and_csr()
    return ca.cert_pem, ca.issue(csr_pem, node_id, "swarm-manager", "c1"), key_pem


_SERVER = raft_tls_contexts(*_node_tls("srv"))
_CLIENT_TLS = _node_tls("cli")
_CLIENT = raft_tls_contexts(*_CLIENT_TLS)


@dataclass
class Pair:
    poller: Any
    client: RaftLinkConnection
    server_link: _Link
    client_link: _Link
    listener: socket.socket
    make_server: Callable[[], RaftLinkConnection]
    server: RaftLinkConnection | None = None
    to_client: list = field(default_factory=list)
    to_server: list = field(default_factory=list)
    connected: list = field(default_factory=list)
    client_closed: list = field(default_factory=list)
    server_closed: list = field(default_factory=list)

    def pump(self, until: Callable[[], bool], bound: float = 20.0) -> None:
        deadline = time.monotonic() + bound
        while not until():
            assert time.monotonic() < deadline, "condition not reached"
            self.poller.poll(0.01)
            try:
                sock, addr = self.listener.accept()
            except BlockingIOError:
                pass
            else:
                srv = self.make_server()
                srv.setOnMessageReceivedCallback(self.to_server.append)
                srv.setOnDisconnectedCallback(lambda: self.server_closed.append(1))
                self.server = srv
                srv.accept_tls(sock, addr)
            now = time.monotonic()
            for c in (self.client, self.server):
                if c is not None:
                    c.check_deadline(now)


@pytest.fixture
def pair_factory() -> Iterator[Callable[..., Pair]]:
    made: list[Pair] = []

    def make(server_accept: Callable[[bytes], bool] = lambda d: True,
             client_ctx: Any = None, limits: FrameLimits = raft.FRAME_LIMITS,
             recv_chunk: int = 64 * 1024, read_budget: int = 1 << 20, timeout: float = 5.0,
             encryptor: Any = None) -> Pair:
        poller = PollPoller()
        cctx = client_ctx or _CLIENT
        server_link = _Link(RaftTLS(lambda: _SERVER, server_accept, timeout), limits)
        client_link = _Link(RaftTLS(lambda: cctx, lambda d: True, timeout), limits)
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(8)
        lst.setblocking(False)

        def conn(link: _Link) -> RaftLinkConnection:
            c = RaftLinkConnection(poller, link, timeout=30.0, sendBufferSize=1 << 20,
                                   recvBufferSize=1 << 20, read_budget=read_budget, recv_chunk=recv_chunk)
            c.encryptor = encryptor
            return c
        p = Pair(poller, conn(client_link), server_link, client_link, lst, lambda: conn(server_link))
        p.client.setOnMessageReceivedCallback(p.to_client.append)
        p.client.setOnConnectedCallback(lambda: p.connected.append(1))
        p.client.setOnDisconnectedCallback(lambda: p.client_closed.append(1))
        assert p.client.connect("127.0.0.1", lst.getsockname()[1])
        made.append(p)
        return p
    yield make
    for p in made:
        p.client.disconnect()
        if p.server is not None:
            p.server.disconnect()
        p.listener.close()


def test_messages_both_ways_over_tls(pair_factory: Callable[..., Pair]) -> None:
    p = pair_factory(encryptor=Fernet(Fernet.generate_key()))
    p.pump(lambda: bool(p.connected))
    assert p.client.state == 2                                   # CONNECTED once verified
    p.client.send({"hello": 1})
    p.pump(lambda: bool(p.to_server))
    assert p.server is not None and p.to_server == [{"hello": 1}]
    big = os.urandom(3 << 20)
    p.server.send("key")                       # a first frame must be small (the key exchange)
    p.server.send(("big", big))
    p.client.send("after")
    p.pump(lambda: len(p.to_client) == 2 and len(p.to_server) == 2)
    assert p.to_client == ["key", ("big", big)] and p.to_server[1] == "after"
    assert all(v == 0 for v in p.server_link.stats.values()), p.server_link.stats


def test_pending_tls_bytes_are_drained(pair_factory: Callable[..., Pair]) -> None:
    """100-byte reads and a 1-byte budget: every read leaves most of a TLS record decrypted inside
    OpenSSL, where poll() cannot see it. The last record of a message would be stranded without
    the pending() drain (the message would never arrive)."""
    p = pair_factory(recv_chunk=100, read_budget=1, timeout=120.0)   # nothing else wakes the poller
    p.pump(lambda: bool(p.connected))
    msgs = [os.urandom(n) for n in (10, 200_000, 5, 20_000)]   # the last ends mid-record
    for m in msgs:
        p.client.send(m)
    p.pump(lambda: len(p.to_server) == len(msgs))
    assert p.to_server == msgs and not p.client_closed


def test_accept_peer_false_closes_before_any_frame(pair_factory: Callable[..., Pair]) -> None:
    seen: list[bytes] = []

    def deny(der: bytes) -> bool:
        seen.append(der)
        return False
    p = pair_factory(server_accept=deny)
    p.pump(lambda: bool(p.connected))                            # TLS 1.3: client side is done first
    p.client.send("never parsed")
    p.pump(lambda: bool(p.server_closed) and bool(p.client_closed))
    assert p.to_server == [] and len(seen) == 1
    assert seen[0] == ssl.PEM_cert_to_DER_cert(_CLIENT_TLS[1].decode())     # the verified leaf
    assert p.server_link.stats["peer_rejected"] == 1


def test_client_without_certificate_fails_the_handshake(pair_factory: Callable[..., Pair]) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=_ROOT.cert_pem.decode())
    p = pair_factory(client_ctx=(ctx, ctx))
    p.pump(lambda: bool(p.server_closed))
    assert p.to_server == []
    assert p.server_link.stats["tls_handshake"] == 1


def test_oversize_frame_closes_at_once(pair_factory: Callable[..., Pair]) -> None:
    lim = FrameLimits(max_frame=10_000, max_message=50_000, first_frame=200)
    p = pair_factory(limits=lim)
    p.pump(lambda: bool(p.connected))
    p.client.send("first")
    p.pump(lambda: bool(p.to_server))
    p.client._wbuf += struct.pack("<I", 0x7FFFFFFF) + bytes(100_000)
    p.client._flush()
    p.pump(lambda: bool(p.server_closed))
    assert p.server_link.stats["frame_too_large"] == 1


def test_first_frame_cap(pair_factory: Callable[..., Pair]) -> None:
    lim = FrameLimits(max_frame=1 << 20, max_message=4 << 20, first_frame=200)
    p = pair_factory(limits=lim)
    p.pump(lambda: bool(p.connected))
    p.client.send(os.urandom(1000))
    p.pump(lambda: bool(p.server_closed))
    assert p.to_server == [] and p.server_link.stats["first_frame_too_large"] == 1


def test_zlib_bomb_is_refused(pair_factory: Callable[..., Pair]) -> None:
    lim = FrameLimits(max_frame=1 << 20, max_message=1 << 20, first_frame=1 << 20)
    p = pair_factory(limits=lim)
    p.pump(lambda: bool(p.connected))
    bomb = zlib.compress(b"\0" * (64 << 20), 9)                 # 64 MiB inflated, ~64 KiB on the wire
    p.client._wbuf += HEADER.pack(len(bomb)) + bomb
    p.client._flush()
    p.pump(lambda: bool(p.server_closed))
    assert p.to_server == [] and p.server_link.stats["bad_frame"] == 1


def test_silent_peer_is_closed_at_the_deadline(pair_factory: Callable[..., Pair]) -> None:
    p = pair_factory(timeout=0.5)
    p.pump(lambda: bool(p.connected))                            # handshake done, no frame sent
    p.pump(lambda: bool(p.server_closed))
    assert p.server_link.stats["deadline"] == 1


def test_a_frame_near_the_cap_arrives_whole(pair_factory: Callable[..., Pair]) -> None:
    """~24 MiB on the wire in 64 KiB reads (bench/store_bench.py --only frames measures the
    bytearray buffers against stock's bytes +=)."""
    p = pair_factory()
    p.pump(lambda: bool(p.connected))
    p.client.send("first")
    blob = os.urandom(16 << 20)                 # pickle protocol 2 makes it ~24 MiB
    p.client.send(blob)
    p.pump(lambda: len(p.to_server) == 2, bound=60)
    assert p.to_server[1] == blob



def test_set_raft_secrets_checks_its_arguments(tmp_path: Any) -> None:
    from swarm.store import InvalidArgumentError, Store
    s = Store("127.0.0.1:1", ["127.0.0.1:1"], tmp_path, "old")
    with pytest.raises(InvalidArgumentError):
        s.set_raft_secrets("new", ["old"])                 # must accept what it sends
    with pytest.raises(InvalidArgumentError):
        s.set_raft_secrets("", [""])
    s.set_raft_secrets("new", ["old", "new", "old"])      # before start(): recorded only
    assert s._password == "new" and s._accept == ["old", "new"]
