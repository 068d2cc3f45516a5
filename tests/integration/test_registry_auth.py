"""Pulls from a real registry that wants basic credentials (docker-registry with htpasswd): a
pull with a task's own credentials gets every blob with them; none or wrong ones are refused
with the registry's words. (The per-pull credentials once reached the manifest but not the
layers, which went anonymous and were refused.)"""

from __future__ import annotations

import shutil

import pytest

from node.images import ImageStore
from node.images.errors import AuthError
from tests.support.images import build_test_images
from tests.support.registry import Registry, bcrypt_hash

pytestmark = pytest.mark.skipif(not shutil.which("docker-registry") or not shutil.which("skopeo"),
                                reason="docker-registry and skopeo are needed")


def test_a_pull_with_its_own_credentials(tmp_path_factory, tmp_path) -> None:
    layout = build_test_images(tmp_path_factory.mktemp("images"))
    reg = Registry(tmp_path / "reg", htpasswd=f"alice:{bcrypt_hash('s3cret')}\n").start()
    try:
        ref = reg.push(layout, "web-1", "private/web:1", creds="alice:s3cret")
        store = ImageStore(tmp_path / "store", insecure_registries=[reg.address])
        for creds in (None, ("alice", "wrong")):
            with pytest.raises(AuthError, match=f"{reg.address}: unauthorized: authentication required"):
                store.pull(ref, credentials=creds)
        img = store.pull(ref, credentials=("alice", "s3cret"))
        assert img.layers and store.get(ref) is not None
        with pytest.raises(AuthError):             # the credentials were for that pull only
            ImageStore(tmp_path / "other", insecure_registries=[reg.address]).pull(ref)
    finally:
        reg.stop()
