"""The node's local swarm state, kept in `<data-root>/state.json`.

It records whether this node is in a swarm, its identity and how to reach the managers. It is
written atomically (temp file + rename) and is the only local record besides the certificates
(`<data-root>/certificates/`) and, on managers, the Raft journal (`<data-root>/raft/`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


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


class StateFile:
    def __init__(self, data_root: Path) -> None:
        self.path = data_root / "state.json"

    def load(self) -> NodeState | None:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return NodeState(**raw)

    def save(self, state: NodeState) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(json.dumps(asdict(state), indent=2))
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
