"""A real OCI distribution registry (Debian's ``docker-registry``) for tests.

Design notes:
* :class:`Registry` starts ``docker-registry serve`` with its own temporary config
  (filesystem storage under ``workdir``, deletes enabled, no auth) on ``host`` and a free
  port. ``host`` defaults to 127.0.0.1; pass a bridge address (e.g. the testbed's) so
  containers in other network namespaces can reach it. The process is ours: it is stopped by
  its own PID, never by name.
* :meth:`Registry.push_all` copies every image of the OCI layout built by
  :func:`tests.support.images.build_test_images` with ``skopeo copy`` and returns
  ``{"demo/web:1": "127.0.0.1:PORT/demo/web:1", ...}``. ``v2s2=True`` pushes Docker schema2
  copies as well (``…:1-v2s2``).
* :func:`registry_fixture` builds a pytest session fixture::

      registry = registry_fixture()          # in a conftest.py
      def test_x(registry): registry.refs["demo/web:1"]
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.support.images import TEST_IMAGES, build_test_images

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: {addr}
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Registry:
    """A running ``docker-registry`` on ``host:port`` (plain HTTP)."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int | None = None,
                 htpasswd: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.host = host
        self.port = port or free_port(host)
        self.htpasswd = htpasswd          # "user:bcrypt-hash" lines: basic auth required
        self.proc: subprocess.Popen[bytes] | None = None
        self.refs: dict[str, str] = {}

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> Registry:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "config.yml"
        text = CONFIG.format(data=data, addr=self.address)
        if self.htpasswd is not None:
            (self.workdir / "htpasswd").write_text(self.htpasswd)
            text += f"auth:\n  htpasswd:\n    realm: test\n    path: {self.workdir / 'htpasswd'}\n"
        cfg.write_text(text)
        log = open(self.workdir / "registry.log", "ab")  # noqa: SIM115 - lives as long as proc
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1):
                    return self
            except urllib.error.HTTPError as e:
                if e.code == 401 and self.htpasswd is not None:
                    return self
                time.sleep(0.05)
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not come up on {self.address}")

    def log_tail(self) -> str:
        p = self.workdir / "registry.log"
        return p.read_text(errors="replace")[-2000:] if p.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def push(self, layout: Path, layout_ref: str, dest: str, v2s2: bool = False,
             creds: str | None = None) -> str:
        """Push ``layout:layout_ref`` as ``dest`` (``repo:tag``); return the full ref."""
        full = f"{self.address}/{dest}"
        argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
        if creds:
            argv.append(f"--dest-creds={creds}")
        if v2s2:
            argv += ["--format", "v2s2"]
        subprocess.run([*argv, f"oci:{layout}:{layout_ref}", f"docker://{full}"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return full

    def push_all(self, layout: Path, images: dict[str, str] | None = None,
                 v2s2: bool = False) -> dict[str, str]:
        """Push every image; return ``{"demo/web:1": "HOST:PORT/demo/web:1", ...}``."""
        for name, ref in (images or TEST_IMAGES).items():
            self.refs[name] = self.push(layout, ref, name)
            if v2s2:
                self.refs[name + "-v2s2"] = self.push(layout, ref, name + "-v2s2", v2s2=True)
        return dict(self.refs)

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_registry(workdir: Path, host: str = "127.0.0.1", v2s2: bool = True) -> Iterator[Registry]:
    """Build the test images (cached in ``workdir``), start a registry, push them all."""
    layout = build_test_images(Path(workdir))
    reg = Registry(Path(workdir) / f"registry-{os.getpid()}-{free_port()}", host=host)
    with reg:
        reg.push_all(layout, v2s2=v2s2)
        yield reg


def registry_fixture(host: str = "127.0.0.1", name: str = "registry"):  # type: ignore[no-untyped-def]
    """Return a session-scoped pytest fixture yielding a started, filled :class:`Registry`."""
    import pytest

    @pytest.fixture(scope="session", name=name)
    def _fixture(tmp_path_factory):  # type: ignore[no-untyped-def]
        with running_registry(tmp_path_factory.mktemp("registry"), host=host) as reg:
            yield reg

    return _fixture


def bcrypt_hash(password: str) -> str:
    """An htpasswd line's hash (docker-registry takes bcrypt only)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated in 3.11, still the shortest way to a bcrypt hash here

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
