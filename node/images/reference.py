"""Docker-style image references: ``[registry/][user/]name[:tag][@digest]``.

Rules (as docker/distribution's ``reference.ParseNormalizedNamed``):
* The first path component is a registry if it contains ``.`` or ``:`` or is ``localhost``;
  otherwise the registry is ``docker.io``.
* On ``docker.io`` a single-component name gets the ``library/`` prefix.
* Repository components are lowercase ``[a-z0-9]+`` joined by ``.``, ``_``, ``__`` or ``-``+.
* Tag: ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``; default ``latest`` unless a digest is given.
* Digest: ``algorithm:hex`` (sha256 = 64 hex digits).

``familiar`` is the short form users type (``nginx:latest``), ``canonical`` the full one
(``docker.io/library/nginx:latest``). ``api_host`` is where the v2 API lives
(``registry-1.docker.io`` for Docker Hub).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from node.images.errors import InvalidReferenceError

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+(?::[0-9]+)?$"
                     r"|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")


@dataclass(frozen=True)
class Reference:
    """A parsed, normalized image reference."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """``registry/repository`` (canonical name without tag or digest)."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        if self.registry == DEFAULT_REGISTRY:
            repo = self.repository
            return repo[len("library/"):] if repo.startswith("library/") else repo
        return self.name

    def _suffix(self) -> str:
        s = f":{self.tag}" if self.tag else ""
        return s + (f"@{self.digest}" if self.digest else "")

    @property
    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    @property
    def canonical(self) -> str:
        return self.name + self._suffix()

    @property
    def api_host(self) -> str:
        return "registry-1.docker.io" if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def reference(self) -> str:
        """What to ask the registry's manifests endpoint for (digest wins over tag)."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        return self.familiar


def parse_reference(s: str) -> Reference:
    """Parse and normalize ``s``; raise :class:`InvalidReferenceError` if it is invalid."""
    if not s or s != s.strip() or len(s) > 4096:
        raise InvalidReferenceError(f"invalid reference format: {s!r}")
    rest, digest = s, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidReferenceError(f"invalid reference format: bad digest in {s!r}")
        if digest.startswith("sha256:") and len(digest) != 71:
            raise InvalidReferenceError(f"invalid reference format: bad sha256 digest in {s!r}")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidReferenceError(f"invalid reference format: bad tag in {s!r}")
    parts = rest.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, parts[1:]
        if not _DOMAIN.match(registry):
            raise InvalidReferenceError(f"invalid reference format: bad registry in {s!r}")
    else:
        registry, path = DEFAULT_REGISTRY, parts
    if registry == "index.docker.io":
        registry = DEFAULT_REGISTRY
    if not path or not all(_COMPONENT.match(p) for p in path):
        if any(c.isupper() for c in rest):
            raise InvalidReferenceError(f"invalid reference format: repository name must be lowercase: {s!r}")
        raise InvalidReferenceError(f"invalid reference format: {s!r}")
    repository = "/".join(path)
    if registry == DEFAULT_REGISTRY and len(path) == 1:
        repository = "library/" + repository
    if len(repository) > 255:
        raise InvalidReferenceError(f"repository name too long: {s!r}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry, repository, tag, digest)


def is_digest(s: str) -> bool:
    return bool(_DIGEST.match(s))
