"""The executor's pull of a pinned image (``name:tag@sha256:...``, what `service create` stores
after resolving the tag): a node that has that digest does not ask the registry again; one that
does not pulls it by the digest."""

from __future__ import annotations

from types import SimpleNamespace

from node.exec.runtime import RuntimeController
from node.images import ImageStore
from swarm.api.objects_pb2 import Task
from tests.unit.images.fake_registry import FakeRegistry, _sha


def controller(store: ImageStore) -> RuntimeController:
    return RuntimeController(SimpleNamespace(images=store), Task(id="t1"))  # type: ignore[arg-type]


def manifest_gets(reg: FakeRegistry) -> list[str]:
    return [r[1] for r in reg.requests if "/manifests/" in r[1]]


def test_a_present_digest_is_not_pulled_again(tmp_path):
    with FakeRegistry() as reg:
        store = ImageStore(tmp_path)
        img = store.pull(f"{reg.address}/x/y:1")
        before = len(manifest_gets(reg))
        got = controller(store)._pull(f"{reg.address}/x/y:1@{_sha(reg.img['index'])}")
        assert got.id == img.id and len(manifest_gets(reg)) == before


def test_an_absent_digest_is_pulled_by_the_digest(tmp_path):
    with FakeRegistry() as reg:
        digest = _sha(reg.img["index"])
        got = controller(ImageStore(tmp_path))._pull(f"{reg.address}/x/y:1@{digest}")
        assert got.repo_digests == (f"{reg.address}/x/y@{digest}",)
        assert manifest_gets(reg)[0] == f"/v2/x/y/manifests/{digest}"
