"""The node's content-addressed image store.

Layout under ``root``::

    blobs/sha256/<hex>        image configs and manifests (small, content addressed)
    layers/<diffid-hex>/      each layer unpacked once, shared by every image using it
    images/<config-hex>.json  per-image metadata (config digest = image id, layers, size)
    repositories.json         canonical "registry/repo:tag" and "repo@digest" -> image id
    tmp/                      downloads and unpacks in progress (emptied at start-up)

Design notes:
* **Atomicity.** Everything is written to ``tmp/`` and renamed into place once verified; the
  metadata files are replaced with ``os.replace``. A crash or error leaves only ``tmp/``
  debris, which the next :class:`ImageStore` removes. Layers are keyed by ``diff_id``
  (sha256 of the uncompressed tar) so the same layer pulled as gzip or imported uncompressed
  is stored once. Compressed layer blobs are not kept after unpacking.
* **Concurrency.** Metadata changes take a thread lock plus an ``flock`` on ``root/lock``
  (several processes may share a store). Downloads and unpacks run outside the lock; two
  pulls of the same layer race harmlessly (the loser's rename fails and it drops its copy).
* **Pull** logic lives in :mod:`node.images.pull` (and, for asyncio callers, the pull as a
  stream of progress events in :mod:`node.images.pullstream`), archive import in
  :mod:`node.images.archive`; this module owns naming, lookup, tagging and removal.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.images.errors import ImageError, ImageInUseError, ImageNotFoundError
from node.images.model import Image, ImageConfig
from node.images.reference import Reference, parse_reference
from node.images.registry import Credentials, RegistryClient

if TYPE_CHECKING:
    from node.images.distribution import Distribution
    from node.images.pullstream import PullEvent

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
LayerUsers = Callable[[Sequence[Path]], list[tuple[str, bool, list[str]]]]


class ImageStore:
    """Pull, import, list and remove images on this node (synchronous, thread-safe)."""

    def __init__(self, root: Path, insecure_registries: Sequence[str] = (),
                 credentials: Credentials | None = None, in_use: LayerUsers | None = None) -> None:
        self.root = Path(root)
        #: which containers have any of these layer dirs as a lower layer:
        #: ``[(id, running, lowers)]`` (the runtime's answer; see :meth:`_check_not_in_use`)
        self.in_use = in_use
        for d in ("blobs/sha256", "layers", "images", "tmp"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self.client = RegistryClient(insecure_registries, credentials)
        self._lock = threading.RLock()
        self._pull_locks: dict[str, threading.Lock] = {}
        self._clean_tmp()

    # ------------------------------------------------------------ public API
    def pull(self, ref: str, progress: Progress | None = None,
             credentials: tuple[str, str] | None = None) -> Image:
        """Pull ``ref`` from its registry (see :mod:`node.images.pull`) and tag it;
        ``credentials`` (user, password) answer that registry's challenge for this pull only."""
        from node.images.pull import pull_image

        parsed = parse_reference(ref)
        client = self.client.with_credentials(parsed.registry, *credentials) if credentials else None
        with self._lock:
            lock = self._pull_locks.setdefault(parsed.canonical, threading.Lock())
        with lock:       # concurrent pulls of one ref (3 replicas on a node) download once
            return pull_image(self, parsed, progress, client)

    def inspect_distribution(self, name: str, credentials: tuple[str, str] | None = None) -> Distribution:
        """What ``name``'s registry says it is (digest, platforms: :mod:`node.images.distribution`),
        asked with ``credentials`` (user, password) for that registry if given."""
        from node.images.distribution import inspect_distribution, named_reference

        client = self.client
        if credentials:
            client = client.with_credentials(named_reference(name).registry, *credentials)
        return inspect_distribution(client, name)

    def pull_progress(self, ref: str) -> AsyncIterator[PullEvent]:
        """:meth:`pull` for an asyncio caller: progress events, then the image (see
        :mod:`node.images.pullstream`)."""
        from node.images.pullstream import pull_progress

        return pull_progress(self, ref)

    def import_archive(self, path: Path, ref: str | None = None) -> list[Image]:
        """Import a ``docker save`` or OCI image-layout tarball; ``ref`` tags a single image."""
        from node.images.archive import import_archive

        return import_archive(self, Path(path), ref)

    def get(self, ref: str) -> Image | None:
        """Look an image up by tag, ``repo@digest``, full id or an id prefix (>= 4 hex)."""
        with self._locked():
            iid = self._resolve(ref)
            return self._load(iid) if iid else None

    def list(self) -> list[Image]:
        with self._locked():
            out = []
            for p in sorted((self.root / "images").glob("*.json")):
                img = self._load("sha256:" + p.stem)
                if img:
                    out.append(img)
            return out

    def remove(self, ref: str, force: bool = False) -> builtins.list[str]:
        """Untag ``ref``; delete the image (and unshared layers) when no tag is left.

        Removing by id an image that has several tags needs ``force``. Returns Docker-style
        lines (``Untagged: …``, ``Deleted: sha256:…``).
        """
        with self._locked():
            iid = self._resolve(ref)
            if iid is None:
                raise ImageNotFoundError(f"No such image: {ref}")
            repos = self._repos()
            names = [k for k, v in repos.items() if v == iid]
            by_name = self._name_key(ref)
            out: list[str] = []
            if by_name and by_name in repos and not force:
                untag = [by_name]
            else:
                tags = [n for n in names if "@" not in n]
                if len(tags) > 1 and not force:
                    raise ImageInUseError(
                        f"conflict: unable to delete {iid[7:19]} (must be forced) - image is "
                        f"referenced in multiple repositories")
                untag = names
            left = {n: v for n, v in repos.items() if n not in untag}
            if not any("@" not in n for n, v in left.items() if v == iid):
                self._check_not_in_use(iid, force)
            for n in untag:
                repos.pop(n, None)
                out.append(f"Untagged: {_familiar(n)}")
            if not any("@" not in n for n, v in repos.items() if v == iid):
                for n in [n for n, v in repos.items() if v == iid]:
                    repos.pop(n)
                    out.append(f"Untagged: {_familiar(n)}")
                out += self._delete_image(iid, repos)
            self._write_repos(repos)
            return out

    # ------------------------------------------------------ used by pull/import
    def tmpdir(self, prefix: str) -> Path:
        p = self.root / "tmp" / f"{prefix}-{uuid.uuid4().hex[:12]}"
        p.mkdir(parents=True)
        return p

    def layer_dir(self, diff_id: str) -> Path:
        return self.root / "layers" / diff_id.split(":", 1)[1]

    def has_layer(self, diff_id: str) -> bool:
        return self.layer_dir(diff_id).is_dir()

    def commit_layer(self, tmp: Path, diff_id: str) -> Path:
        """Move a verified unpacked layer into place (or drop it if a twin won the race)."""
        dest = self.layer_dir(diff_id)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    def put_blob(self, digest: str, data: bytes) -> Path:
        p = self.root / "blobs/sha256" / digest.split(":", 1)[1]
        if not p.exists():
            t = self.root / "tmp" / f"blob-{uuid.uuid4().hex}"
            t.write_bytes(data)
            os.replace(t, p)
        return p

    def register(self, config_digest: str, config: dict[str, Any], diff_ids: Sequence[str],
                 names: Sequence[Reference], manifest_digest: str | None = None) -> Image:
        """Record an image whose layers are all committed, and point ``names`` at it."""
        for d in diff_ids:
            if not self.has_layer(d):
                raise ImageError(f"layer {d} missing from the store")
        size = sum(_du(self.layer_dir(d)) for d in diff_ids)
        meta = {"id": config_digest, "diff_ids": list(diff_ids), "size": size,
                "created": config.get("created", ""), "architecture": config.get("architecture", ""),
                "os": config.get("os", "linux"),
                "config": ImageConfig.from_oci(config.get("config")).to_json()}
        with self._locked():
            p = self.root / "images" / (config_digest.split(":", 1)[1] + ".json")
            t = p.with_suffix(".tmp")
            t.write_text(json.dumps(meta))
            os.replace(t, p)
            repos = self._repos()
            for n in names:
                if n.tag and not n.digest:    # name:tag@digest moves no tag (Docker's favorDigest)
                    repos[n.with_tag(n.tag).canonical] = config_digest
                if manifest_digest:
                    repos[n.with_digest(manifest_digest).canonical] = config_digest
                elif n.digest:
                    repos[n.canonical] = config_digest
            self._write_repos(repos)
            img = self._load(config_digest)
        assert img is not None
        log.info("image %s registered as %s", config_digest[:19], [n.familiar for n in names])
        return img

    # --------------------------------------------------------------- internal
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock, open(self.root / "lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _clean_tmp(self) -> None:
        with self._locked():
            for p in (self.root / "tmp").iterdir():
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)

    def _repos(self) -> dict[str, str]:
        p = self.root / "repositories.json"
        return dict(json.loads(p.read_text())) if p.exists() else {}

    def _write_repos(self, repos: dict[str, str]) -> None:
        p = self.root / "repositories.json"
        t = p.with_suffix(".tmp")
        t.write_text(json.dumps(repos, indent=1, sort_keys=True))
        os.replace(t, p)

    @staticmethod
    def _name_key(ref: str) -> str | None:
        """The ``repositories.json`` key of ``ref``; a reference with a tag and a digest is looked
        up (and recorded) by its digest alone, as Docker's reference store does."""
        try:
            parsed = parse_reference(ref)
        except ImageError:
            return None
        return (parsed.with_digest(parsed.digest) if parsed.digest else parsed).canonical

    def _resolve(self, ref: str) -> str | None:
        hexpart = ref[7:] if ref.startswith("sha256:") else ref
        if 4 <= len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart):
            matches = [p.stem for p in (self.root / "images").glob(hexpart + "*.json")]
            if len(matches) == 1:
                return "sha256:" + matches[0]
        key = self._name_key(ref)
        return self._repos().get(key) if key else None

    def _load(self, iid: str) -> Image | None:
        p = self.root / "images" / (iid.split(":", 1)[1] + ".json")
        if not p.exists():
            return None
        m = json.loads(p.read_text())
        names = [k for k, v in self._repos().items() if v == iid]
        return Image(
            id=iid, repo_tags=tuple(sorted(_familiar(n) for n in names if "@" not in n)),
            repo_digests=tuple(sorted(_familiar(n) for n in names if "@" in n)),
            config=ImageConfig.from_json(m["config"]),
            layers=tuple(self.layer_dir(d) for d in m["diff_ids"]), diff_ids=tuple(m["diff_ids"]),
            size=int(m.get("size", 0)), created=m.get("created", ""),
            architecture=m.get("architecture", ""), os=m.get("os", "linux"))

    def _layers_freed(self, iid: str) -> builtins.list[str]:
        """The diff ids that deleting ``iid`` would delete (no other image has them)."""
        img = self._load(iid)
        if img is None:
            return []
        used: set[str] = set()
        for p in (self.root / "images").glob("*.json"):
            if p.stem != iid[7:]:
                used.update(json.loads(p.read_text())["diff_ids"])
        return [d for d in img.diff_ids if d not in used and self.has_layer(d)]

    def _check_not_in_use(self, iid: str, force: bool) -> None:
        """Docker's rule: never delete an image from under a running container (not even with
        force); a stopped one's needs force. A container uses the image when its rootfs is
        exactly the image's layers, or has a layer the deletion would free."""
        img = self._load(iid)
        if self.in_use is None or img is None:
            return
        mine = {str(p) for p in img.layers}
        freed = {str(self.layer_dir(d)) for d in self._layers_freed(iid)}
        users = [(c, up) for c, up, lowers in self.in_use(list(img.layers))
                 if set(lowers) == mine or freed & set(lowers)]
        running = [c for c, up in users if up]
        if running:
            raise ImageInUseError(f"conflict: unable to delete {iid[7:19]} (cannot be forced) - image is "
                                  f"being used by running container {running[0][:12]}")
        if users and not force:
            raise ImageInUseError(f"conflict: unable to delete {iid[7:19]} (must be forced) - image is "
                                  f"being used by stopped container {users[0][0][:12]}")

    def _delete_image(self, iid: str, repos: dict[str, str]) -> builtins.list[str]:
        img = self._load(iid)
        if img is None:
            return []
        (self.root / "images" / (iid[7:] + ".json")).unlink()
        (self.root / "blobs/sha256" / iid[7:]).unlink(missing_ok=True)
        used = set()
        for p in (self.root / "images").glob("*.json"):
            used.update(json.loads(p.read_text())["diff_ids"])
        out = [f"Deleted: {iid}"]
        for d in img.diff_ids:
            if d not in used and self.has_layer(d):
                gone = self.root / "tmp" / f"rm-{uuid.uuid4().hex[:8]}"
                os.rename(self.layer_dir(d), gone)
                shutil.rmtree(gone, ignore_errors=True)
                out.append(f"Deleted: {d}")
        return out


def _familiar(canonical: str) -> str:
    return parse_reference(canonical).familiar


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total
