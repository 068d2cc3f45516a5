"""A registry's error answer as Docker's distribution client renders it (what dockerd puts in
its error message), so the distribution inspect answers with dockerd's words.

Rules (docker/distribution ``registry/client/errors.go`` ``HandleErrorResponse`` and
``registry/api/errcode``):

* only 4xx answers are read; anything else is ``received unexpected HTTP status: 500 Internal
  Server Error``;
* a JSON body ``{"errors": [{"code", "message", "detail"}]}``: each error is its code in lower
  case with spaces (``MANIFEST_UNKNOWN`` -> ``manifest unknown``; a code the client does not know
  is ``unknown``), followed by ``: <message>`` unless it has no detail and its message is empty or
  the code's standard one; several errors are ``errors:\\n`` and one line each;
* a body that is not JSON: ``unauthorized: <body>`` (401), ``denied: <body>`` (403),
  ``toomanyrequests: <body>`` (429), ``unknown: <body>`` otherwise.
"""

from __future__ import annotations

import json
from typing import Any

#: the codes Docker's client registers (errcode and registry/api/v2) and their standard messages
STANDARD_MESSAGES = {
    "UNKNOWN": "unknown error",
    "UNSUPPORTED": "The operation is unsupported.",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "UNAVAILABLE": "service unavailable",
    "TOOMANYREQUESTS": "too many requests",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "SIZE_INVALID": "provided length did not match content length",
    "NAME_INVALID": "invalid repository name",
    "TAG_INVALID": "manifest tag did not match URI",
    "NAME_UNKNOWN": "repository name not known to registry",
    "MANIFEST_UNKNOWN": "manifest unknown",
    "MANIFEST_INVALID": "manifest invalid",
    "MANIFEST_UNVERIFIED": "manifest failed signature verification",
    "MANIFEST_BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UPLOAD_UNKNOWN": "blob upload unknown to registry",
    "BLOB_UPLOAD_INVALID": "blob upload invalid",
    "PAGINATION_NUMBER_INVALID": "invalid number of results requested",
    "RANGE_INVALID": "invalid content range",
}
_PLAIN = {401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS"}


def _code_text(code: str) -> str:
    known = code if code in STANDARD_MESSAGES else "UNKNOWN"
    return known.replace("_", " ").lower()


def _one(err: dict[str, Any]) -> str:
    code = str(err.get("code") or "")
    message = str(err.get("message") or "")
    standard = STANDARD_MESSAGES.get(code, STANDARD_MESSAGES["UNKNOWN"])
    if err.get("detail") is None and message in ("", standard):
        return _code_text(code)
    return f"{_code_text(code)}: {message}"


def _json_errors(body: bytes) -> list[dict[str, Any]] | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    errs = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errs, list) or not errs or not all(isinstance(e, dict) for e in errs):
        return None
    return errs


def docker_text(status: int, reason: str, content_type: str, body: bytes) -> str:
    """The registry's answer ``status`` as Docker's client words it (see the module notes)."""
    if not 400 <= status < 500:
        return f"received unexpected HTTP status: {status} {reason}"
    errs = _json_errors(body) if content_type.split(";")[0].strip() in (
        "application/json", "application/vnd.api+json") else None
    if errs is None:
        text = body.decode(errors="replace")
        return f"{_code_text(_PLAIN.get(status, 'UNKNOWN'))}: {text}"
    if len(errs) == 1:
        return _one(errs[0])
    return "errors:\n" + "".join(_one(e) + "\n" for e in errs)
