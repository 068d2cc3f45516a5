"""Distribution inspect: what a registry says an image reference is, as dockerd's
``GET /distribution/{name}/json`` answers it (moby ``daemon/server/router/distribution``):
the descriptor of the manifest or index the reference names and the platforms it offers.
The docker CLI pins a service's image to that digest (``name:tag@sha256:...``).

Rules (moby's ``fetchManifest``):

* a full image id (64 hex digits, with or without ``sha256:``) is refused: ``no manifest found
  for full image ID``; a reference that does not parse is an :class:`InvalidReferenceError`;
* a tag is looked up (``latest`` when there is none), a digest is fetched as it is (and
  verified); the descriptor is the manifest's media type, digest and length;
* platforms: an index or manifest list gives one per entry (``architecture``, ``os``,
  ``os.version``, ``os.features``, ``variant``); a Docker schema2 manifest the platform of its
  image config (none when the config names neither OS nor architecture, or cannot be fetched);
  an OCI manifest none at all (dockerd answers ``"Platforms": null`` for it);
* registry errors keep the registry's answer in Docker's words (``manifest unknown: manifest
  unknown``); a registry that cannot be reached (or whose certificate does not verify) is a
  :class:`RegistryLookupError`.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any

from node.images.errors import (
    ImageError,
    RegistryLookupError,
    RegistryUnavailableError,
    TLSVerificationError,
)
from node.images.reference import Reference, parse_reference
from node.images.registry import DOCKER_MANIFEST, INDEX_TYPES, RegistryClient

_FULL_ID = re.compile(r"^(?:sha256:)?[a-f0-9]{64}$")


@dataclass(frozen=True)
class Platform:
    """One platform an image offers (OCI's ``Platform``)."""

    architecture: str
    os: str
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    variant: str = ""

    @classmethod
    def from_oci(cls, doc: dict[str, Any]) -> Platform:
        return cls(architecture=str(doc.get("architecture") or ""), os=str(doc.get("os") or ""),
                   os_version=str(doc.get("os.version") or ""),
                   os_features=tuple(str(f) for f in doc.get("os.features") or ()),
                   variant=str(doc.get("variant") or ""))


@dataclass(frozen=True)
class Distribution:
    """A reference as its registry describes it; ``platforms`` empty = dockerd's ``null``."""

    media_type: str
    digest: str
    size: int
    platforms: tuple[Platform, ...]


def named_reference(name: str) -> Reference:
    """``name`` as a reference that names a repository (see the module notes)."""
    if _FULL_ID.match(name):
        raise ImageError("no manifest found for full image ID")
    return parse_reference(name)


def inspect_distribution(client: RegistryClient, name: str) -> Distribution:
    """Ask ``name``'s registry what it is (see the module notes)."""
    ref = named_reference(name)
    try:
        media, body, digest = client.get_manifest(ref)
    except (RegistryUnavailableError, TLSVerificationError) as e:
        raise RegistryLookupError(e.registry_text or str(e)) from e
    except ImageError as e:
        if e.registry_text:
            raise type(e)(e.registry_text, registry_text=e.registry_text) from e
        raise
    return Distribution(media_type=media, digest=digest, size=len(body),
                        platforms=_platforms(client, ref, media, body))


def _platforms(client: RegistryClient, ref: Reference, media: str, body: bytes) -> tuple[Platform, ...]:
    if media in INDEX_TYPES:
        entries = json.loads(body).get("manifests") or []
        return tuple(Platform.from_oci(m.get("platform") or {}) for m in entries)
    if media == DOCKER_MANIFEST:
        return _config_platform(client, ref, str(json.loads(body)["config"]["digest"]))
    return ()


def _config_platform(client: RegistryClient, ref: Reference, config_digest: str) -> tuple[Platform, ...]:
    """The platform of a schema2 image's config; none when it names none or cannot be read
    (dockerd ignores that error too)."""
    buf = io.BytesIO()
    try:
        client.fetch_blob(ref, config_digest, buf)
        doc = json.loads(buf.getvalue())
    except (ImageError, ValueError):
        return ()
    if not isinstance(doc, dict):
        return ()
    p = Platform.from_oci(doc)
    return (p,) if p.os or p.architecture else ()
