"""DNS codec, record table, resolv.conf and the resolver's answer logic (no sockets in sandboxes)."""

from __future__ import annotations

import struct

import pytest

from node.network import ServiceEntry, dns
from node.network.resolver import DnsServer


def test_query_roundtrip() -> None:
    q = dns.build_query("Tasks.Web.", qid=7)
    parsed = dns.parse_question(q)
    assert (parsed.id, parsed.name, parsed.qtype, parsed.end) == (7, "tasks.web", 1, len(q))
    resp = dns.build_response(q, parsed, ["10.0.1.3", "10.0.1.4"], ttl=5)
    qid, flags = struct.unpack("!HH", resp[:4])
    assert qid == 7 and flags & 0x8000 and flags & 0x0100 and flags & 0x0400  # QR, RD copied, AA
    assert dns.parse_answer_ips(resp) == (0, ["10.0.1.3", "10.0.1.4"])


def test_nodata_for_other_types_and_errors() -> None:
    q = dns.build_query("web", dns.QTYPE_AAAA)
    resp = dns.build_response(q, dns.parse_question(q), ["10.0.1.3"])
    assert dns.parse_answer_ips(resp) == (0, [])
    q = dns.build_query("web")
    resp = dns.build_response(q, dns.parse_question(q), rcode=dns.RCODE_SERVFAIL)
    assert dns.parse_answer_ips(resp) == (2, [])


def test_compression_pointer_and_malformed() -> None:
    # header + question whose name is a pointer to a name stored after it
    body = dns.encode_name("web")
    msg = struct.pack("!6H", 1, 0x100, 1, 0, 0, 0) + b"\xc0\x12" + struct.pack("!HH", 1, 1) + body
    assert dns.parse_question(msg).name == "web"
    for bad in (b"", b"\x00" * 11, struct.pack("!6H", 1, 0x8000, 1, 0, 0, 0) + b"\x00\x00\x01\x00\x01",
                struct.pack("!6H", 1, 0, 1, 0, 0, 0) + b"\x05ab"):
        with pytest.raises(dns.DnsFormatError):
            dns.parse_question(bad)
    loop = struct.pack("!6H", 1, 0x100, 1, 0, 0, 0) + b"\xc0\x0c"
    with pytest.raises(dns.DnsFormatError):
        dns.parse_question(loop)


def test_records() -> None:
    rec = dns.build_records([
        ServiceEntry("s1", "Web", aliases=("www",), vip="10.0.1.2", backends=("10.0.1.3", "10.0.1.4")),
        ServiceEntry("s2", "rr", dnsrr=True, backends=("10.0.1.5",)),
        ServiceEntry("s3", "empty", vip="10.0.1.9"),
    ])
    assert rec["web"] == ("10.0.1.2",) and rec["www"] == ("10.0.1.2",)
    assert rec["tasks.web"] == rec["tasks.www"] == ("10.0.1.3", "10.0.1.4")
    assert rec["rr"] == rec["tasks.rr"] == ("10.0.1.5",)
    assert rec["empty"] == ("10.0.1.9",) and rec["tasks.empty"] == ()


def test_resolv_conf() -> None:
    host = "# hi\nsearch corp.example\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.1.1.1\n"
    assert dns.sandbox_resolv_conf(host) == \
        "search corp.example\nnameserver 127.0.0.11\noptions ndots:0\n"
    assert dns.host_nameservers(host) == ["127.0.0.53", "10.1.1.1"]
    assert dns.sandbox_resolv_conf("") == "nameserver 127.0.0.11\noptions ndots:0\n"


def test_resolver_answer_logic() -> None:
    table = {("c1", "web"): ("10.0.1.2",), ("c1", "tasks.none"): ()}
    srv = DnsServer(lambda cid, name: table.get((cid, name)), upstreams=["192.0.2.53"])
    try:
        q = dns.build_query("web")
        assert dns.parse_answer_ips(srv.answer("c1", q)) == (0, ["10.0.1.2"])  # type: ignore[arg-type]
        assert dns.parse_answer_ips(srv.answer("c1", dns.build_query("tasks.none"))) == (0, [])  # type: ignore[arg-type]
        assert srv.answer("c1", dns.build_query("example.org")) is None       # forward
        assert srv.answer("c2", q) is None                                   # other sandbox
        formerr = srv.answer("c1", struct.pack("!6H", 9, 0x100, 2, 0, 0, 0))
        assert formerr is not None and struct.unpack("!HH", formerr[:4]) == (9, 0x8001)
    finally:
        srv.close()
    lonely = DnsServer(lambda cid, name: None, upstreams=[])
    try:
        assert dns.parse_answer_ips(lonely.answer("c1", dns.build_query("x.org")))[0] == 2  # type: ignore[arg-type]
    finally:
        lonely.close()


def test_sandbox_resolv_conf_with_the_tasks_search_and_options() -> None:
    host = "search corp.example\nnameserver 10.1.1.1\noptions timeout:1\n"
    assert dns.sandbox_resolv_conf(host, ["a.test", "b.test"], ["timeout:2", "attempts:3"]) == \
        "search a.test b.test\nnameserver 127.0.0.11\noptions timeout:2 attempts:3 ndots:0\n"
    assert dns.sandbox_resolv_conf(host, [], ["ndots:2"]) == \
        "search corp.example\nnameserver 127.0.0.11\noptions ndots:2\n"      # the task's ndots wins


def test_a_sandbox_with_its_own_nameservers_forwards_there_only_while_it_exists() -> None:
    srv = DnsServer(lambda cid, name: None, upstreams=[])
    try:
        srv._sb_upstreams["c1"] = ["192.0.2.9"]         # as add_sandbox(.., upstreams) records it
        assert srv.upstreams("c1") == ["192.0.2.9"] and srv.upstreams("c2") == []
        assert srv.answer("c1", dns.build_query("x.org")) is None                  # forwarded
        assert dns.parse_answer_ips(srv.answer("c2", dns.build_query("x.org")))[0] == 2  # type: ignore[arg-type]
        srv.remove_sandbox("c1")
        assert srv.upstreams("c1") == []
    finally:
        srv.close()
