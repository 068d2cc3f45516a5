"""Node image store: OCI/Docker registry pulls, archive import, content-addressed layers.

Public API::

    store = ImageStore(Path("/var/lib/swarm/images"), insecure_registries=["10.0.0.1:5000"])
    img = store.pull("127.0.0.1:5000/demo/web:1", progress=None)
    img.layers      # unpacked layer dirs, bottom -> top (overlayfs lower dirs)
    img.config      # entrypoint, cmd, env, workdir, user, exposed_ports, labels
    store.get(ref) / store.list() / store.remove(ref, force=False) / store.import_archive(path)
    parse_reference("nginx") -> Reference("docker.io", "library/nginx", "latest", None)

Errors: :mod:`node.images.errors` (``ImageError`` tree, ``RegistryUnavailableError`` is
temporary).
"""

from node.images.errors import (
    AuthError,
    DigestMismatchError,
    ImageError,
    ImageInUseError,
    ImageNotFoundError,
    InvalidReferenceError,
    RegistryUnavailableError,
    TLSVerificationError,
    UnsupportedImageError,
)
from node.images.model import Image, ImageConfig
from node.images.reference import Reference, parse_reference
from node.images.store import ImageStore

__all__ = [
    "AuthError",
    "DigestMismatchError",
    "Image",
    "ImageConfig",
    "ImageError",
    "ImageInUseError",
    "ImageNotFoundError",
    "ImageStore",
    "InvalidReferenceError",
    "Reference",
    "RegistryUnavailableError",
    "TLSVerificationError",
    "UnsupportedImageError",
    "parse_reference",
]
