"""The local socket's image RPCs: thin encoders over the image store (a fake here)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from node.images import Image, ImageConfig
from node.images.pullstream import PullDone, PullProgress
from swarm.api import daemon_pb2
from swarm.daemon.images import ArchiveUnreadableError, import_images
from swarm.daemon.servicers import DaemonServicer
from swarm.rpc.errors import code_name_for

IMAGE = Image(id="sha256:" + "ab" * 32, repo_tags=("demo:1",),
              repo_digests=("127.0.0.1:5000/demo@sha256:" + "cd" * 32,), config=ImageConfig(),
              layers=(), diff_ids=(), size=42, created="2024-01-02T03:04:05")


class FakeImages:
    def __init__(self) -> None:
        self.imported: list[tuple[Path, str | None]] = []

    async def pull_progress(self, ref: str) -> Any:
        yield PullProgress("0123456789abcdef0123", 5, 20)
        yield PullDone(IMAGE)

    def list(self) -> list[Image]:
        return [IMAGE]

    def remove(self, ref: str, force: bool) -> list[str]:
        return ["Untagged: demo:1", f"Deleted: {IMAGE.id}", "Deleted: sha256:" + "ef" * 32]

    def import_archive(self, path: Path, ref: str | None = None) -> list[Image]:
        if not path.name.endswith(".tar"):
            raise PermissionError(13, "Permission denied", str(path))
        self.imported.append((path, ref))
        untagged = Image(id="sha256:" + "12" * 32, repo_tags=(), repo_digests=(),
                         config=ImageConfig(), layers=(), diff_ids=(), size=0)
        return [IMAGE, untagged]


class FakeDaemon:
    def __init__(self) -> None:
        self.images = FakeImages()


def test_image_pull_encodes_progress_then_the_result() -> None:
    async def body() -> list[daemon_pb2.ImagePullProgress]:
        servicer = DaemonServicer(FakeDaemon())
        return [m async for m in servicer.ImagePull(daemon_pb2.ImagePullRequest(reference="demo:1"), None)]

    first, last = asyncio.run(body())
    assert (first.id, first.status, first.current, first.total) == ("0123456789ab", "Downloading", 5, 20)
    assert last.status == "Status: Downloaded image for demo:1"
    assert (last.id, last.digest) == ("ab" * 6, "sha256:" + "cd" * 32)


def test_image_list_remove_and_import() -> None:
    daemon = FakeDaemon()
    servicer = DaemonServicer(daemon)
    listed = asyncio.run(servicer.ImageList(daemon_pb2.ImageListRequest(), None))
    [img] = listed.images
    assert (img.id, list(img.repo_tags), img.size) == (IMAGE.id, ["demo:1"], 42)
    assert img.created.ToJsonString() == "2024-01-02T03:04:05Z"
    removed = asyncio.run(servicer.ImageRemove(daemon_pb2.ImageRemoveRequest(reference="demo:1"), None))
    assert list(removed.untagged) == ["demo:1"]
    assert list(removed.deleted) == [IMAGE.id, "sha256:" + "ef" * 32]
    imported = asyncio.run(servicer.ImageImport(daemon_pb2.ImageImportRequest(path="/x/a.tar"), None))
    assert list(imported.references) == ["demo:1", "sha256:" + "12" * 32]
    assert daemon.images.imported == [(Path("/x/a.tar"), None)]


def test_an_unreadable_archive_path_is_the_callers_mistake() -> None:
    with pytest.raises(ArchiveUnreadableError, match="Permission denied") as ei:
        asyncio.run(import_images(FakeImages(), "/root/secret.bin", None))  # type: ignore[arg-type]
    assert code_name_for(ei.value) == "INVALID_ARGUMENT"
