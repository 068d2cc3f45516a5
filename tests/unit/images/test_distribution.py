"""node.images.distribution (dockerd's GET /distribution/{name}/json) against the in-process
fake registry and a stub client: descriptors, platforms per manifest kind, and every error."""

from __future__ import annotations

import hashlib
import json
from typing import IO, Any

import pytest

from node.images import (
    AuthError,
    DigestMismatchError,
    ImageError,
    ImageNotFoundError,
    ImageStore,
    InvalidReferenceError,
    parse_reference,
)
from node.images.distribution import Platform, inspect_distribution
from node.images.errors import AccessDeniedError, RegistryLookupError
from node.images.registry import DOCKER_MANIFEST, OCI_MANIFEST, RegistryClient

from .fake_registry import FakeRegistry, _sha


def test_index_gives_its_descriptor_and_one_platform_per_entry(tmp_path):
    with FakeRegistry() as reg:
        d = ImageStore(tmp_path).inspect_distribution(f"{reg.address}/x/y:1")
        index = reg.img["index"]
        assert (d.media_type, d.digest, d.size) == ("application/vnd.oci.image.index.v1+json",
                                                    _sha(index), len(index))
        assert d.platforms == (Platform("s390x", "linux"), Platform("amd64", "linux"))


def test_a_pinned_reference_is_fetched_by_its_digest(tmp_path):
    with FakeRegistry() as reg:
        pinned = f"{reg.address}/x/y:1@{_sha(reg.img['index'])}"
        d = ImageStore(tmp_path).inspect_distribution(pinned)
        assert d.digest == _sha(reg.img["index"])
        asked = [r[1] for r in reg.requests if "/manifests/" in r[1]]
        assert asked == [f"/v2/x/y/manifests/{d.digest}"]


def test_an_oci_manifest_has_no_platforms_as_in_dockerd(tmp_path):
    with FakeRegistry() as reg:
        man = reg.img["manifest"]
        d = ImageStore(tmp_path).inspect_distribution(f"{reg.address}/x/y@{_sha(man)}")
        assert (d.media_type, d.size, d.platforms) == (OCI_MANIFEST, len(man), ())


class StubClient:
    """``get_manifest``/``fetch_blob`` of a Docker schema2 image whose config is ``config``."""

    def __init__(self, config: Any, blob_error: ImageError | None = None) -> None:
        self.config = json.dumps(config).encode()
        self.blob_error = blob_error
        self.manifest = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                                    "config": {"digest": _sha(self.config)}, "layers": []}).encode()

    def get_manifest(self, ref: Any, reference: str | None = None) -> tuple[str, bytes, str]:
        return DOCKER_MANIFEST, self.manifest, "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    def fetch_blob(self, ref: Any, digest: str, out: IO[bytes], progress: Any = None) -> int:
        if self.blob_error is not None:
            raise self.blob_error
        assert digest == _sha(self.config)
        out.write(self.config)
        return len(self.config)


def test_a_schema2_manifest_gives_its_config_platform():
    cfg = {"architecture": "arm64", "os": "linux", "variant": "v8", "os.version": "1",
           "os.features": ["f"], "rootfs": {}}
    d = inspect_distribution(StubClient(cfg), "reg.example:5000/a/b:1")  # type: ignore[arg-type]
    assert d.media_type == DOCKER_MANIFEST
    assert d.platforms == (Platform("arm64", "linux", os_version="1", os_features=("f",), variant="v8"),)


@pytest.mark.parametrize("client", [
    StubClient({"rootfs": {}}),                                  # names neither OS nor architecture
    StubClient([1, 2]),                                          # not an object
    StubClient({}, blob_error=ImageNotFoundError("blob unknown")),   # cannot be fetched: ignored
])
def test_a_schema2_config_without_a_platform_gives_none(client):
    assert inspect_distribution(client, "reg.example:5000/a/b:1").platforms == ()


def test_unknown_tag_is_not_found_in_dockers_words(tmp_path):
    with FakeRegistry() as reg, pytest.raises(ImageNotFoundError) as ei:
        ImageStore(tmp_path).inspect_distribution(f"{reg.address}/x/y:nope")
    assert str(ei.value) == "manifest unknown"      # no detail: the code alone, as Docker's client


def test_unreachable_registry_is_a_lookup_error():
    with pytest.raises(RegistryLookupError, match=r"registry 127\.0\.0\.1:9 unreachable") as ei:
        inspect_distribution(RegistryClient(timeout=5), "127.0.0.1:9/x/y:1")
    assert not ei.value.temporary


@pytest.mark.parametrize("name", ["a" * 64, "sha256:" + "b" * 64])
def test_a_full_image_id_is_refused_as_dockerd_refuses_it(name):
    with pytest.raises(ImageError) as ei:
        inspect_distribution(StubClient({}), name)  # type: ignore[arg-type]
    assert type(ei.value) is ImageError and str(ei.value) == "no manifest found for full image ID"


def test_a_reference_that_does_not_parse_is_invalid():
    with pytest.raises(InvalidReferenceError, match="invalid reference format"):
        inspect_distribution(StubClient({}), "Upper/Case:1")  # type: ignore[arg-type]


def test_credentials_answer_the_registrys_challenge(tmp_path):
    with FakeRegistry(auth="basic") as reg:
        store = ImageStore(tmp_path)
        with pytest.raises(AuthError) as ei:
            store.inspect_distribution(f"{reg.address}/x/y:1")
        assert type(ei.value) is AuthError and str(ei.value) == "unauthorized"
        assert store.inspect_distribution(f"{reg.address}/x/y:1", ("u", "p")).digest == _sha(reg.img["index"])


def test_a_denied_access_is_its_own_error(tmp_path):
    with FakeRegistry(auth="deny") as reg, pytest.raises(AccessDeniedError) as ei:
        ImageStore(tmp_path).inspect_distribution(f"{reg.address}/x/y:1")
    assert str(ei.value) == "denied"


def test_a_pinned_digest_that_does_not_match_is_refused(tmp_path):
    with FakeRegistry() as reg:
        wrong = "sha256:" + "e" * 64
        reg.img["manifests"][wrong] = reg.img["manifest"]      # a registry serving other content
        with pytest.raises(DigestMismatchError, match=f"expected {wrong}"):
            ImageStore(tmp_path).inspect_distribution(f"{reg.address}/x/y:1@{wrong}")


def test_reference_of_a_pinned_name_keeps_tag_and_digest():
    r = parse_reference(f"r.example:5000/a/b:1@sha256:{'d' * 64}")
    assert (r.tag, r.digest, r.reference) == ("1", "sha256:" + "d" * 64, "sha256:" + "d" * 64)
