"""A one-file DNS server for tests: answers every A query with one fixed address.

    python tests/support/fakedns.py LISTEN_IP ANSWER_IP        (UDP port 53, until killed)

Stands in for a `--dns` server a service names; run in the testbed's infra namespace.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from node.network import dns  # noqa: E402


def main() -> None:
    listen, answer = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((listen, 53))
    while True:
        data, client = s.recvfrom(4096)
        try:
            q = dns.parse_question(data)
        except dns.DnsFormatError:
            continue
        ips = [answer] if q.qtype == dns.QTYPE_A else []
        s.sendto(dns.build_response(data, q, ips, ttl=5), client)


if __name__ == "__main__":
    main()
