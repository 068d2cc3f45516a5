"""Pull one image reference into the store.

Steps: manifest (resolving an index/list to this host's platform, ``linux/amd64`` on x86_64)
-> config blob (digest verified, kept in ``blobs/``) -> for each layer not yet unpacked
(keyed by the config's ``rootfs.diff_ids``): stream the blob into ``tmp/``, verify its
digest, unpack it into a ``tmp/`` directory verifying the diff_id, rename it into
``layers/``; delete the blob. Only then is the image registered and tagged, so an error at
any step leaves the store as it was. ``progress(what, done, total)`` is called with
``what`` = the short layer digest (or ``"manifest"``/``"config"``).
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
from typing import TYPE_CHECKING, Any

from node.images.errors import DigestMismatchError, ImageError, UnsupportedImageError
from node.images.model import Image
from node.images.reference import Reference
from node.images.registry import INDEX_TYPES, MANIFEST_TYPES, RegistryClient
from node.images.unpack import unpack_layer

if TYPE_CHECKING:
    from node.images.store import ImageStore, Progress

log = logging.getLogger(__name__)

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "i686": "386"}
LAYER_TYPES = ("application/vnd.oci.image.layer.v1.tar+gzip",
               "application/vnd.oci.image.layer.v1.tar",
               "application/vnd.docker.image.rootfs.diff.tar.gzip",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
               "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")


def host_platform() -> tuple[str, str]:
    return "linux", _ARCH.get(platform.machine(), platform.machine())


def choose_manifest(index: dict[str, Any], ref: Reference) -> str:
    """Pick this host's platform from an index/list; return the manifest digest."""
    os_, arch = host_platform()
    candidates = []
    for m in index.get("manifests") or []:
        p = m.get("platform") or {}
        if p.get("os") == os_ and p.get("architecture") == arch:
            candidates.append(m)
    if not candidates:
        plats = [m.get("platform") or {} for m in index.get("manifests") or []]
        have = sorted({f"{p.get('os')}/{p.get('architecture')}" for p in plats})
        raise UnsupportedImageError(f"{ref.familiar}: no manifest for {os_}/{arch} (has {', '.join(have)})")
    if arch == "arm64":   # prefer v8 over other variants
        candidates.sort(key=lambda m: (m.get("platform") or {}).get("variant") not in (None, "v8"))
    return str(candidates[0]["digest"])


def pull_image(store: ImageStore, ref: Reference, progress: Progress | None = None,
               client: RegistryClient | None = None) -> Image:
    client = client or store.client
    media, body, top_digest = client.get_manifest(ref)
    if progress:
        progress("manifest", len(body), len(body))
    if media in INDEX_TYPES:
        digest = choose_manifest(json.loads(body), ref)
        media, body, _ = client.get_manifest(ref, digest)
    if media not in MANIFEST_TYPES:
        raise UnsupportedImageError(f"{ref.familiar}: unsupported manifest type {media!r}")
    manifest = json.loads(body)
    cfg_desc = manifest["config"]
    cfg_digest = str(cfg_desc["digest"])
    tmp = store.tmpdir("pull")
    try:
        cfg_path = store.root / "blobs/sha256" / cfg_digest.split(":", 1)[1]
        if not cfg_path.exists():       # known config (content addressed): no need to fetch
            cfg_path = tmp / "config"
            with open(cfg_path, "wb") as f:
                client.fetch_blob(ref, cfg_digest, f)
        raw_cfg = cfg_path.read_bytes()
        config = json.loads(raw_cfg)
        if progress:
            progress("config", len(raw_cfg), len(raw_cfg))
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        layers = manifest.get("layers") or []
        if len(diff_ids) != len(layers):
            raise ImageError(f"{ref.familiar}: config lists {len(diff_ids)} diff_ids for "
                             f"{len(layers)} layers")
        for desc, diff_id in zip(layers, diff_ids, strict=True):
            if store.has_layer(diff_id):
                continue
            mt = desc.get("mediaType", "")
            if mt not in LAYER_TYPES:
                raise UnsupportedImageError(f"{ref.familiar}: unsupported layer type {mt!r}")
            _pull_layer(store, client, ref, desc, diff_id, tmp, progress)
        store.put_blob(cfg_digest, raw_cfg)
        store.put_blob(top_digest, body) if media in MANIFEST_TYPES else None
        img = store.register(cfg_digest, config, diff_ids, [ref], manifest_digest=top_digest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("pulled %s (%s, %d layers)", ref.familiar, img.short_id, len(img.layers))
    return img


def _pull_layer(store: ImageStore, client: RegistryClient, ref: Reference, desc: dict[str, Any],
                diff_id: str, tmp: Any, progress: Progress | None) -> None:
    digest = str(desc["digest"])
    total = int(desc.get("size") or 0)
    short = digest.split(":", 1)[1][:12]
    blob = tmp / digest.replace(":", "-")
    cb = (lambda n: progress(short, n, total)) if progress else None
    with open(blob, "wb") as f:
        size = client.fetch_blob(ref, digest, f, cb)
    if total and size != total:
        raise DigestMismatchError(f"layer {digest}: size {size} != {total} from the manifest")
    dest = tmp / ("layer-" + short)
    with open(blob, "rb") as f:
        unpack_layer(f, dest, digest=digest, diff_id=diff_id)
    blob.unlink()
    store.commit_layer(dest, diff_id)
