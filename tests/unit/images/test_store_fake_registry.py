"""ImageStore against an in-process fake registry: index resolution, auth, corruption."""

import pytest

from node.images import (
    AuthError,
    DigestMismatchError,
    ImageNotFoundError,
    ImageStore,
    RegistryUnavailableError,
)

from .fake_registry import FakeRegistry, _sha


def layers_and_tmp(store):
    return sorted(p.name for p in (store.root / "layers").iterdir()), list((store.root / "tmp").iterdir())


def test_index_resolves_host_platform(tmp_path):
    with FakeRegistry() as reg:
        store = ImageStore(tmp_path)
        img = store.pull(f"{reg.address}/x/y:1")
        assert img.config.cmd == ("/hello",)
        assert (img.layers[0] / "hello.txt").read_bytes() == b"hello\n"
        assert img.repo_tags == (f"{reg.address}/x/y:1",)
        assert img.repo_digests[0].startswith(f"{reg.address}/x/y@sha256:")
        accepts = [r for r in reg.requests if "/manifests/" in r[1]]
        assert accepts
        assert store.get(img.repo_digests[0]).id == img.id
        assert store.get(img.id[:19]).id == img.id


def test_basic_auth(tmp_path):
    with FakeRegistry(auth="basic") as reg:
        with pytest.raises(AuthError, match="authentication required"):
            ImageStore(tmp_path / "a").pull(f"{reg.address}/x/y:1")
        store = ImageStore(tmp_path / "b", credentials=lambda r: ("u", "p"))
        assert store.pull(f"{reg.address}/x/y:1").config.cmd == ("/hello",)


def test_bearer_auth(tmp_path):
    with FakeRegistry(auth="bearer") as reg:
        store = ImageStore(tmp_path / "b", credentials=lambda r: ("u", "p"))
        store.pull(f"{reg.address}/x/y:1")
        assert any(r[2] == "Bearer tok123" for r in reg.requests)
        with pytest.raises(AuthError, match="token request failed"):
            ImageStore(tmp_path / "c", credentials=lambda r: ("u", "wrong")).pull(f"{reg.address}/x/y:1")


def test_corrupt_blob_keeps_nothing(tmp_path):
    with FakeRegistry(corrupt=True) as reg:
        store = ImageStore(tmp_path)
        with pytest.raises(DigestMismatchError):
            store.pull(f"{reg.address}/x/y:1")
        assert layers_and_tmp(store) == ([], [])
        assert store.list() == []


def test_not_found_carries_registry_message(tmp_path):
    with FakeRegistry() as reg, pytest.raises(ImageNotFoundError, match="manifest unknown"):
        ImageStore(tmp_path).pull(f"{reg.address}/x/y:nope")


def test_unreachable_is_temporary(tmp_path):
    with pytest.raises(RegistryUnavailableError) as ei:
        ImageStore(tmp_path).pull("127.0.0.1:9/x/y:1")
    assert ei.value.temporary


def test_remove_shared_layers(tmp_path):
    with FakeRegistry() as reg:
        store = ImageStore(tmp_path)
        img = store.pull(f"{reg.address}/x/y:1")
        out = store.remove(f"{reg.address}/x/y:1")
        assert f"Deleted: {img.id}" in out
        assert store.list() == [] and layers_and_tmp(store) == ([], [])
        with pytest.raises(ImageNotFoundError):
            store.remove(f"{reg.address}/x/y:1")


def test_concurrent_pulls_download_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with FakeRegistry() as reg:
        store = ImageStore(tmp_path)
        with ThreadPoolExecutor(4) as pool:
            imgs = list(pool.map(lambda _: store.pull(f"{reg.address}/x/y:1"), range(4)))
        assert len({i.id for i in imgs}) == 1
        layer_gets = [r for r in reg.requests if "/blobs/" in r[1] and r[1].endswith(
            next(d for d in reg.img["blobs"] if reg.img["blobs"][d] == reg.img["layer"]))]
        assert len(layer_gets) == 1


def test_pinned_reference_pulls_by_digest_and_moves_no_tag(tmp_path):
    """``name:tag@digest`` (what the docker CLI pins a service to): fetched by the digest, recorded
    by the digest alone (Docker's reference store), found again by the same pinned string."""
    with FakeRegistry() as reg:
        digest = _sha(reg.img["index"])
        pinned = f"{reg.address}/x/y:1@{digest}"
        store = ImageStore(tmp_path)
        img = store.pull(pinned)
        assert next(r[1] for r in reg.requests if "/manifests/" in r[1]) == f"/v2/x/y/manifests/{digest}"
        assert img.repo_tags == () and img.repo_digests == (f"{reg.address}/x/y@{digest}",)
        assert store.get(pinned).id == img.id


def test_an_image_pulled_by_tag_is_found_by_its_pinned_reference(tmp_path):
    """A node that has the tag's image has the pinned one: no second pull (the executor looks
    up digest references before pulling)."""
    with FakeRegistry() as reg:
        store = ImageStore(tmp_path)
        img = store.pull(f"{reg.address}/x/y:1")
        digest = img.repo_digests[0].split("@", 1)[1]
        assert store.get(f"{reg.address}/x/y:1@{digest}").id == img.id
        assert store.get(f"{reg.address}/x/y:other@{digest}").id == img.id   # the digest decides
        assert store.get(f"{reg.address}/x/y:1@sha256:{'0' * 64}") is None


def test_a_pinned_digest_the_registry_does_not_match_is_refused(tmp_path):
    with FakeRegistry() as reg:
        wrong = "sha256:" + "e" * 64
        reg.img["manifests"][wrong] = reg.img["manifest"]
        store = ImageStore(tmp_path)
        with pytest.raises(DigestMismatchError, match=f"expected {wrong}"):
            store.pull(f"{reg.address}/x/y:1@{wrong}")
        assert store.list() == [] and layers_and_tmp(store) == ([], [])
