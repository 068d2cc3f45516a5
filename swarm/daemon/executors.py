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
    """The node's image store; with the real runtime it will not delete the layers of an
    image a container still runs from (Docker's "image is being used by running container")."""
    import functools

    from node.images import ImageStore

    in_use = None
    if cfg.executor != "fake":
        from node.runtime import layer_users

        in_use = functools.partial(layer_users, cfg.data_root / "runtime")
    return ImageStore(cfg.data_root / "images", cfg.insecure_registries, in_use=in_use)


def make_volumes(cfg: DaemonConfig) -> Any:
    """The node's volume store (``<data-root>/volumes``), shared by the runtime and the daemon
    API's ``volume`` calls."""
    from node.volumes import VolumeStore

    return VolumeStore(cfg.data_root / "volumes")


def name_prefix(cfg: DaemonConfig) -> str:
    """Short, per-daemon prefix for kernel object names (netns, links, nft tables), so several
    daemons on one kernel (the testbed) never touch each other's."""
    return "p" + hashlib.sha256(str(cfg.data_root).encode()).hexdigest()[:5]


#: Each node's egress bridge (Docker's docker_gwbridge uses the same default): outbound traffic
#: of containers is masqueraded through it, and host-mode published ports are DNATed to it.
EGRESS_SUBNET = "172.18.0.0/16"


def make_network(cfg: DaemonConfig, node_id: str, data_path_addr: str,
                 vxlan_port: int = 4789) -> tuple[Any, Any]:
    """(NodeNetwork, NetSync) for the real executor: NetSync is its ``network`` (the sandbox
    seam, and where the assignments' network items go); the daemon closes both."""
    from node.network import NodeNetwork
    from node.network.netsync import NetSync

    nn = NodeNetwork(cfg.data_root / "network", data_path_addr=data_path_addr,
                     vxlan_port=vxlan_port, name_prefix=name_prefix(cfg), egress_subnet=EGRESS_SUBNET)
    return nn, NetSync(nn, node_id)


def make_executor(cfg: DaemonConfig, images: Any, network: Any = None, volumes: Any = None) -> Any:
    if cfg.executor == "fake":
        from node.exec.fake import FakeExecutor

        return FakeExecutor(data_root=str(cfg.data_root))
    from node.exec.runtime import RuntimeExecutor
    from node.runtime import Runtime

    runtime = Runtime(cfg.data_root / "runtime", cgroup_parent=cgroup_parent(cfg), volumes=volumes)
    return RuntimeExecutor(runtime, images, network=network, data_root=cfg.data_root)
