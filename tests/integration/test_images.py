"""Image store against a real ``docker-registry`` and real ``skopeo``-made archives."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from node.images import (
    ImageInUseError,
    ImageNotFoundError,
    ImageStore,
    RegistryUnavailableError,
)
from tests.support.images import TEST_IMAGES, build_test_images
from tests.support.registry import free_port, registry_fixture

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("umoci", "skopeo", "docker-registry")),
    reason="umoci/skopeo/docker-registry not installed")

registry = registry_fixture()


def test_pull_two_tags_share_layers(registry, tmp_path):
    store = ImageStore(tmp_path)
    seen = []
    one = store.pull(registry.refs["demo/web:1"], progress=lambda w, d, t: seen.append(w))
    two = store.pull(registry.refs["demo/web:2"], progress=lambda w, d, t: seen.append(w))
    assert one.id != two.id
    assert two.layers[:-1] == one.layers and len(two.layers) == len(one.layers) + 1
    assert (two.layers[-1] / "etc/version").read_text() == "2\n"
    assert (one.layers[0] / "etc/version").read_text() == "1\n"
    assert one.config.entrypoint == ("/entry.sh",) and one.config.exposed_ports == ("80/tcp",)
    assert one.config.labels == {"org.pyswarm.test.version": "1"}
    assert len({w for w in seen if w not in ("manifest", "config")}) == len(two.layers)
    assert (one.layers[0] / "bin/busybox").stat().st_size > 500_000
    assert sorted(t for i in store.list() for t in i.repo_tags) == sorted(
        [registry.refs["demo/web:1"], registry.refs["demo/web:2"]])
    assert not list((tmp_path / "tmp").iterdir())


def test_docker_schema2_same_image(registry, tmp_path):
    store = ImageStore(tmp_path)
    oci = store.pull(registry.refs["demo/web:1"])
    v2 = store.pull(registry.refs["demo/web:1-v2s2"])
    assert v2.id == oci.id and v2.layers == oci.layers
    with pytest.raises(ImageInUseError):
        store.remove(oci.id)
    out = store.remove(oci.id, force=True)
    assert f"Deleted: {oci.id}" in out and store.list() == []
    assert not list((tmp_path / "layers").iterdir())


def test_not_found_and_unreachable(registry, tmp_path):
    store = ImageStore(tmp_path)
    with pytest.raises(ImageNotFoundError, match="manifest unknown"):
        store.pull(f"{registry.address}/demo/web:nope")
    with pytest.raises(ImageNotFoundError):
        store.pull(f"{registry.address}/demo/absent:1")
    with pytest.raises(RegistryUnavailableError) as ei:
        store.pull(f"127.0.0.1:{free_port()}/demo/web:1")
    assert ei.value.temporary
    assert store.list() == [] and not list((tmp_path / "layers").iterdir())


def test_pull_by_digest(registry, tmp_path):
    store = ImageStore(tmp_path)
    img = store.pull(registry.refs["demo/web:2"])
    digest = img.repo_digests[0].split("@")[1]
    again = ImageStore(tmp_path / "b").pull(f"{registry.address}/demo/web@{digest}")
    assert again.id == img.id


@pytest.mark.parametrize("kind", ["docker-archive", "oci-archive"])
def test_import_archives(tmp_path_factory, tmp_path, kind):
    layout = build_test_images(tmp_path_factory.getbasetemp() / "imgbuild")
    tarball = tmp_path / f"{kind}.tar"
    dest = f"{kind}:{tarball}:example.com/demo/web:1" if kind == "docker-archive" else f"{kind}:{tarball}:x"
    src = f"oci:{layout}:{TEST_IMAGES['demo/web:1']}"
    subprocess.run(["skopeo", "copy", "--quiet", src, dest], check=True)
    store = ImageStore(tmp_path / "store")
    if kind == "docker-archive":
        imgs = store.import_archive(tarball)
        assert imgs[0].repo_tags == ("example.com/demo/web:1",)
    else:
        imgs = store.import_archive(tarball, ref="demo/imported:7")
        assert imgs[0].repo_tags == ("demo/imported:7",)
    assert len(imgs) == 1 and (imgs[0].layers[0] / "entry.sh").exists()
    assert store.get(imgs[0].repo_tags[0]).id == imgs[0].id
    meta = json.loads((tmp_path / "store/repositories.json").read_text())
    assert list(meta.values()) == [imgs[0].id]


def test_registry_on_another_address(tmp_path_factory, tmp_path):
    """The registry can bind to a given address (e.g. a testbed bridge), not only 127.0.0.1."""
    from tests.support.registry import Registry

    layout = build_test_images(tmp_path_factory.getbasetemp() / "imgbuild")
    with Registry(tmp_path / "reg", host="127.0.0.2") as reg:
        refs = reg.push_all(layout, {"demo/web:2": TEST_IMAGES["demo/web:2"]})
        assert refs == {"demo/web:2": f"127.0.0.2:{reg.port}/demo/web:2"}
        img = ImageStore(tmp_path / "s", insecure_registries=[reg.address]).pull(refs["demo/web:2"])
        assert (img.layers[-1] / "etc/version").read_text() == "2\n"
