"""Digest pinning of a service's image, as Docker's client library does it before
``service create|update`` (moby ``client/service_create.go``: ``imageWithTagString``,
``resolveContainerSpecImage``, ``imageDigestAndPlatforms``, ``digestWarning``).

* The image always gets ``:latest`` when it names neither a tag nor a digest, in its familiar
  form (``docker.io/library/busybox`` -> ``busybox:latest``).
* With resolution on, the daemon this CLI talks to asks the image's registry
  (``DistributionInspect``, Docker's ``GET /distribution/{name}/json``), with the spec's
  ``--with-registry-auth`` credentials if any. The image becomes ``name:tag@sha256:...`` (an image
  that already has a digest keeps it) and the registry's platforms become the task's placement
  platforms: ``unknown`` ones (attestations) skipped, ``arm`` without its architecture (swarmkit
  #2294), duplicates dropped.
* When the registry cannot be asked the image stays as it is and :data:`DIGEST_WARNING` is the
  warning the command prints with the answer's own warnings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from swarm.api import daemon_pb2, specs_pb2, types_pb2
from swarm.cli.client import CLIError

DIGEST_WARNING = (
    "image {0} could not be accessed on a registry to record\n"
    "its digest. Each node will access {0} independently,\n"
    "possibly leading to different nodes running different\n"
    "versions of the image.\n"
)
_HUBS = ("docker.io/", "index.docker.io/")
_LIBRARY = "library/"


def familiar(image: str) -> str:
    """Docker Hub's names without their domain (and ``library/`` for official images)."""
    for hub in _HUBS:
        if image.startswith(hub):
            rest = image[len(hub):]
            name = rest.split("@", 1)[0]
            if name.startswith(_LIBRARY) and "/" not in name[len(_LIBRARY):]:
                rest = rest[len(_LIBRARY):]
            return rest
    return image


def has_tag(image: str) -> bool:
    """The reference names a tag (``name:tag``, ``host:5000/name:tag@sha256:...``)."""
    return ":" in image.split("@", 1)[0].rsplit("/", 1)[-1]


def tagged(image: str) -> str:
    """``image`` with ``:latest`` when it has neither tag nor digest (``imageWithTagString``)."""
    if not image or any(c.isspace() for c in image):
        return image
    image = familiar(image)
    return image if "@" in image or has_tag(image) else image + ":latest"


def with_digest(image: str, digest: str) -> str:
    """``image@digest`` unless ``image`` is pinned already (``imageWithDigestString``)."""
    return image if "@" in image else f"{image}@{digest}"


def swarm_platforms(found: Iterable[daemon_pb2.DistributionPlatform]) -> list[types_pb2.Platform]:
    """The registry's platforms as placement platforms (see the module notes)."""
    out: list[types_pb2.Platform] = []
    for p in found:
        if p.os == "unknown" or p.architecture == "unknown":
            continue
        arch = "" if p.architecture.lower() == "arm" else p.architecture
        plat = types_pb2.Platform(os=p.os, architecture=arch)
        if plat not in out:
            out.append(plat)
    return out


def pin_image(cl: Any, spec: specs_pb2.ServiceSpec, resolve: bool) -> str | None:
    """Tag ``spec``'s image and, if ``resolve``, pin it to its registry's digest; the warning to
    print when the registry could not be asked, else None."""
    c = spec.task.container
    c.image = tagged(c.image)
    if not resolve or not c.image:
        return None
    request = daemon_pb2.DistributionInspectRequest(reference=c.image,
                                                    registry_auth=c.pull_options.registry_auth)
    try:
        found = cl.call(cl.daemon.DistributionInspect, request)
    except CLIError:
        return DIGEST_WARNING.format(c.image)
    c.image = with_digest(c.image, found.digest)
    platforms = swarm_platforms(found.platforms)
    if platforms:
        del spec.task.placement.platforms[:]
        spec.task.placement.platforms.extend(platforms)
    return None


def keep_pinned(spec: specs_pb2.ServiceSpec, current: specs_pb2.ServiceSpec) -> None:
    """``spec`` keeps the image (and platforms) ``current`` was pinned to: a re-deploy of an
    unchanged image without resolution."""
    spec.task.container.image = current.task.container.image
    if list(spec.task.placement.platforms) != list(current.task.placement.platforms):
        del spec.task.placement.platforms[:]
        spec.task.placement.platforms.extend(current.task.placement.platforms)
