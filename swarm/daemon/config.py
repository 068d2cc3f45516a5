"""Daemon configuration: what `swarmd` was started with.

Everything a daemon keeps lives under its data root, so several daemons run side by side on one
machine (the testbed). Validation happens here, before anything starts, so bad input becomes one
clear error line instead of a traceback.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_ROOT = Path("/var/lib/swarm")
DEFAULT_HOST = "unix:///run/swarm/swarmd.sock"

_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class ConfigError(Exception):
    """Invalid daemon configuration; the message is shown to the user as one line."""


@dataclass(frozen=True)
class ApiTLS:
    """dockerd's ``--tlsverify``: the Engine API over TCP serves TLS and requires client
    certificates signed by ``cacert``."""

    cacert: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class DaemonConfig:
    data_root: Path = DEFAULT_DATA_ROOT
    socket_path: Path = Path("/run/swarm/swarmd.sock")
    log_level: str = "info"
    insecure_registries: tuple[str, ...] = field(default_factory=tuple)
    executor: str = "runtime"       # "runtime" (real containers) or "fake" (tests, benchmarks)
    cgroup_parent: str = ""         # default: pyswarm-<hash of the data root>
    socket_gid: int | None = None   # --group: the group that may use the local socket
    api_socket: Path | None = None  # --api-host: the Engine API's unix socket (None: not served)
    api_socket_default: bool = False  # not given: a live socket there is skipped, not an error
    api_tcp: tuple[str, int] | None = None  # --api-host tcp://HOST:PORT (only with api_tls)
    api_tls: ApiTLS | None = None   # --tlsverify --tlscacert --tlscert --tlskey
    generic_resources: tuple[tuple[str, str], ...] = ()  # --node-generic-resource KIND=VALUE

    @property
    def host_url(self) -> str:
        return f"unix://{self.socket_path}"


def parse_host(host: str) -> Path:
    """Turn `unix:///path.sock` into a path; only unix sockets serve the local API."""
    if not host.startswith("unix://"):
        raise ConfigError(f"invalid --host {host!r}: only unix:///PATH sockets are supported")
    path = host[len("unix://") :]
    if not path.startswith("/"):
        raise ConfigError(f"invalid --host {host!r}: the socket path must be absolute")
    return Path(path)


def parse_api_host(value: str | None, control_socket: Path) -> Path | None:
    """``--api-host``: the Engine API's socket. Not given: ``docker.sock`` next to the control
    socket; ``''`` or ``none``: not served; else ``unix:///PATH``. TCP (dockerd's ``tcp://`` with
    ``--tlsverify``) is ``parse_api_tcp``'s."""
    if value is None:
        return control_socket.parent / "docker.sock"
    if value.strip().lower() in ("", "none"):
        return None
    if value.startswith("tcp://"):
        raise ConfigError(f"invalid --api-host {value!r}: tcp:// is served only with --tlsverify, "
                          "--tlscacert, --tlscert and --tlskey (client certificates required)")
    if not value.startswith("unix://") or not value[len("unix://"):].startswith("/"):
        raise ConfigError(f"invalid --api-host {value!r}: expected unix:///PATH.sock, '' or none")
    path = Path(value[len("unix://"):])
    if path == control_socket:
        raise ConfigError(f"invalid --api-host {value!r}: it is the control socket (--host)")
    return path


def parse_api_tls(tlsverify: bool, cacert: str, cert: str, key: str) -> ApiTLS | None:
    """``--tlsverify`` with its three files (each must be readable), or nothing at all."""
    given = {"--tlscacert": cacert, "--tlscert": cert, "--tlskey": key}
    if not tlsverify:
        if any(given.values()):
            raise ConfigError(", ".join(k for k, v in given.items() if v) + " need --tlsverify (the Engine "
                              "API over TCP always requires client certificates)")
        return None
    missing = [k for k, v in given.items() if not v]
    if missing:
        raise ConfigError(f"--tlsverify needs {', '.join(missing)}")
    for flag, v in given.items():
        try:
            Path(v).read_bytes()
        except OSError as e:
            raise ConfigError(f"{flag} {v}: {e.strerror or e}") from None
    return ApiTLS(Path(cacert), Path(cert), Path(key))


def parse_api_tcp(value: str, tls: ApiTLS | None) -> tuple[str, int]:
    """``--api-host tcp://HOST:PORT``: only with ``--tlsverify`` (an Engine API socket is root on
    the node: never open without client certificates)."""
    if tls is None:
        raise ConfigError(f"invalid --api-host {value!r}: tcp:// is served only with --tlsverify, "
                          "--tlscacert, --tlscert and --tlskey (client certificates required)")
    hostport = value[len("tcp://"):].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"invalid --api-host {value!r}: expected tcp://HOST:PORT")
    return host, int(port)


def parse_group(value: str) -> int | None:
    """``--group NAME|GID`` (dockerd's -G): the socket's group; empty = root only."""
    import grp

    if not value:
        return None
    try:
        return grp.getgrgid(int(value)).gr_gid if value.isdigit() else grp.getgrnam(value).gr_gid
    except (KeyError, ValueError):
        raise ConfigError(f"invalid --group {value!r}: no such group") from None


def check_insecure_registry(value: str) -> str:
    if not _HOSTPORT.match(value):
        raise ConfigError(f"invalid --insecure-registry {value!r}: expected HOST:PORT")
    port = int(value.rsplit(":", 1)[1])
    if not 0 < port < 65536:
        raise ConfigError(f"invalid --insecure-registry {value!r}: port out of range")
    return value


def prepare_data_root(path: Path) -> Path:
    """Create the data root if needed and prove it is writable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ConfigError(f"data root {path} is not writable: {e.strerror or e}") from None
    return path


def prepare_socket_dir(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the socket directory {path.parent}: {e.strerror or e}") from None
    if len(str(path).encode()) > 107:
        raise ConfigError(f"socket path {path} is too long for a unix socket (max 107 bytes)")


def parse_generic_resource(value: str) -> tuple[str, str]:
    """``--node-generic-resource KIND=VALUE`` (dockerd's ``node-generic-resources``): a number is
    a count of a discrete resource (``ssd=3``), any other value one named resource
    (``gpu=GPU-0``); repeat the flag for several."""
    kind, sep, v = value.partition("=")
    if not sep or not kind or not v or not all(c.isalnum() or c in "-_." for c in kind + v):
        raise ConfigError(f"invalid --node-generic-resource {value!r}: want KIND=VALUE "
                          "(letters, digits, '-', '_', '.')")
    return kind, v
