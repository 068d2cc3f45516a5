"""The store as its users see it: the typed seam between the replicated store and everything
built on it (the leader's components, the control API, the dispatcher, the CA server).

Design notes
------------
Code above the store depends on these protocols, never on :class:`~swarm.store.store.Store`
itself, so a component can run against the Raft store in the daemon and against an in-memory
store (the real state machine and change stream, no Raft) in unit tests with a fake clock.
Two levels, the narrower one first:

* :class:`ObjectSource` -- point reads and index lookups of stored objects; what
  :class:`~swarm.store.typed.Reader` wraps. The store, its consistent views
  (:class:`~swarm.store.state.StoreView`) and the state machine itself all provide it.
* :class:`ObjectStore` -- an :class:`ObjectSource` that also takes atomic batched writes
  (optimistic concurrency in the actions), gives consistent views and the change stream.
* :class:`ReplicatedStore` -- an :class:`ObjectStore` that knows about Raft leadership; the
  control API and the role manager need it, the reconcilers do not.

The Raft-specific operations (membership, secrets, snapshots, status) stay on ``Store``: only the
manager role and the daemon use them.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Protocol

from .events import Subscription
from .state import StoreView
from .types import Action, StoredObject


class ObjectSource(Protocol):
    def get(self, table: str, id: str) -> StoredObject | None: ...

    def list(self, table: str) -> builtins.list[StoredObject]: ...

    def find(self, table: str, index: str, key: str) -> builtins.list[StoredObject]: ...

    def find_unique(self, table: str, index: str, key: str) -> StoredObject | None: ...


class ObjectStore(ObjectSource, Protocol):
    async def apply(self, actions: Sequence[Action], timeout: float = 5.0) -> int:
        """Apply all of ``actions`` atomically; return the commit index. Raises a StoreError."""
        ...

    @property
    def index(self) -> int:
        """The index of the last applied commit."""
        ...

    def view(self) -> StoreView:
        """A consistent, immutable view of every table at one index."""
        ...

    def subscribe(self) -> Subscription:
        """The change stream from now on (call from the loop that iterates it)."""
        ...


class ReplicatedStore(ObjectStore, Protocol):
    def is_leader(self) -> bool: ...

    def leader(self) -> str | None: ...

    async def barrier(self, timeout: float = 5.0) -> int:
        """Linearizable read barrier: afterwards local reads include every write committed
        before the call."""
        ...


__all__ = ["ObjectSource", "ObjectStore", "ReplicatedStore"]
