"""Certificate renewal: every node renews its certificate before it expires.

When: at a random point between 50 % and 80 % of the certificate's life (``swarm.ca.renew_at``,
swarmkit's window), drawn once per certificate so that waiting in slices does not skew it.
How: the same CA path as a role change (``NodeCA.IssueNodeCertificate`` over mTLS with the
current certificate, no token), to any known manager; a failure is retried with exponential
backoff (1 s doubling to 5 min) until the certificate expires. A renewal that comes back with a
role other than this node's (a promotion or demotion is in flight) is dropped: the role switch
fetches its own certificate.

The new certificate is used at once by everything that reads ``daemon.tls``: the manager
port's server certificate (fetched per handshake), the agent's next channel, the Raft link's
next connection. Connections already open keep the old one until they reconnect (the old
certificate stays valid until its own expiry, and is recorded for the node until then).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from swarm.ca import parse_identity, renew_at
from swarm.ca.certs import utcnow
from swarm.ca.storage import NodeTLS

log = logging.getLogger(__name__)

MAX_SLICE = 3600.0
BACKOFF_START = 1.0
BACKOFF_MAX = 300.0


class CertRenewer:
    """Runs for the life of the node's roles; ``current()`` gives the certificate in use and
    ``renew()`` fetches and installs a new one (the daemon's, which holds its lock)."""

    def __init__(self, current: Callable[[], NodeTLS | None],
                 renew: Callable[[], Awaitable[bool]]) -> None:
        self._current = current
        self._renew = renew
        self._when: dict[bytes, float] = {}
        self.renewals = 0

    def due_in(self, tls: NodeTLS) -> float:
        """Seconds until ``tls``'s certificate is due for renewal (drawn once per certificate)."""
        key = tls.cert_pem
        if key not in self._when:
            self._when = {key: renew_at(tls.cert_pem).timestamp()}
        return self._when[key] - utcnow().timestamp()

    async def run(self) -> None:
        backoff = BACKOFF_START
        while True:
            tls = self._current()
            if tls is None:
                return
            delay = self.due_in(tls)
            if delay > 0:
                await asyncio.sleep(min(delay, MAX_SLICE))
                continue
            renewed = False
            try:
                renewed = await self._renew()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                left = (parse_identity(tls.cert_pem).not_after - utcnow()).total_seconds()
                log.warning("certificate renewal failed (%s); retrying in %.0f s, %.0f s before it "
                            "expires", e, backoff, max(left, 0))
            if renewed:
                self.renewals += 1
                new = self._current()
                if new is not None:
                    ident = parse_identity(new.cert_pem)
                    log.info("node certificate renewed (serial %s, valid until %s)", ident.serial,
                             ident.not_after.isoformat())
                backoff = BACKOFF_START
                continue
            await asyncio.sleep(backoff)   # failed, or a role change is in flight
            backoff = min(backoff * 2, BACKOFF_MAX)


__all__ = ["CertRenewer"]
