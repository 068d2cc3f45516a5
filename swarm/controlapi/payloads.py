"""What secrets and configs share: names, sizes, filters, references from services.

Both are small named payloads, immutable but for their labels, refused for removal while a
service refers to them, and given to the tasks that name them (swarmkit's
``controlapi/secret.go`` and ``config.go``, whose messages are kept).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from swarm.api.objects_pb2 import Service
from swarm.controlapi.common import Context
from swarm.controlapi.errors import InvalidArgumentError

#: reference §0: the name rule of secrets and configs.
NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")
MAX_NAME = 64
MAX_SECRET = 500 * 1024
MAX_CONFIG = 1000 * 1024


class _Annotated(Protocol):
    id: str

    @property
    def spec(self) -> Any: ...


T = TypeVar("T", bound=_Annotated)


def validate_name(name: str) -> None:
    if not name:
        raise InvalidArgumentError("name must be provided")
    if len(name) > MAX_NAME or not NAME.match(name):
        raise InvalidArgumentError("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start "
                                   "and end character must be [a-zA-Z0-9]")


def validate_labels(labels: Any) -> None:
    for key in labels:
        if not key:
            raise InvalidArgumentError("label key must not be empty")


def validate_payload(kind: str, data: bytes, limit: int) -> None:
    if len(data) >= limit or len(data) < 1:
        raise InvalidArgumentError(f"{kind} data must be larger than 0 and less than {limit} bytes")


TEMPLATE_DRIVERS = ("golang",)


def validate_templating(kind: str, driver: str) -> None:
    """``--template-driver``: none, or Go's templates (rendered per task on the node)."""
    if driver and driver not in TEMPLATE_DRIVERS:
        raise InvalidArgumentError(f"{kind} template driver {driver!r} is not supported: only golang")


def filtered(items: Sequence[T], f: Any) -> list[T]:
    """The list filters of ListSecrets/ListConfigs: names, name and id prefixes, labels."""
    out = list(items)
    if f.names:
        out = [i for i in out if i.spec.annotations.name in f.names]
    if f.name_prefixes:
        out = [i for i in out if any(i.spec.annotations.name.startswith(p) for p in f.name_prefixes)]
    if f.id_prefixes:
        out = [i for i in out if any(i.id.startswith(p) for p in f.id_prefixes)]
    for k, v in f.labels.items():
        out = [i for i in out
               if k in i.spec.annotations.labels and (not v or i.spec.annotations.labels[k] == v)]
    return sorted(out, key=lambda i: i.spec.annotations.name)


def services_using(ctx: Context, refs_of: Callable[[Service], Iterable[str]], object_id: str) -> list[str]:
    """Names of the services whose spec refers to ``object_id``."""
    return sorted(s.spec.annotations.name for s in ctx.read.list(Service) if object_id in set(refs_of(s)))


def in_use_message(kind: str, name: str, services: Sequence[str]) -> str:
    plural = "s" if len(services) > 1 else ""
    return f"{kind} '{name}' is in use by the following service{plural}: {', '.join(services)}"


def only_labels_changed(old: Any, new: Any, fields: Sequence[str]) -> None:
    """Secrets and configs are immutable: an update may change the labels only."""
    if new.annotations.name != old.annotations.name or any(
            getattr(new, f) != getattr(old, f) for f in fields):
        raise InvalidArgumentError("only updates to Labels are allowed")
