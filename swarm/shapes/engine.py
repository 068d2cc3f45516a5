"""The Engine API's shapes of the objects `docker.py` does not cover: tasks, networks, secrets,
configs, the swarm (cluster), and the `/info` and `/version` documents (moby api/swagger.yaml:
Task, Network, Secret, Config, Swarm, SystemInfo, SystemVersion).

Services and nodes are `docker.service_doc` / `docker.node_doc`; a task's `Spec` reuses the
service's `TaskTemplate` shape, so a task reads exactly as its service's template.
"""

from __future__ import annotations

import base64
from typing import Any

from swarm.api import daemon_pb2, objects_pb2, specs_pb2
from swarm.shapes.docker import _enum, _meta, service_spec_doc, to_docker


def task_doc(task: objects_pb2.Task) -> dict[str, Any]:
    """A task as `GET /tasks/{id}` answers it."""
    out = _meta(task)
    out["Labels"] = dict(task.annotations.labels)
    out["Spec"] = service_spec_doc(specs_pb2.ServiceSpec(task=task.spec))["TaskTemplate"]
    out["ServiceID"] = task.service_id
    if task.slot:
        out["Slot"] = task.slot
    if task.node_id:
        out["NodeID"] = task.node_id
    st = task.status
    status: dict[str, Any] = {
        "Timestamp": st.timestamp.ToJsonString() if st.HasField("timestamp") else "",
        "State": _enum(st, "state"),
        "Message": st.message,
    }
    if st.err:
        status["Err"] = st.err
    if st.HasField("container"):
        c = st.container
        status["ContainerStatus"] = {"ContainerID": c.container_id, "PID": c.pid, "ExitCode": c.exit_code}
    status["PortStatus"] = to_docker(st.port_status) if st.HasField("port_status") else {}
    out["Status"] = status
    out["DesiredState"] = _enum(task, "desired_state")
    if task.networks:
        out["NetworksAttachments"] = [
            {"Network": swarm_network_doc(a.network), "Addresses": list(a.addresses)} for a in task.networks
        ]
    return out


# ---- networks ------------------------------------------------------------------------------------


def swarm_network_doc(net: objects_pb2.Network) -> dict[str, Any]:
    """A network in swarmkit's shape (inside a task's `NetworksAttachments`)."""
    out = _meta(net)
    spec = net.spec
    out["Spec"] = {
        "Name": spec.annotations.name,
        "Labels": dict(spec.annotations.labels),
        "DriverConfiguration": {"Name": spec.driver_config.name or "overlay"},
        "Internal": spec.internal,
        "Attachable": spec.attachable,
        "Ingress": spec.ingress,
        "Scope": "swarm",
    }
    out["DriverState"] = {
        "Name": net.driver_state.name or "overlay",
        "Options": dict(net.driver_state.options),
    }
    out["IPAMOptions"] = {
        "Driver": {"Name": "default"},
        "Configs": [_ipam_config(c) for c in net.ipam.configs],
    }
    return out


def _ipam_config(c: Any) -> dict[str, str]:
    out = {"Subnet": c.subnet, "Gateway": c.gateway}
    if c.range:
        out["IPRange"] = c.range
    return out


def network_doc(net: objects_pb2.Network) -> dict[str, Any]:
    """A network as `GET /networks/{id}` answers it (Docker's NetworkResource)."""
    spec = net.spec
    options = dict(spec.driver_config.options)
    options.update(net.driver_state.options)
    return {
        "Name": spec.annotations.name,
        "Id": net.id,
        "Created": net.meta.created_at.ToJsonString() if net.meta.HasField("created_at") else "",
        "Scope": "swarm",
        "Driver": spec.driver_config.name or "overlay",
        "EnableIPv4": True,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None,
            "Config": [_ipam_config(c) for c in (net.ipam.configs or spec.ipam.configs)],
        },
        "Internal": spec.internal,
        "Attachable": spec.attachable,
        "Ingress": spec.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": options,
        "Labels": dict(spec.annotations.labels),
    }


# ---- secrets and configs ---------------------------------------------------------------------------


def secret_doc(sec: objects_pb2.Secret) -> dict[str, Any]:
    """`GET /secrets/{id}`: never the data (the store does not even hold it in clear)."""
    out = _meta(sec)
    spec: dict[str, Any] = {"Name": sec.spec.annotations.name, "Labels": dict(sec.spec.annotations.labels)}
    if sec.spec.HasField("driver"):
        spec["Driver"] = to_docker(sec.spec.driver)
    if sec.spec.HasField("templating"):
        spec["Templating"] = to_docker(sec.spec.templating)
    out["Spec"] = spec
    return out


def config_doc(cfg: objects_pb2.Config) -> dict[str, Any]:
    """`GET /configs/{id}`: with its data, base64 as in Docker's JSON."""
    out = _meta(cfg)
    spec: dict[str, Any] = {
        "Name": cfg.spec.annotations.name,
        "Labels": dict(cfg.spec.annotations.labels),
        "Data": base64.b64encode(cfg.spec.data).decode(),
    }
    if cfg.spec.HasField("templating"):
        spec["Templating"] = to_docker(cfg.spec.templating)
    out["Spec"] = spec
    return out


# ---- the swarm --------------------------------------------------------------------------------------


def cluster_info_doc(cl: objects_pb2.Cluster) -> dict[str, Any]:
    """Docker's ClusterInfo (`/info`'s `Swarm.Cluster`; `/swarm` adds the join tokens)."""
    out = _meta(cl)
    spec = cl.spec
    raft = spec.raft
    out["Spec"] = {
        "Name": spec.annotations.name or "default",
        "Labels": dict(spec.annotations.labels),
        "Orchestration": {"TaskHistoryRetentionLimit": spec.orchestration.task_history_retention_limit},
        "Raft": {
            "SnapshotInterval": raft.snapshot_interval,
            "KeepOldSnapshots": raft.keep_old_snapshots,
            "LogEntriesForSlowFollowers": raft.log_entries_for_slow_followers,
            "ElectionTick": raft.election_tick,
            "HeartbeatTick": raft.heartbeat_tick,
        },
        "Dispatcher": {"HeartbeatPeriod": spec.dispatcher.heartbeat_period.ToNanoseconds()},
        "CAConfig": {"NodeCertExpiry": spec.ca_config.node_cert_expiry.ToNanoseconds(),
                     **({"ForceRotate": spec.ca_config.force_rotate} if spec.ca_config.force_rotate else {})},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": spec.encryption_config.auto_lock_managers},
    }
    out["TLSInfo"] = {"TrustRoot": cl.root_ca.ca_cert.decode(errors="replace")}
    out["RootRotationInProgress"] = False
    out["DefaultAddrPool"] = list(cl.default_address_pool)
    out["SubnetSize"] = cl.subnet_size
    out["DataPathPort"] = cl.vxlan_udp_port or 4789
    return out


def swarm_doc(cl: objects_pb2.Cluster) -> dict[str, Any]:
    """`GET /swarm`."""
    out = cluster_info_doc(cl)
    out["JoinTokens"] = {"Worker": cl.root_ca.join_tokens.worker, "Manager": cl.root_ca.join_tokens.manager}
    return out


# ---- system -----------------------------------------------------------------------------------------


def info_doc(r: daemon_pb2.InfoResponse, cluster: objects_pb2.Cluster | None) -> dict[str, Any]:
    """`GET /info` (SystemInfo): the fields we have; ``cluster`` only on a manager."""
    swarm: dict[str, Any] = {
        "NodeID": r.node_id,
        "NodeAddr": r.node_addr,
        "LocalNodeState": r.local_node_state,
        "ControlAvailable": r.control_available,
        "Error": r.error,
        "RemoteManagers": [{"NodeID": "", "Addr": a} for a in r.remote_managers] or None,
    }
    if r.control_available:
        swarm.update({"Nodes": r.nodes, "Managers": r.managers})
        if cluster is not None:
            swarm["Cluster"] = cluster_info_doc(cluster)
    return {
        "ID": r.node_id,
        "Containers": r.containers_running,
        "ContainersRunning": r.containers_running,
        "ContainersPaused": 0,
        "ContainersStopped": 0,
        "Images": 0,
        "Driver": "overlay",
        "DriverStatus": [],
        "Plugins": {"Volume": ["local"], "Network": ["overlay"], "Log": ["json-file"]},
        "MemoryLimit": True,
        "SwapLimit": True,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": r.cgroup_version,
        "Name": r.name,
        "NCPU": r.ncpu,
        "MemTotal": r.mem_total,
        "ServerVersion": r.version,
        "OSType": "linux",
        "OperatingSystem": "pyswarm",
        "Architecture": _arch(),
        "KernelVersion": _kernel(),
        "DockerRootDir": r.data_root,
        "IndexServerAddress": "",
        "RegistryConfig": {
            "InsecureRegistryCIDRs": [],
            "Mirrors": [],
            "IndexConfigs": {
                h: {"Name": h, "Mirrors": [], "Secure": False, "Official": False}
                for h in r.insecure_registries
            },
        },
        "Runtimes": {"pyswarm": {"path": "node.runtime"}},
        "DefaultRuntime": "pyswarm",
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "docker-init",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": [],
        "Swarm": swarm,
    }


_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}


def goarch(machine: str) -> str:
    """Docker names architectures as Go does (``amd64``, ``arm64``)."""
    return _GOARCH.get(machine, machine)


def version_doc(r: daemon_pb2.VersionResponse, api_version: str, min_api_version: str) -> dict[str, Any]:
    """`GET /version` (SystemVersion)."""
    return {
        "Platform": {"Name": f"pyswarm {r.version}"},
        "Components": [
            {
                "Name": "Engine",
                "Version": r.version,
                "Details": {
                    "ApiVersion": api_version,
                    "MinAPIVersion": min_api_version,
                    "PythonVersion": r.python_version,
                    "Os": r.os,
                    "Arch": goarch(r.arch),
                    "KernelVersion": r.kernel_version,
                    "Experimental": "false",
                },
            }
        ],
        "Version": r.version,
        "ApiVersion": api_version,
        "MinAPIVersion": min_api_version,
        "GitCommit": r.git_commit,
        "GoVersion": f"python{r.python_version}",
        "Os": r.os,
        "Arch": goarch(r.arch),
        "KernelVersion": r.kernel_version,
        "BuildTime": "",
    }


def _arch() -> str:
    import platform

    return platform.machine()  # /info's Architecture is uname's (x86_64), /version's Arch Go's


def _kernel() -> str:
    import platform

    return platform.release()


# ---- the node's images ------------------------------------------------------------------------------


def image_summary_doc(img: daemon_pb2.ImageSummary) -> dict[str, Any]:
    """`GET /images/json` (ImageSummary)."""
    return {
        "Id": img.id,
        "ParentId": "",
        "RepoTags": list(img.repo_tags),
        "RepoDigests": list(img.repo_digests),
        "Created": img.created.seconds,
        "Size": img.size,
        "SharedSize": -1,
        "Labels": {},
        "Containers": -1,
    }


def image_inspect_doc(img: daemon_pb2.ImageSummary) -> dict[str, Any]:
    """`GET /images/{name}/json`, from what the node's image list says (no config or layers yet)."""
    return {
        "Id": img.id,
        "RepoTags": list(img.repo_tags),
        "RepoDigests": list(img.repo_digests),
        "Parent": "",
        "Comment": "",
        "Created": img.created.ToJsonString() if img.HasField("created") else "",
        "Os": "linux",
        "Size": img.size,
        "RootFS": {"Type": "layers"},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},  # Go's zero time: the CLI parses it
    }


def _platform_doc(p: daemon_pb2.DistributionPlatform) -> dict[str, Any]:
    """OCI's Platform as Go encodes it: ``os.version``, ``os.features``, ``variant`` omitted
    when empty."""
    doc: dict[str, Any] = {"architecture": p.architecture, "os": p.os}
    if p.os_version:
        doc["os.version"] = p.os_version
    if p.os_features:
        doc["os.features"] = list(p.os_features)
    if p.variant:
        doc["variant"] = p.variant
    return doc


def distribution_doc(r: daemon_pb2.DistributionInspectResponse) -> dict[str, Any]:
    """`GET /distribution/{name}/json` (moby's registry.DistributionInspect): the descriptor
    and the platforms, ``null`` when the registry named none (an OCI manifest)."""
    return {
        "Descriptor": {"mediaType": r.media_type, "digest": r.digest, "size": r.size},
        "Platforms": [_platform_doc(p) for p in r.platforms] or None,
    }
