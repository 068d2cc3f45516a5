"""What every converter shares: the stack's labels and :class:`StackContext`, the stack's top
level (networks, volumes, secrets, configs) as its services see it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAMESPACE_LABEL = "com.docker.stack.namespace"
IMAGE_LABEL = "com.docker.stack.image"


@dataclass
class StackContext:
    """The stack's top level as the services see it: Compose key -> real (scoped) name."""

    namespace: str
    project_dir: Path
    networks: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)   # key -> {name, driver, ...}
    secrets: dict[str, str] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def scoped(self, name: str) -> str:
        return f"{self.namespace}_{name}"
