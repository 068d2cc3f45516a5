"""Node container runtime: namespaces, overlayfs, cgroups v1/v2, caps, seccomp, shims.

Public API (lazy imports keep the zygote -- which imports ``node.runtime.zygote`` -- small)::

    rt = Runtime(Path("/var/lib/swarm/runtime"), cgroup_parent="pyswarm")
    st = rt.create(ContainerConfig(id="c1", image=img, limits=Limits(memory_bytes=64 << 20)))
    rt.start("c1"); rt.wait("c1", timeout=None); rt.stop("c1", grace=10); rt.remove("c1")
    rt.state("c1"); rt.list(); rt.logs("c1", follow=False, tail=-1)
    rt.exec("c1", ["cat", "/etc/hostname"], timeout=30)   # -> ExecResult(exit_code, output)

Mounts, volumes and secret/config files: :mod:`node.runtime.mounts` (``Runtime(...,
volumes=VolumeStore(...))`` for ``type="volume"``; ``node.volumes``).

Errors: :mod:`node.runtime.errors`.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Runtime": "node.runtime.runtime",
    "layer_users": "node.runtime.runtime",
    "ContainerConfig": "node.runtime.spec",
    "ContainerState": "node.runtime.spec",
    "ExecResult": "node.runtime.spec",
    "Limits": "node.runtime.spec",
    "LogLine": "node.runtime.spec",
    "Mount": "node.runtime.mounts",
    "File": "node.runtime.mounts",
    "VolumeOptions": "node.runtime.mounts",
    "secret_file": "node.runtime.mounts",
    "config_file": "node.runtime.mounts",
    "Status": "node.runtime.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(mod), name)
