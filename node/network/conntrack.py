"""Forget UDP flows to removed backends (what kube-proxy does; IPVS has expire_nodest_conn).

NAT decisions live in conntrack: a UDP client that keeps sending from the same port keeps
refreshing its entry and would stay pinned to a backend that was removed from the balancer
(a dead task, forever). So after a balancer change, UDP entries whose DNAT target is a
removed backend are deleted; the next datagram is balanced afresh.

TCP entries are left alone on purpose: a backend taken out of the balancer may still be
draining (stop grace period, rolling update), and killing its in-flight connections would
turn a graceful update into errors. Connections to a really dead backend fail by themselves.

Runs in the calling thread's namespace (a sandbox's or the ingress sbox's ns thread).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable

from pyroute2 import Conntrack
from pyroute2.netlink.exceptions import NetlinkError as PyNetlinkError

log = logging.getLogger(__name__)
IPS_DST_NAT = 0x20
ENOENT = 2


def flush_udp_to(backends: Iterable[str]) -> int:
    """Delete DNATed UDP entries whose real destination is in ``backends``; returns the count."""
    gone = set(backends)
    if not gone:
        return 0
    n = 0
    with Conntrack() as ct:
        doomed = [e for e in ct.dump_entries()
                  if e.tuple_orig.proto == socket.IPPROTO_UDP and (e.status or 0) & IPS_DST_NAT
                  and e.tuple_reply.saddr in gone]
        for e in doomed:
            try:
                ct.delete(e)
                n += 1
            except PyNetlinkError as err:
                if err.code != ENOENT:
                    raise
    if n:
        log.debug("flushed %d UDP conntrack entries to %s", n, sorted(gone))
    return n


def removed_backends(old: Iterable[tuple[str, ...]], new: Iterable[tuple[str, ...]]) -> set[str]:
    """Backends present in any old set but in no new set."""
    return {b for bs in old for b in bs} - {b for bs in new for b in bs}
