"""Which node certificates are still good: issued serials per node, a revocation list per cluster.

A certificate says who its holder *was* when it was signed; it stays valid for its whole life
(90 days by default). So the store keeps, on each ``Node``, the certificates issued to it that
have not expired (``Node.certificates``), and, on the ``Cluster``, the ones that must no longer
be accepted though they have not expired (``Cluster.revoked_certificates``):

* demoting a manager revokes its manager certificates (it is told to fetch a worker one);
* removing a node revokes all of its certificates (``removed_nodes`` refuses the node id too).

Revoked entries are dropped once the certificate would have expired anyway, so the list stays
as small as the set of live revoked certificates. Every check that matters reads these lists:
the manager port's authorizer, the CA's renewals, the Raft link's peer check, and workers (who
receive the revoked serials with their session messages).

Pure functions over the protobuf objects; callers write the objects they change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from swarm.api.objects_pb2 import Cluster, IssuedCertificate, Node, RevokedCertificate
from swarm.api.types_pb2 import MANAGER, WORKER
from swarm.ca.certs import Role, load_certificate, utcnow


def serial_of(cert_pem: bytes) -> str:
    return format(load_certificate(cert_pem).serial_number, "x")


def _ts(when: dt.datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(when)
    return t


def _expired(not_after: Timestamp, now: dt.datetime) -> bool:
    return not_after.ToDatetime(tzinfo=dt.UTC) < now


def record_issued(node: Node, cert_pem: bytes, now: dt.datetime | None = None) -> None:
    """Remember a certificate just signed for ``node`` (and forget its expired ones)."""
    now = now or utcnow()
    cert = load_certificate(cert_pem)
    from swarm.ca.certs import parse_identity

    ident = parse_identity(cert)
    keep = [c for c in node.certificates if not _expired(c.not_after, now)]
    del node.certificates[:]
    node.certificates.extend(keep)
    node.certificates.append(IssuedCertificate(
        serial=ident.serial, role=MANAGER if ident.role is Role.MANAGER else WORKER,
        not_after=_ts(cert.not_valid_after_utc)))


def revoke(cluster: Cluster, node: Node, *, roles: Iterable[int] = (MANAGER, WORKER),
           now: dt.datetime | None = None) -> list[str]:
    """Put ``node``'s live certificates of ``roles`` on the cluster's revocation list; returns
    the serials newly revoked. Expired entries of the list are dropped on the way."""
    now = now or utcnow()
    wanted = set(roles)
    prune(cluster, now)
    already = {r.serial for r in cluster.revoked_certificates}
    added = []
    for c in node.certificates:
        if c.role in wanted and c.serial not in already and not _expired(c.not_after, now):
            cluster.revoked_certificates.append(
                RevokedCertificate(serial=c.serial, node_id=node.id, not_after=c.not_after))
            added.append(c.serial)
    return added


def prune(cluster: Cluster, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    keep = [r for r in cluster.revoked_certificates if not _expired(r.not_after, now)]
    if len(keep) != len(cluster.revoked_certificates):
        del cluster.revoked_certificates[:]
        cluster.revoked_certificates.extend(keep)


def revoked_serials(cluster: Cluster | None) -> frozenset[str]:
    if cluster is None:
        return frozenset()
    return frozenset(r.serial for r in cluster.revoked_certificates)


def is_recorded(node: Node, serial: str) -> bool:
    """True when ``serial`` is one of the certificates issued to ``node`` (not yet expired)."""
    return any(c.serial == serial for c in node.certificates)


__all__ = ["is_recorded", "prune", "record_issued", "revoke", "revoked_serials", "serial_of"]
