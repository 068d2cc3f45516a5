"""`--with-registry-auth`: the client's credentials for the image's registry, as Docker's CLI
finds them (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``: ``auths``, then
``credHelpers``/``credsStore`` through ``docker-credential-<name> get``), encoded as Docker's
X-Registry-Auth (base64url JSON ``{username, password, serveraddress}``). No credentials for
that registry: nothing is sent, as Docker sends an empty auth.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from swarm.cli.client import CLIError

DOCKER_HUB = "docker.io"
HUB_KEY = "https://index.docker.io/v1/"


def registry_of(image: str) -> str:
    """The registry host of an image reference (Docker's rule: a first component with a dot, a
    colon or ``localhost`` names one; otherwise Docker Hub)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def _config_file() -> Path:
    d = os.environ.get("DOCKER_CONFIG")
    return Path(d) / "config.json" if d else Path.home() / ".docker" / "config.json"


def _host_of(key: str) -> str:
    k = key.split("://", 1)[-1]
    return k.split("/", 1)[0]


def _helper(name: str, server: str) -> dict[str, str] | None:
    prog = f"docker-credential-{name}"
    try:
        cp = subprocess.run([prog, "get"], input=server, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise CLIError(f'error getting credentials - err: exec: "{prog}": executable file not found in $PATH, '
                       "out: ``") from None
    if cp.returncode != 0:
        if "credentials not found" in cp.stdout + cp.stderr:
            return None
        raise CLIError(f"error getting credentials - err: exit status {cp.returncode}, out: `{cp.stdout.strip()}`")
    try:
        doc = json.loads(cp.stdout)
        return {"username": doc["Username"], "password": doc["Secret"]}
    except (ValueError, KeyError, TypeError):
        raise CLIError(f"error getting credentials: {prog} answered no Username/Secret") from None


def credentials_for(registry: str, config: dict[str, Any]) -> dict[str, str] | None:
    """``{username, password, serveraddress}`` for ``registry`` from a docker config, or None."""
    hub = registry == DOCKER_HUB
    server = HUB_KEY if hub else registry
    helpers = config.get("credHelpers") or {}
    for key, name in helpers.items():
        if (hub and _host_of(key) in ("index.docker.io", DOCKER_HUB)) or _host_of(key) == registry:
            found = _helper(str(name), key)
            return {**found, "serveraddress": key} if found else None
    for key, entry in (config.get("auths") or {}).items():
        host = _host_of(key)
        if not ((hub and host in ("index.docker.io", DOCKER_HUB)) or host == registry):
            continue
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, pw = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise CLIError(f"invalid auth configuration file: {key}: auth is not base64 user:password") from None
            return {"username": user, "password": pw, "serveraddress": key}
        if entry.get("username"):
            return {"username": entry["username"], "password": entry.get("password", ""), "serveraddress": key}
    if config.get("credsStore"):
        found = _helper(str(config["credsStore"]), server)
        return {**found, "serveraddress": server} if found else None
    return None


def encoded_auth(image: str) -> str:
    """X-Registry-Auth for ``image`` from this client's docker config ("" when none)."""
    path = _config_file()
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return ""
    except (OSError, ValueError) as e:
        raise CLIError(f"loading config file {path}: {e}") from None
    creds = credentials_for(registry_of(image), config if isinstance(config, dict) else {})
    if not creds:
        return ""
    return base64.urlsafe_b64encode(json.dumps(creds).encode()).decode()
