"""Resolving what users type (full id, unique id prefix, or name) to one object."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from swarm.controlapi.errors import AmbiguousError, NotFoundError

T = TypeVar("T")


def resolve(ref: str, items: Sequence[T], kind: str, name_of: Callable[[T], str]) -> T:
    """Docker's order: exact id, then exact name, then unique id prefix."""
    if not ref:
        raise NotFoundError(f"{kind} name or ID must be provided")
    for it in items:
        if it.id == ref:  # type: ignore[attr-defined]
            return it
    named = [it for it in items if name_of(it) == ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise AmbiguousError(f"{kind} {ref} is ambiguous ({len(named)} matches found)")
    pref = [it for it in items if it.id.startswith(ref)]  # type: ignore[attr-defined]
    if len(pref) == 1:
        return pref[0]
    if len(pref) > 1:
        raise AmbiguousError(f"multiple {kind}s found with provided prefix: {ref}")
    raise NotFoundError(f"no such {kind}: {ref}")
