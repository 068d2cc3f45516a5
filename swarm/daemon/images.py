"""The local image commands (`swarm image ls/rm/import`) on the node's image store, for the
daemon's API: the store is synchronous, so each call runs in a worker thread (`image pull` is
``ImageStore.pull_progress``, a stream); the distribution inspect asks the image's registry
(``ImageStore.inspect_distribution``) with the caller's X-Registry-Auth, ignored when unreadable
as dockerd ignores it. Errors are the image store's (``node.images.errors``, mapped at the RPC
edge) plus :class:`ArchiveUnreadableError` below.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from node.images import Image, ImageStore
from node.images.credentials import UnreadableAuthError, decode_registry_auth
from node.images.distribution import Distribution
from swarm.api import daemon_pb2
from swarm.daemon.errors import InvalidRequestError


class ArchiveUnreadableError(InvalidRequestError):
    """`image import` could not read the file it was given (an ``OSError`` while reading the
    caller's path): the caller's mistake, ``INVALID_ARGUMENT``."""


@dataclass(frozen=True)
class Removed:
    untagged: list[str]
    deleted: list[str]


async def list_images(store: ImageStore) -> list[Image]:
    return await asyncio.to_thread(store.list)


async def remove_image(store: ImageStore, ref: str, force: bool) -> Removed:
    lines = await asyncio.to_thread(store.remove, ref, force)
    return Removed(untagged=_after("Untagged", lines), deleted=_after("Deleted", lines))


async def import_images(store: ImageStore, path: str, ref: str | None) -> list[str]:
    """Import a tarball; the names of what it held (tags, or the id of an untagged image)."""
    try:
        imgs = await asyncio.to_thread(store.import_archive, Path(path), ref)
    except OSError as e:
        raise ArchiveUnreadableError(str(e)) from e
    return [t for img in imgs for t in (img.repo_tags or (img.id,))]


async def inspect_distribution(store: ImageStore, request: daemon_pb2.DistributionInspectRequest
                               ) -> daemon_pb2.DistributionInspectResponse:
    try:
        creds = decode_registry_auth(request.registry_auth)
    except UnreadableAuthError:
        creds = None
    found = await asyncio.to_thread(store.inspect_distribution, request.reference, creds)
    return _distribution_message(found)


def _distribution_message(d: Distribution) -> daemon_pb2.DistributionInspectResponse:
    return daemon_pb2.DistributionInspectResponse(
        media_type=d.media_type, digest=d.digest, size=d.size,
        platforms=[daemon_pb2.DistributionPlatform(architecture=p.architecture, os=p.os,
                                                   os_version=p.os_version,
                                                   os_features=list(p.os_features),
                                                   variant=p.variant)
                   for p in d.platforms])


def _after(prefix: str, lines: list[str]) -> list[str]:
    return [x.split(": ", 1)[1] for x in lines if x.startswith(prefix)]
