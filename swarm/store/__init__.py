"""swarm/store: the Raft-replicated object store (pysyncobj underneath).

Versioned opaque objects in typed tables, atomic batches with optimistic concurrency, secondary and
unique indexes, consistent views and a change stream (its multi-process test harness is
``tests/support/store_harness.py``). Modules:

    types.py       StoredObject, Action, Event, Commit, Reset, the table set, the wire form
    errors.py      the exception tree (retry decision in the type)
    state.py       the deterministic state machine (pure; the replicated apply), views
    events.py      the bounded commit ring and asyncio subscriptions
    raft.py        the SyncObj subclass, its configuration, failure mapping, secret rotation
    raftlink.py    the Raft port's transport: mutual TLS 1.3, accept_peer, frame caps, deadlines
    snapshot.py    Raft snapshots written from a copy-on-write view by a worker thread
    bridge.py      tick thread -> asyncio hand-off
    protocol.py    ObjectSource / ObjectStore / ReplicatedStore: the typed seam users depend on
    store.py       Store: the public API (Raft), implements ReplicatedStore
    membership.py  add/remove member, leadership transfer

Domain code does not import grpc; callers serialize their protobufs to bytes themselves.
"""

from ._pysyncobj_import import import_pysyncobj

import_pysyncobj()  # first: pysyncobj breaks socket.inet_ntop process-wide (see that module)

from .bridge import wait_for
from .errors import (  # noqa: E402
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    MembershipError,
    NameConflictError,
    NoLeaderError,
    NotFoundError,
    NotLeaderError,
    QueueFullError,
    StoreError,
    TemporaryStoreError,
    UnknownOutcomeError,
)
from .events import Subscription
from .protocol import ObjectSource, ObjectStore, ReplicatedStore
from .raftlink import RaftTLS, raft_tls_contexts
from .state import StoreView
from .store import Store
from .types import TABLES, Action, Commit, Event, Reset, StoredObject

__all__ = [
    "TABLES",
    "Action",
    "AlreadyExistsError",
    "Commit",
    "ConflictError",
    "Event",
    "InvalidArgumentError",
    "MembershipError",
    "NameConflictError",
    "NoLeaderError",
    "NotFoundError",
    "NotLeaderError",
    "ObjectSource",
    "ObjectStore",
    "QueueFullError",
    "RaftTLS",
    "ReplicatedStore",
    "Reset",
    "Store",
    "StoreError",
    "StoreView",
    "StoredObject",
    "Subscription",
    "TemporaryStoreError",
    "UnknownOutcomeError",
    "raft_tls_contexts",
    "wait_for",
]
