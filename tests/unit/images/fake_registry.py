"""A tiny in-process registry (http.server in a thread) for auth and corruption tests."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import ssl
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UNAUTH = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
MAN_UNKNOWN = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
DENIED = b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_image(content: bytes = b"hello\n") -> dict:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("hello.txt")
        ti.size = len(content)
        t.addfile(ti, io.BytesIO(content))
    raw = buf.getvalue()
    gz = gzip.compress(raw)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello"]},
                         "rootfs": {"type": "layers", "diff_ids": [_sha(raw)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": _sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": _sha(gz), "size": len(gz)}]}).encode()
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [
                            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:"
                             + "0" * 64, "size": 1, "platform": {"os": "linux", "architecture": "s390x"}},
                            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "digest": _sha(manifest), "size": len(manifest),
                             "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    return {"blobs": {_sha(config): config, _sha(gz): gz}, "manifests": {_sha(manifest): manifest},
            "index": index, "manifest": manifest, "config": config, "layer": gz}


class FakeRegistry:
    """auth: None | "basic" | "bearer" | "deny" (403 to everything); corrupt: serve the layer
    with one byte flipped."""

    def __init__(self, auth: str | None = None, user: str = "u", password: str = "p",
                 corrupt: bool = False, tls: tuple[str, str] | None = None) -> None:
        self.img = make_image()
        self.auth, self.user, self.password, self.corrupt = auth, user, password, corrupt
        self.requests: list[tuple[str, str, str]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                outer.requests.append(("GET", self.path, self.headers.get("Authorization") or ""))
                outer.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeRegistry:
        self.thread.start()
        return self

    def __exit__(self, *a) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _send(self, h, code, body=b"", ctype="application/json", headers=None):
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def handle(self, h) -> None:
        path = h.path.split("?")[0]
        basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if path == "/token":
            if h.headers.get("Authorization") != basic:
                return self._send(h, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad creds"}]}')
            return self._send(h, 200, json.dumps({"token": "tok123"}).encode())
        if self.auth == "deny":
            return self._send(h, 403, DENIED)
        if self.auth == "basic" and h.headers.get("Authorization") != basic:
            return self._send(h, 401, UNAUTH,
                              headers={"WWW-Authenticate": 'Basic realm="fake"'})
        if self.auth == "bearer" and h.headers.get("Authorization") != "Bearer tok123":
            realm = f"http://{self.address}/token"
            return self._send(h, 401, UNAUTH,
                              headers={"WWW-Authenticate":
                                       f'Bearer realm="{realm}",service="fake",scope="repository:x/y:pull"'})
        parts = path.split("/")
        if path.startswith("/v2/x/y/manifests/"):
            ref = parts[-1]
            if ref in ("1", _sha(self.img["index"])):
                return self._send(h, 200, self.img["index"], "application/vnd.oci.image.index.v1+json",
                                  {"Docker-Content-Digest": _sha(self.img["index"])})
            if ref in self.img["manifests"]:
                return self._send(h, 200, self.img["manifests"][ref], OCI_MANIFEST)
            return self._send(h, 404, MAN_UNKNOWN)
        if path.startswith("/v2/x/y/blobs/"):
            d = parts[-1]
            if d in self.img["blobs"]:
                body = self.img["blobs"][d]
                if self.corrupt and body == self.img["layer"]:
                    body = body[:-5] + bytes([body[-5] ^ 1]) + body[-4:]
                return self._send(h, 200, body, "application/octet-stream")
            return self._send(h, 404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
        return self._send(h, 404, b"{}")
