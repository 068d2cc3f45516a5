"""Import image tarballs: ``docker save`` archives and OCI image-layout tarballs.

* ``docker save``: ``manifest.json`` = ``[{"Config": path, "RepoTags": [...], "Layers":
  [paths]}]``; layers are (usually uncompressed) tars whose sha256 is the diff_id. Docker
  >= 25 writes an OCI layout *plus* ``manifest.json``; the paths then point into ``blobs/``.
  Either way ``manifest.json`` is read first when present.
* OCI layout: ``oci-layout`` + ``index.json`` (possibly nested indexes) + ``blobs/<alg>/<hex>``.
  Names come from the ``io.containerd.image.name`` annotation or, when it is a full
  reference, ``org.opencontainers.image.ref.name``.
* ``ref`` (optional) tags the imported image when the archive holds exactly one image; with
  several images it is an error.

Every blob is verified (config digest, layer digest for OCI, diff_ids against the config);
layers are unpacked into ``tmp/`` and committed only when they match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import shutil
import tarfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from node.images.errors import DigestMismatchError, ImageError, InvalidReferenceError
from node.images.model import Image
from node.images.pull import choose_manifest
from node.images.reference import Reference, parse_reference
from node.images.registry import INDEX_TYPES
from node.images.unpack import unpack_layer

if TYPE_CHECKING:
    from node.images.store import ImageStore

log = logging.getLogger(__name__)


class _Archive:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members = {posixpath.normpath(m.name.lstrip("./") or "."): m for m in tar.getmembers()}

    def open(self, name: str) -> IO[bytes]:
        m = self.members.get(posixpath.normpath(name.lstrip("./")))
        f = self.tar.extractfile(m) if m is not None else None
        if f is None:
            raise ImageError(f"archive member {name!r} missing")
        return f

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def has(self, name: str) -> bool:
        return posixpath.normpath(name) in self.members

    def blob(self, digest: str) -> bytes:
        data = self.read("blobs/" + digest.replace(":", "/"))
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise DigestMismatchError(f"archive blob {digest} does not match its digest")
        return data


def import_archive(store: ImageStore, path: Path, ref: str | None) -> list[Image]:
    name = parse_reference(ref) if ref else None
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as e:
        raise ImageError(f"{path}: not a readable image archive: {e}") from e
    with tar:
        arc = _Archive(tar)
        if arc.has("manifest.json"):
            entries = _docker_entries(arc)
        elif arc.has("index.json"):
            entries = _oci_entries(arc)
        else:
            raise ImageError(f"{path}: neither a docker save archive nor an OCI layout")
        if name is not None and len(entries) != 1:
            raise InvalidReferenceError(f"{path}: holds {len(entries)} images; cannot tag them all {ref}")
        out = []
        for entry in entries:
            names = [name] if name is not None else entry["names"]
            out.append(_import_one(store, arc, entry, names))
    return out


def _docker_entries(arc: _Archive) -> list[dict[str, Any]]:
    out = []
    for m in json.loads(arc.read("manifest.json")):
        cfg_raw = arc.read(m["Config"])
        names = []
        for t in m.get("RepoTags") or []:
            try:
                names.append(parse_reference(t))
            except InvalidReferenceError:
                log.warning("ignoring bad tag %r in archive", t)
        layers = [{"path": p, "digest": None} for p in m["Layers"]]
        out.append({"config": cfg_raw, "layers": layers, "names": names})
    return out


def _oci_entries(arc: _Archive) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def walk(index: dict[str, Any], names: list[Reference]) -> None:
        for d in index.get("manifests") or []:
            ann = d.get("annotations") or {}
            mine = list(names) + _names_from(ann)
            mt = d.get("mediaType", "")
            data = arc.blob(d["digest"])
            if mt in INDEX_TYPES:
                sub = json.loads(data)
                dig = choose_manifest(sub, mine[0] if mine else parse_reference("x"))
                m = next(x for x in sub["manifests"] if x["digest"] == dig)
                walk({"manifests": [m]}, mine)
                continue
            man = json.loads(data)
            cfg_raw = arc.blob(man["config"]["digest"])
            layers = [{"path": "blobs/" + lyr["digest"].replace(":", "/"), "digest": lyr["digest"]}
                      for lyr in man.get("layers") or []]
            out.append({"config": cfg_raw, "layers": layers, "names": mine})

    walk(json.loads(arc.read("index.json")), [])
    return out


def _names_from(ann: dict[str, str]) -> list[Reference]:
    for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
        v = ann.get(key)
        if v and ("/" in v or ":" in v):
            try:
                return [parse_reference(v)]
            except InvalidReferenceError:
                continue
    return []


def _import_one(store: ImageStore, arc: _Archive, e: dict[str, Any], names: list[Reference]) -> Image:
    cfg_raw: bytes = e["config"]
    cfg_digest = "sha256:" + hashlib.sha256(cfg_raw).hexdigest()
    config = json.loads(cfg_raw)
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(e["layers"]):
        raise ImageError(f"config lists {len(diff_ids)} diff_ids for {len(e['layers'])} layers")
    tmp = store.tmpdir("import")
    try:
        for i, (layer, diff_id) in enumerate(zip(e["layers"], diff_ids, strict=True)):
            if store.has_layer(diff_id):
                continue
            dest = tmp / f"layer-{i}"
            with arc.open(layer["path"]) as f:
                unpack_layer(f, dest, digest=layer["digest"], diff_id=diff_id)
            store.commit_layer(dest, diff_id)
        store.put_blob(cfg_digest, cfg_raw)
        img = store.register(cfg_digest, config, diff_ids, names)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("imported %s as %s", img.short_id, [n.familiar for n in names])
    return img
