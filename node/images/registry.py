"""OCI distribution (registry API v2) client: manifests and blobs, stdlib only.

Design notes:
* **Transport.** ``urllib`` with a system-CA ``ssl`` context. A registry listed in
  ``insecure_registries`` (``HOST:PORT``) or on a loopback address is treated like dockerd
  does: try HTTPS without certificate checks first and fall back to plain HTTP when the TLS
  handshake fails or the connection is refused; the scheme that worked is remembered.
* **Accept.** Manifest requests list the OCI manifest + index and Docker schema2 manifest +
  list types. The distribution registry answers 404 for an OCI manifest when the OCI type is
  missing from ``Accept`` (lab finding).
* **Auth.** Anonymous first. On ``401`` the ``WWW-Authenticate`` challenge decides: ``Basic``
  retries with credentials from the ``credentials`` callback; ``Bearer realm=,service=,scope=``
  fetches a token from the realm (with basic credentials if we have some) and retries. Tokens
  are cached per (registry, scope). The ``Authorization`` header is never forwarded on
  redirects (blob storage backends answer 307 to signed URLs).
* **Errors** become the :mod:`node.images.errors` tree: 404 / ``MANIFEST_UNKNOWN`` /
  ``NAME_UNKNOWN`` / ``BLOB_UNKNOWN`` -> :class:`ImageNotFoundError` carrying the registry's
  message; 401 -> :class:`AuthError`, 403 -> :class:`AccessDeniedError`; refused / timeout /
  DNS / 5xx / 429 -> :class:`RegistryUnavailableError` (temporary). Each error of an answer
  also carries it in Docker's words (``registry_text``, :mod:`node.images.errcode`).
* **Blobs** are streamed to a caller-supplied temporary file while hashing; the caller renames
  only after the digest matched.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import logging
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import IO

from node.images.errcode import docker_text
from node.images.errors import (
    AccessDeniedError,
    AuthError,
    DigestMismatchError,
    ImageError,
    ImageNotFoundError,
    RegistryUnavailableError,
    TLSVerificationError,
)
from node.images.reference import Reference

log = logging.getLogger(__name__)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))
NOT_FOUND_CODES = {"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN", "NOT_FOUND"}
CHUNK = 1 << 16

Credentials = Callable[[str], "tuple[str, str] | None"]


class _NoRedirectAuth(urllib.request.HTTPRedirectHandler):
    """Follow redirects (307 to blob storage) but never carry Authorization along."""


def _registry_error_message(body: bytes) -> tuple[str, set[str]]:
    try:
        errs = json.loads(body).get("errors") or []
        codes = {str(e.get("code", "")) for e in errs}
        msg = "; ".join(str(e.get("message") or e.get("code")) for e in errs)
        return msg, codes
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace").strip(), set()


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for part in _split_params(rest):
        k, _, v = part.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    return scheme.lower(), params


def _split_params(s: str) -> list[str]:
    out, cur, quoted = [], "", False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def _is_loopback(host: str) -> bool:
    """``localhost``, ``127.x.x.x[:port]`` and ``[::1][:port]`` count as insecure-by-default."""
    if host.startswith("["):
        h = host[1:].split("]", 1)[0]
    else:
        h = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _http_error(ref: Reference, e: urllib.error.HTTPError, body: bytes) -> ImageError:
    """The image error a registry's error answer (``body``) stands for, with Docker's words for
    it."""
    msg, codes = _registry_error_message(body)
    text = docker_text(e.code, str(e.reason), e.headers.get("Content-Type", ""), body)
    what = msg or e.reason
    if e.code == 401:
        return AuthError(f"{ref.registry}: unauthorized: {what}", registry_text=text)
    if e.code == 403:
        return AccessDeniedError(f"{ref.registry}: 403 {what}", registry_text=text)
    if e.code == 404 or codes & NOT_FOUND_CODES:
        return ImageNotFoundError(f"{ref.familiar}: {msg or 'not found'}", registry_text=text)
    if e.code >= 500 or e.code == 429:
        return RegistryUnavailableError(f"{ref.registry}: {e.code} {what}", registry_text=text)
    return ImageError(f"{ref.registry}: {e.code} {what}", registry_text=text)


class RegistryClient:
    """Talks to registries for one image store; thread-safe."""

    def with_credentials(self, registry: str, username: str, password: str) -> RegistryClient:
        """A client for one pull that answers ``registry``'s challenges with these credentials
        (a task's ``--with-registry-auth``), the node's own for any other registry."""
        own = self.credentials

        def creds(reg: str) -> tuple[str, str] | None:
            return (username, password) if reg == registry else (own(reg) if own else None)

        c = RegistryClient(tuple(self.insecure), creds, self.timeout)
        with self._lock:
            c._schemes = dict(self._schemes)
        return c

    def __init__(self, insecure_registries: Sequence[str] = (),
                 credentials: Credentials | None = None, timeout: float = 30.0) -> None:
        self.insecure = set(insecure_registries)
        self.credentials = credentials
        self.timeout = timeout
        self._schemes: dict[str, str] = {}
        self._tokens: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._verified = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ssl.create_default_context()), _NoRedirectAuth())
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        self._unverified = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=unverified), _NoRedirectAuth())

    # ----------------------------------------------------------------- public
    def get_manifest(self, ref: Reference, reference: str | None = None) -> tuple[str, bytes, str]:
        """Return (media type, raw body, digest) of a manifest or index; digest verified."""
        what = reference or ref.reference
        resp = self._request(ref, f"/v2/{ref.repository}/manifests/{what}", {"Accept": ACCEPT})
        with resp:
            body = resp.read(4 << 20)
            media = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
            header_digest = resp.headers.get("Docker-Content-Digest")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        expect = what if what.startswith("sha256:") else header_digest
        if expect and expect.startswith("sha256:") and expect != digest:
            raise DigestMismatchError(f"manifest {ref.familiar}: digest {digest} != expected {expect}")
        if not media or media == "application/json":
            media = json.loads(body).get("mediaType", "")
        return media, body, digest

    def fetch_blob(self, ref: Reference, digest: str, out: IO[bytes],
                   progress: Callable[[int], None] | None = None) -> int:
        """Stream blob ``digest`` into ``out``, verifying it; return its size."""
        algo, _, hexd = digest.partition(":")
        if algo != "sha256":
            raise DigestMismatchError(f"unsupported digest algorithm {algo!r}")
        h = hashlib.sha256()
        n = 0
        resp = self._request(ref, f"/v2/{ref.repository}/blobs/{digest}", {})
        try:
            with resp:
                while chunk := resp.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    n += len(chunk)
                    if progress:
                        progress(n)
        except (OSError, http.client.HTTPException) as e:
            raise RegistryUnavailableError(f"{ref.registry}: blob {digest} download failed: {e}") from e
        if h.hexdigest() != hexd:
            raise DigestMismatchError(f"blob {digest}: content hashes to sha256:{h.hexdigest()}")
        return n

    # --------------------------------------------------------------- plumbing
    def _base(self, registry: str, host: str) -> list[tuple[str, urllib.request.OpenerDirector]]:
        with self._lock:
            known = self._schemes.get(registry)
        insecure = registry in self.insecure or _is_loopback(host)
        if not insecure:
            return [("https", self._verified)]
        if known == "http":
            return [("http", self._unverified)]
        if known == "https":
            return [("https", self._unverified)]
        return [("https", self._unverified), ("http", self._unverified)]

    def _request(self, ref: Reference, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        host = ref.api_host
        attempts = self._base(ref.registry, host)
        last: Exception | None = None
        for i, (scheme, opener) in enumerate(attempts):
            try:
                resp = self._with_auth(opener, f"{scheme}://{host}{path}", headers, ref)
                with self._lock:
                    self._schemes[ref.registry] = scheme
                return resp
            except ImageError:
                raise
            except (ssl.SSLError, ConnectionRefusedError, ConnectionResetError,
                    http.client.BadStatusLine) as e:
                last = e
                if i + 1 < len(attempts):
                    log.debug("registry %s: %s failed (%s), falling back", ref.registry, scheme, e)
                    continue
            except urllib.error.URLError as e:
                last = e
                reason = e.reason
                if isinstance(reason, ssl.SSLError | ConnectionRefusedError | ConnectionResetError) \
                        and i + 1 < len(attempts):
                    continue
                break
            except (OSError, http.client.HTTPException) as e:
                last = e
                break
        if isinstance(last, urllib.error.URLError) and isinstance(last.reason, ssl.SSLCertVerificationError):
            raise TLSVerificationError(f"{ref.registry}: TLS certificate verification failed: {last.reason} "
                                       f"(add it to the insecure registries to skip verification)") from last
        raise RegistryUnavailableError(f"registry {ref.registry} unreachable: {last}") from last

    def _with_auth(self, opener: urllib.request.OpenerDirector, url: str, headers: dict[str, str],
                   ref: Reference) -> http.client.HTTPResponse:
        scope = f"repository:{ref.repository}:pull"
        with self._lock:
            token = self._tokens.get((ref.registry, scope))
        auth = f"Bearer {token}" if token else None
        for attempt in range(3):
            req = urllib.request.Request(url, headers=headers)
            if auth:
                req.add_unredirected_header("Authorization", auth)
            try:
                return opener.open(req, timeout=self.timeout)  # type: ignore[no-any-return]
            except urllib.error.HTTPError as e:
                body = e.read(65536)
                if e.code == 401 and attempt < 2:
                    new = self._authenticate(opener, ref, e.headers.get("WWW-Authenticate", ""), scope)
                    if new and new != auth:
                        auth = new
                        continue
                raise _http_error(ref, e, body) from None
        raise AuthError(f"{ref.registry}: authentication failed")

    def _authenticate(self, opener: urllib.request.OpenerDirector, ref: Reference, challenge: str,
                      scope: str) -> str | None:
        scheme, params = _parse_challenge(challenge)
        creds = self.credentials(ref.registry) if self.credentials else None
        basic = None
        if creds:
            basic = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        if scheme == "basic":
            return basic
        if scheme != "bearer" or "realm" not in params:
            return None
        q = {"scope": params.get("scope") or scope}
        if params.get("service"):
            q["service"] = params["service"]
        req = urllib.request.Request(params["realm"] + "?" + urllib.parse.urlencode(q))
        if basic:
            req.add_unredirected_header("Authorization", basic)
        try:
            with opener.open(req, timeout=self.timeout) as r:
                data = json.loads(r.read(1 << 20))
        except urllib.error.HTTPError as e:
            raise AuthError(f"{ref.registry}: token request failed: {e.code} "
                            f"{_registry_error_message(e.read(65536))[0]}") from None
        except (TimeoutError, OSError, ValueError) as e:
            raise RegistryUnavailableError(f"{ref.registry}: token server unreachable: {e}") from e
        token = data.get("token") or data.get("access_token")
        if not token:
            raise AuthError(f"{ref.registry}: token server returned no token")
        with self._lock:
            self._tokens[(ref.registry, scope)] = token
        return f"Bearer {token}"
