"""Choosing the task executor for this node (composition root)."""

from __future__ import annotations

import hashlib
from typing import Any

from swarm.daemon.config import DaemonConfig


def cgroup_parent(cfg: DaemonConfig) -> str:
    if cfg.cgroup_parent:
        return cfg.cgroup_parent
    return "pyswarm-" + hashlib.sha256(str(cfg.data_root).encode()).hexdigest()[:8]


def make_images(cfg: DaemonConfig) -> Any:
    from node.images import ImageStore

    return ImageStore(cfg.data_root / "images", cfg.insecure_registries)


def make_executor(cfg: DaemonConfig, images: Any) -> Any:
    if cfg.executor == "fake":
        from node.exec.fake import FakeExecutor

        return FakeExecutor()
    from node.exec.runtime import RuntimeExecutor
    from node.runtime import Runtime

    runtime = Runtime(cfg.data_root / "runtime", cgroup_parent=cgroup_parent(cfg))
    return RuntimeExecutor(runtime, images)
