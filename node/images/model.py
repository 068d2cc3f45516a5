"""Value types of the image store: :class:`Image` and :class:`ImageConfig`.

``Image.id`` is the config digest (as Docker's image ID). ``layers`` are the unpacked layer
directories bottom -> top, ready to be used as overlayfs lower dirs (the runtime reverses
them for ``lowerdir=``). Everything here is immutable and JSON-round-trippable so the store
can keep one small metadata file per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ImageConfig:
    """The runnable part of an image config (OCI ``config`` / Docker ``config``)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    #: Docker's ``Healthcheck`` as the image config has it (``Test``, ``Interval`` in ns, ...);
    #: None when the image has no HEALTHCHECK (OCI configs never do).
    healthcheck: dict[str, Any] | None = None

    @classmethod
    def from_oci(cls, cfg: dict[str, Any] | None) -> ImageConfig:
        c = cfg or {}
        return cls(
            entrypoint=tuple(c.get("Entrypoint") or ()),
            cmd=tuple(c.get("Cmd") or ()),
            env=tuple(c.get("Env") or ()),
            workdir=c.get("WorkingDir") or "",
            user=c.get("User") or "",
            exposed_ports=tuple(sorted((c.get("ExposedPorts") or {}).keys())),
            labels=dict(c.get("Labels") or {}),
            stop_signal=c.get("StopSignal") or "",
            healthcheck=dict(c["Healthcheck"]) if isinstance(c.get("Healthcheck"), dict) else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {"entrypoint": list(self.entrypoint), "cmd": list(self.cmd), "env": list(self.env),
                "workdir": self.workdir, "user": self.user,
                "exposed_ports": list(self.exposed_ports), "labels": self.labels,
                "stop_signal": self.stop_signal, "healthcheck": self.healthcheck}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImageConfig:
        return cls(entrypoint=tuple(d.get("entrypoint", ())), cmd=tuple(d.get("cmd", ())),
                   env=tuple(d.get("env", ())), workdir=d.get("workdir", ""),
                   user=d.get("user", ""), exposed_ports=tuple(d.get("exposed_ports", ())),
                   labels=dict(d.get("labels", {})), stop_signal=d.get("stop_signal", ""),
                   healthcheck=d.get("healthcheck"))


@dataclass(frozen=True)
class Image:
    """One image in the local store."""

    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    config: ImageConfig
    layers: tuple[Path, ...]
    diff_ids: tuple[str, ...]
    size: int
    created: str = ""
    architecture: str = ""
    os: str = "linux"

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]
