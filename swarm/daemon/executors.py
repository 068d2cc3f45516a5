"""Choosing the task executor for this node (composition root)."""

from __future__ import annotations

import hashlib
from typing import Any

from swarm.daemon.config import DaemonConfig


def cgroup_parent(cfg: DaemonConfig) -> str:
    if cfg.cgroup_parent:
        return cfg.cgroup_parent
    return "pyswarm-" + hashlib.sha256(str(cfg.data_root).encode()).hexdigest()[:8]


def make_executor(cfg: DaemonConfig) -> Any:
    if cfg.executor == "fake":
        from node.exec.fake import FakeExecutor

        return FakeExecutor()
    from node.exec.runtime import RuntimeExecutor  # type: ignore[import-not-found]

    return RuntimeExecutor(root=cfg.data_root, insecure_registries=cfg.insecure_registries,
                           cgroup_parent=cgroup_parent(cfg))
