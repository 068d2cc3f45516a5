"""`GET /distribution/{name}/json` on a fake backend: the name (slashes, registry host:port, tag
and digest) and X-Registry-Auth go to the daemon's DistributionInspect; the answer is moby's
registry.DistributionInspect; each image error of the node is answered with dockerd's status."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient

from node.images.errors import (
    AccessDeniedError,
    AuthError,
    DigestMismatchError,
    ImageError,
    ImageNotFoundError,
    InvalidReferenceError,
    RegistryLookupError,
)
from swarm.api import daemon_pb2
from swarm.engineapi.errors import ApiError, http_status
from swarm.rpc.errors import status_for
from swarm.shapes.engine import distribution_doc
from tests.unit.engineapi.test_edge import FakeBackend, with_client

DIGEST = "sha256:" + "a" * 64
AUTH = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p"}).encode()).decode()


def answer(req: daemon_pb2.DistributionInspectRequest) -> daemon_pb2.DistributionInspectResponse:
    return daemon_pb2.DistributionInspectResponse(
        media_type="application/vnd.oci.image.index.v1+json", digest=DIGEST, size=512,
        platforms=[daemon_pb2.DistributionPlatform(architecture="amd64", os="linux"),
                   daemon_pb2.DistributionPlatform(architecture="arm64", os="linux", variant="v8",
                                                   os_version="1", os_features=["x"])])


@pytest.mark.parametrize("prefix", ["", "/v1.47"])
def test_the_whole_name_and_the_auth_reach_the_daemon(prefix: str) -> None:
    backend = FakeBackend({"Daemon.DistributionInspect": answer})
    name = f"127.0.0.1:5000/demo/web:1@{DIGEST}"

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get(f"{prefix}/distribution/{name}/json", headers={"X-Registry-Auth": AUTH})
        assert r.status == 200 and r.headers["Content-Type"] == "application/json"
        assert await r.json() == {
            "Descriptor": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": DIGEST,
                           "size": 512},
            "Platforms": [{"architecture": "amd64", "os": "linux"},
                          {"architecture": "arm64", "os": "linux", "os.version": "1",
                           "os.features": ["x"], "variant": "v8"}]}

    with_client(backend, check)
    (method, req), = backend.calls
    assert (method, req.reference, req.registry_auth) == ("Daemon.DistributionInspect", name, AUTH)


def test_an_unreadable_auth_header_is_ignored_as_dockerd_ignores_it() -> None:
    backend = FakeBackend({"Daemon.DistributionInspect": answer})

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/distribution/web:1/json", headers={"X-Registry-Auth": "%%%not-base64"})
        assert r.status == 200

    with_client(backend, check)
    assert backend.calls[0][1].registry_auth == ""


def test_no_platforms_are_null() -> None:
    doc = distribution_doc(daemon_pb2.DistributionInspectResponse(media_type="m", digest=DIGEST, size=1))
    assert doc == {"Descriptor": {"mediaType": "m", "digest": DIGEST, "size": 1}, "Platforms": None}


def test_daemon_errors_are_answered_with_their_message() -> None:
    def unknown(req: Any) -> Any:
        raise ApiError(404, "manifest unknown: manifest unknown")

    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/v1.51/distribution/127.0.0.1:5000/demo/web:nope/json")
        assert (r.status, await r.json()) == (404, {"message": "manifest unknown: manifest unknown"})

    with_client(FakeBackend({"Daemon.DistributionInspect": unknown}), check)


@pytest.mark.parametrize(("error", "status"), [
    (ImageNotFoundError("manifest unknown: manifest unknown"), 404),   # errcode MANIFEST_UNKNOWN
    (InvalidReferenceError("invalid reference format"), 400),         # errdefs.InvalidParameter
    (AuthError("unauthorized: authentication required"), 401),         # errcode UNAUTHORIZED
    (AccessDeniedError("denied: requested access to the resource is denied"), 403),   # DENIED
    (ImageError("no manifest found for full image ID"), 500),          # a plain error in moby
    (RegistryLookupError("registry 127.0.0.1:9 unreachable"), 500),    # moby's fallbackError
    (DigestMismatchError("digest mismatch"), 400),
])
def test_image_errors_reach_dockerds_status(error: Exception, status: int) -> None:
    code = status_for(error)
    assert code is not None and code != grpc.StatusCode.INTERNAL
    assert http_status(code, str(error)) == status
