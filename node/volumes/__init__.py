"""The node's volumes (Docker's ``local`` driver): named and anonymous directories under
``<data root>/volumes`` that outlive containers. See :mod:`node.volumes.store`.

::

    vols = VolumeStore(Path("/var/lib/swarm/volumes"))
    rt = Runtime(root, volumes=vols)      # type="volume" mounts: created on first use
    vols.list(); vols.get("data"); vols.remove("data"); vols.prune(all=False)

Errors: :mod:`node.volumes.errors`.
"""

from __future__ import annotations

from node.volumes.errors import InvalidVolumeError, NoSuchVolumeError, VolumeError, VolumeInUseError
from node.volumes.store import ANONYMOUS_LABEL, PruneReport, Volume, VolumeStore

__all__ = ["ANONYMOUS_LABEL", "InvalidVolumeError", "NoSuchVolumeError", "PruneReport", "Volume",
           "VolumeError", "VolumeInUseError", "VolumeStore"]
