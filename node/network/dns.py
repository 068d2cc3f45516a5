"""A small DNS codec (A queries only) and the service record table - pure, no I/O.

Only what an embedded resolver needs: parse one question, build an answer with A records
(name compressed as a pointer to the question), NODATA for other types of a known name,
SERVFAIL. Anything else is forwarded verbatim by the server, so the codec never has to
understand it (EDNS, AAAA, PTR, MX ... pass through untouched).

Records follow Docker (swarm-behavior §8.4): ``<service>`` and each alias -> the VIP on that
network (vip mode) or every task IP (dnsrr); ``tasks.<service>`` / ``tasks.<alias>`` -> every
task IP. Names are case-insensitive and compared without the trailing dot.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from node.network.model import ServiceEntry

QTYPE_A = 1
QTYPE_AAAA = 28
QCLASS_IN = 1
RCODE_OK = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3


class DnsFormatError(ValueError):
    """A malformed DNS message (answered with FORMERR or dropped)."""


@dataclass(frozen=True)
class Question:
    id: int
    flags: int
    name: str            # lower case, no trailing dot
    qtype: int
    qclass: int
    end: int             # offset just past the question section


def _read_name(data: bytes, off: int) -> tuple[str, int]:
    labels: list[str] = []
    end = -1
    hops = 0
    while True:
        if off >= len(data):
            raise DnsFormatError("name runs past the message")
        n = data[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(data) or hops > 16:
                raise DnsFormatError("bad compression pointer")
            if end < 0:
                end = off + 2
            off = ((n & 0x3F) << 8) | data[off + 1]
            hops += 1
            continue
        if n & 0xC0:
            raise DnsFormatError("bad label type")
        off += 1
        if n == 0:
            break
        labels.append(data[off:off + n].decode("ascii", errors="replace"))
        off += n
    return ".".join(labels).lower(), (end if end >= 0 else off)


def parse_question(data: bytes) -> Question:
    if len(data) < 12:
        raise DnsFormatError("short header")
    qid, flags, qd, _an, _ns, _ar = struct.unpack("!6H", data[:12])
    if flags & 0x8000 or qd != 1:
        raise DnsFormatError("not a single-question query")
    name, off = _read_name(data, 12)
    if off + 4 > len(data):
        raise DnsFormatError("short question")
    qtype, qclass = struct.unpack("!HH", data[off:off + 4])
    return Question(qid, flags, name, qtype, qclass, off + 4)


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise DnsFormatError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def build_query(name: str, qtype: int = QTYPE_A, qid: int = 0x1234) -> bytes:
    """A recursive query (used by tests and the bench)."""
    return struct.pack("!6H", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack("!HH", qtype, QCLASS_IN)


def build_response(query: bytes, q: Question, ips: Iterable[str] = (), rcode: int = RCODE_OK,
                   ttl: int = 600) -> bytes:
    """Answer ``query``: QR, AA, RA set, RD and opcode copied, the question echoed."""
    answers = b""
    count = 0
    if rcode == RCODE_OK and q.qtype == QTYPE_A and q.qclass == QCLASS_IN:
        for ip in ips:
            answers += struct.pack("!HHHIH", 0xC00C, QTYPE_A, QCLASS_IN, ttl, 4)
            answers += ipaddress.IPv4Address(ip).packed
            count += 1
    flags = 0x8000 | (q.flags & 0x7900) | 0x0400 | 0x0080 | (rcode & 0xF)
    return struct.pack("!6H", q.id, flags, 1, count, 0, 0) + query[12:q.end] + answers


def parse_answer_ips(data: bytes) -> tuple[int, list[str]]:
    """(rcode, A record addresses) of a response - for tests and the bench."""
    _id, flags, qd, an, _ns, _ar = struct.unpack("!6H", data[:12])
    off = 12
    for _ in range(qd):
        _n, off = _read_name(data, off)
        off += 4
    ips: list[str] = []
    for _ in range(an):
        _n, off = _read_name(data, off)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", data[off:off + 10])
        off += 10
        if rtype == QTYPE_A and rdlen == 4:
            ips.append(str(ipaddress.IPv4Address(data[off:off + 4])))
        off += rdlen
    return flags & 0xF, ips


def build_records(services: Iterable[ServiceEntry]) -> dict[str, tuple[str, ...]]:
    """name -> addresses for one network."""
    rec: dict[str, tuple[str, ...]] = {}
    for svc in sorted(services, key=lambda s: s.service_id):
        tasks = tuple(svc.backends)
        main = tasks if svc.dnsrr or svc.vip is None else (svc.vip,)
        for n in (svc.name, *svc.aliases):
            n = n.lower().rstrip(".")
            rec.setdefault(n, main)
            rec.setdefault("tasks." + n, tasks)
    return rec


def sandbox_resolv_conf(host_resolv: str, search: Iterable[str] = (), options: Iterable[str] = ()) -> str:
    """resolv.conf for a container: our resolver; the task's search domains (``--dns-search``)
    or else the host's; the task's options (``--dns-option``) with ``ndots:0`` unless they set
    ndots themselves (libnetwork's rule for the embedded DNS)."""
    search, options = list(search), list(options)
    if search:
        lines = ["search " + " ".join(search)]
    else:
        lines = [ln for ln in host_resolv.splitlines() if ln.split()[:1] in (["search"], ["domain"])][:1]
    if not any(o.startswith("ndots:") for o in options):
        options.append("ndots:0")
    return "\n".join([*lines, "nameserver 127.0.0.11", "options " + " ".join(options)]) + "\n"


def host_nameservers(host_resolv: str) -> list[str]:
    """IPv4 nameservers of the host's resolv.conf (ours at 127.0.0.11 skipped)."""
    out = []
    for ln in host_resolv.splitlines():
        parts = ln.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and parts[1] != "127.0.0.11":
            try:
                out.append(str(ipaddress.IPv4Address(parts[1])))
            except ValueError:
                continue
    return out
