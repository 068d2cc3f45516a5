"""node.images.errcode: a registry's error answer in the words of Docker's distribution client."""

from __future__ import annotations

import json

import pytest

from node.images.errcode import docker_text

JSON = "application/json; charset=utf-8"


def errors(*errs: dict) -> bytes:
    return json.dumps({"errors": list(errs)}).encode()


@pytest.mark.parametrize(("status", "ctype", "body", "want"), [
    # docker-registry's unknown tag carries a detail: code and message
    (404, JSON, errors({"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "x"}}),
     "manifest unknown: manifest unknown"),
    # no detail and the code's own message: the code alone
    (404, JSON, errors({"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}), "manifest unknown"),
    (404, JSON, errors({"code": "NAME_UNKNOWN", "message": "repository name not known to registry"}),
     "name unknown"),
    (404, JSON, errors({"code": "NAME_UNKNOWN", "message": "no such repo"}), "name unknown: no such repo"),
    # a code Docker's client does not know is "unknown"
    (400, JSON, errors({"code": "WEIRD", "message": "odd"}), "unknown: odd"),
    (401, JSON, errors({"code": "UNAUTHORIZED", "message": "authentication required"},
                       {"code": "DENIED", "message": "nope"}),
     "errors:\nunauthorized\ndenied: nope\n"),
    # bodies that are not JSON errors
    (401, "text/plain", b"go away", "unauthorized: go away"),
    (403, "", b"forbidden", "denied: forbidden"),
    (429, "text/html", b"slow down", "toomanyrequests: slow down"),
    (404, "text/plain", b"404 page not found", "unknown: 404 page not found"),
    (404, JSON, b"{}", "unknown: {}"),
    # only 4xx answers are read
    (500, JSON, errors({"code": "UNKNOWN"}), "received unexpected HTTP status: 500 Internal Server Error"),
])
def test_docker_text(status: int, ctype: str, body: bytes, want: str) -> None:
    reason = "Internal Server Error" if status == 500 else "x"
    assert docker_text(status, reason, ctype, body) == want
