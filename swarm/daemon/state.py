"""The node's local swarm state, kept in `<data-root>/state.json`.

It records whether this node is in a swarm, its identity and how to reach the managers. It is
written atomically (temp file, fsync, rename, fsync of the directory) and is the only local record
besides the certificates (`<data-root>/certificates/`) and, on managers, the Raft journal
(`<data-root>/raft/`).

Each save writes a second copy, `state.json.bak`, the same way. A `state.json` that is empty,
not JSON or not a node state (a torn write, a disk that filled up, an editor) is then replaced
by the copy at start, with a warning; if the copy is bad too, start fails with an error naming
the file and what is wrong with it, never a traceback (found by the fault campaign, tests/chaos).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from swarm.daemon.config import ConfigError

log = logging.getLogger(__name__)


@dataclass
class NodeState:
    node_id: str
    cluster_id: str
    role: str                       # "manager" | "worker"
    advertise_addr: str             # ip:port this node's manager API is reached at (managers)
    listen_addr: str                # ip:port the manager API binds to (managers)
    data_path_addr: str = ""
    remote_managers: list[str] = field(default_factory=list)
    raft_members: list[str] = field(default_factory=list)   # full Raft voter list (managers)
    data_path_port: int = 4789                               # VXLAN UDP port of the cluster

    @property
    def raft_addr(self) -> str:
        return raft_addr_for(self.advertise_addr)

    @property
    def raft_bind(self) -> str:
        return raft_addr_for(self.listen_addr)


def raft_addr_for(api_addr: str) -> str:
    """Raft (pysyncobj) runs on the manager port + 1 (2378 by default)."""
    host, port = api_addr.rsplit(":", 1)
    return f"{host}:{int(port) + 1}"


class StateFileError(ConfigError):
    """state.json (and its copy) cannot be read: the message names the file and the fault."""


def _parse(path: Path) -> NodeState:
    """The state in path; ValueError saying what is wrong (FileNotFoundError if absent)."""
    data = path.read_bytes()
    if not data.strip():
        raise ValueError("it is empty")
    try:
        raw: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"it is not JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"it holds a JSON {type(raw).__name__}, not an object")
    known = {f.name for f in fields(NodeState)}
    missing = sorted({"node_id", "cluster_id", "role", "advertise_addr", "listen_addr"} - set(raw))
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"it has unknown fields {', '.join(unknown)}")
    try:
        return NodeState(**raw)
    except TypeError as e:
        raise ValueError(str(e)) from None


class StateFile:
    def __init__(self, data_root: Path) -> None:
        self.path = data_root / "state.json"
        self.backup = data_root / "state.json.bak"

    def load(self) -> NodeState | None:
        try:
            return _parse(self.path)
        except FileNotFoundError:
            if not self.backup.exists():
                return None
            problem = "it is missing"
        except (OSError, ValueError) as e:
            problem = str(e)
        try:
            state = _parse(self.backup)
        except FileNotFoundError:
            raise StateFileError(f"{self.path} is corrupt: {problem}; there is no {self.backup.name} to "
                                 "recover from (restore the file, or remove it to leave the swarm)") from None
        except (OSError, ValueError) as e:
            raise StateFileError(f"{self.path} is corrupt: {problem}; {self.backup.name} too: {e} "
                                 "(restore the file, or remove both to leave the swarm)") from None
        log.warning("%s is corrupt (%s): recovered from %s", self.path, problem, self.backup.name)
        self._write(self.path, state)
        return state

    def save(self, state: NodeState) -> None:
        self._write(self.path, state)
        self._write(self.backup, state)

    @staticmethod
    def _write(path: Path, state: NodeState) -> None:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(json.dumps(asdict(state), indent=2))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.backup.unlink(missing_ok=True)
