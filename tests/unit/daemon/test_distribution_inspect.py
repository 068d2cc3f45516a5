"""The daemon's DistributionInspect: X-Registry-Auth decoded for the image store (ignored when
unreadable, as dockerd ignores it) and the store's answer as the RPC's message."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from node.images.distribution import Distribution, Platform
from swarm.api import daemon_pb2
from swarm.daemon import images

DIGEST = "sha256:" + "a" * 64


class FakeStore:
    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []

    def inspect_distribution(self, name: str, credentials: Any = None) -> Distribution:
        self.asked.append((name, credentials))
        return Distribution("m", DIGEST, 7, (Platform("amd64", "linux", variant="v2", os_features=("f",)),))


def b64(doc: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("auth", "creds"), [
    ("", None),
    (b64({"username": "u", "password": "p"}), ("u", "p")),
    (b64({"auth": base64.b64encode(b"u2:p2").decode()}), ("u2", "p2")),
    (b64({"identitytoken": "t"}), None),
    ("%%%", None),                     # unreadable: ignored
    (b64([1]), None),                  # not an object: ignored
])
def test_credentials_and_answer(auth: str, creds: Any) -> None:
    store = FakeStore()
    req = daemon_pb2.DistributionInspectRequest(reference="r:5000/a:1", registry_auth=auth)
    r = asyncio.run(images.inspect_distribution(store, req))  # type: ignore[arg-type]
    assert store.asked == [("r:5000/a:1", creds)]
    assert (r.media_type, r.digest, r.size) == ("m", DIGEST, 7)
    want = daemon_pb2.DistributionPlatform(architecture="amd64", os="linux", variant="v2", os_features=["f"])
    assert list(r.platforms) == [want]
