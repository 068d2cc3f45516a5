"""The node-local endpoints' pieces: image references, the volume create body."""

from __future__ import annotations

import pytest

from swarm.api import daemon_pb2
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.routes.images import matches
from swarm.engineapi.routes.volumes import create_request

IMG = daemon_pb2.ImageSummary(
    id="sha256:" + "ab12" * 16,
    repo_tags=["10.0.0.1:5000/demo/web:1", "busybox:latest"],
    repo_digests=["10.0.0.1:5000/demo/web@sha256:" + "cd" * 32],
)


@pytest.mark.parametrize(
    ("ref", "found"),
    [
        ("10.0.0.1:5000/demo/web:1", True),
        ("busybox", True),  # :latest implied
        ("busybox:latest", True),
        ("10.0.0.1:5000/demo/web", False),  # that would be :latest
        ("10.0.0.1:5000/demo/web@sha256:" + "cd" * 32, True),
        ("ab12ab12", True),  # an id prefix
        ("sha256:ab12ab12", True),
        ("ab1", False),  # too short to be an id
        ("web:1", False),
    ],
)
def test_image_references(ref: str, found: bool) -> None:
    assert matches(IMG, ref) is found


def test_volume_create_body() -> None:
    req = create_request({"Name": "data", "Driver": "local", "DriverOpts": {"o": "1"}, "Labels": {"a": "b"}})
    assert (req.name, req.driver, dict(req.driver_opts), dict(req.labels)) == (
        "data",
        "local",
        {"o": "1"},
        {"a": "b"},
    )
    assert create_request({}).name == ""  # anonymous: the node names it
    with pytest.raises(BadRequest, match="ClusterVolumeSpec is not supported"):
        create_request({"Name": "x", "ClusterVolumeSpec": {"Group": "g"}})
    with pytest.raises(BadRequest, match="expected an object of strings"):
        create_request({"Labels": ["a"]})


def test_doc_cache_shapes_once_per_version_and_hands_out_copies() -> None:
    from swarm.api import objects_pb2
    from swarm.engineapi.doccache import DocCache

    calls: list[str] = []

    def shape(o: objects_pb2.Service) -> dict[str, object]:
        calls.append(o.id)
        return {"ID": o.id, "Version": {"Index": o.meta.version.index}}

    cache = DocCache(max_entries=2)
    s = objects_pb2.Service(id="s1")
    s.meta.version.index = 5
    first = cache.doc("service", s, shape)
    first["ServiceStatus"] = {"RunningTasks": 1}  # a caller's addition stays its own
    assert cache.doc("service", s, shape) == {"ID": "s1", "Version": {"Index": 5}}
    assert calls == ["s1"]
    s.meta.version.index = 6  # a write: shaped again
    assert cache.doc("service", s, shape)["Version"] == {"Index": 6}
    assert cache.doc("task", s, shape) and calls == ["s1", "s1", "s1"]  # kinds do not mix
    s.meta.version.index = 5  # evicted (max 2): shaped again
    cache.doc("service", s, shape)
    assert len(calls) == 4 and (cache.hits, cache.misses) == (1, 4)
