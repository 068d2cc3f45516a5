import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from swarm.api import types_pb2 as _types_pb2
from swarm.api import specs_pb2 as _specs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VersionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VersionResponse(_message.Message):
    __slots__ = ("version", "api_version", "python_version", "os", "arch", "kernel_version", "git_commit")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    KERNEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    GIT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    version: str
    api_version: str
    python_version: str
    os: str
    arch: str
    kernel_version: str
    git_commit: str
    def __init__(self, version: _Optional[str] = ..., api_version: _Optional[str] = ..., python_version: _Optional[str] = ..., os: _Optional[str] = ..., arch: _Optional[str] = ..., kernel_version: _Optional[str] = ..., git_commit: _Optional[str] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("local_node_state", "node_id", "node_addr", "cluster_id", "control_available", "managers", "nodes", "remote_managers", "error", "hostname", "data_root", "leader_addr", "manager_addr", "name", "ncpu", "mem_total", "version", "insecure_registries", "cgroup_version", "containers_running", "held_secrets", "held_configs")
    LOCAL_NODE_STATE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ADDR_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTROL_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    REMOTE_MANAGERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    DATA_ROOT_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDR_FIELD_NUMBER: _ClassVar[int]
    MANAGER_ADDR_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NCPU_FIELD_NUMBER: _ClassVar[int]
    MEM_TOTAL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INSECURE_REGISTRIES_FIELD_NUMBER: _ClassVar[int]
    CGROUP_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    HELD_SECRETS_FIELD_NUMBER: _ClassVar[int]
    HELD_CONFIGS_FIELD_NUMBER: _ClassVar[int]
    local_node_state: str
    node_id: str
    node_addr: str
    cluster_id: str
    control_available: bool
    managers: int
    nodes: int
    remote_managers: _containers.RepeatedScalarFieldContainer[str]
    error: str
    hostname: str
    data_root: str
    leader_addr: str
    manager_addr: str
    name: str
    ncpu: int
    mem_total: int
    version: str
    insecure_registries: _containers.RepeatedScalarFieldContainer[str]
    cgroup_version: str
    containers_running: int
    held_secrets: _containers.RepeatedScalarFieldContainer[str]
    held_configs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, local_node_state: _Optional[str] = ..., node_id: _Optional[str] = ..., node_addr: _Optional[str] = ..., cluster_id: _Optional[str] = ..., control_available: _Optional[bool] = ..., managers: _Optional[int] = ..., nodes: _Optional[int] = ..., remote_managers: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ..., hostname: _Optional[str] = ..., data_root: _Optional[str] = ..., leader_addr: _Optional[str] = ..., manager_addr: _Optional[str] = ..., name: _Optional[str] = ..., ncpu: _Optional[int] = ..., mem_total: _Optional[int] = ..., version: _Optional[str] = ..., insecure_registries: _Optional[_Iterable[str]] = ..., cgroup_version: _Optional[str] = ..., containers_running: _Optional[int] = ..., held_secrets: _Optional[_Iterable[str]] = ..., held_configs: _Optional[_Iterable[str]] = ...) -> None: ...

class InitRequest(_message.Message):
    __slots__ = ("listen_addr", "advertise_addr", "data_path_addr", "data_path_port", "force_new_cluster", "availability", "spec", "default_addr_pool", "subnet_size")
    LISTEN_ADDR_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_ADDR_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_ADDR_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_PORT_FIELD_NUMBER: _ClassVar[int]
    FORCE_NEW_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ADDR_POOL_FIELD_NUMBER: _ClassVar[int]
    SUBNET_SIZE_FIELD_NUMBER: _ClassVar[int]
    listen_addr: str
    advertise_addr: str
    data_path_addr: str
    data_path_port: int
    force_new_cluster: bool
    availability: _specs_pb2.NodeSpec.Availability
    spec: _specs_pb2.ClusterSpec
    default_addr_pool: _containers.RepeatedScalarFieldContainer[str]
    subnet_size: int
    def __init__(self, listen_addr: _Optional[str] = ..., advertise_addr: _Optional[str] = ..., data_path_addr: _Optional[str] = ..., data_path_port: _Optional[int] = ..., force_new_cluster: _Optional[bool] = ..., availability: _Optional[_Union[_specs_pb2.NodeSpec.Availability, str]] = ..., spec: _Optional[_Union[_specs_pb2.ClusterSpec, _Mapping]] = ..., default_addr_pool: _Optional[_Iterable[str]] = ..., subnet_size: _Optional[int] = ...) -> None: ...

class InitResponse(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class JoinRequest(_message.Message):
    __slots__ = ("listen_addr", "advertise_addr", "data_path_addr", "remote_addrs", "join_token", "availability")
    LISTEN_ADDR_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_ADDR_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_ADDR_FIELD_NUMBER: _ClassVar[int]
    REMOTE_ADDRS_FIELD_NUMBER: _ClassVar[int]
    JOIN_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    listen_addr: str
    advertise_addr: str
    data_path_addr: str
    remote_addrs: _containers.RepeatedScalarFieldContainer[str]
    join_token: str
    availability: _specs_pb2.NodeSpec.Availability
    def __init__(self, listen_addr: _Optional[str] = ..., advertise_addr: _Optional[str] = ..., data_path_addr: _Optional[str] = ..., remote_addrs: _Optional[_Iterable[str]] = ..., join_token: _Optional[str] = ..., availability: _Optional[_Union[_specs_pb2.NodeSpec.Availability, str]] = ...) -> None: ...

class JoinResponse(_message.Message):
    __slots__ = ("node_id", "role")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    role: _types_pb2.NodeRole
    def __init__(self, node_id: _Optional[str] = ..., role: _Optional[_Union[_types_pb2.NodeRole, str]] = ...) -> None: ...

class LeaveRequest(_message.Message):
    __slots__ = ("force",)
    FORCE_FIELD_NUMBER: _ClassVar[int]
    force: bool
    def __init__(self, force: _Optional[bool] = ...) -> None: ...

class LeaveResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnlockRequest(_message.Message):
    __slots__ = ("unlock_key",)
    UNLOCK_KEY_FIELD_NUMBER: _ClassVar[int]
    unlock_key: str
    def __init__(self, unlock_key: _Optional[str] = ...) -> None: ...

class UnlockResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ImagePullRequest(_message.Message):
    __slots__ = ("reference",)
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    def __init__(self, reference: _Optional[str] = ...) -> None: ...

class ImagePullProgress(_message.Message):
    __slots__ = ("id", "status", "current", "total", "digest")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    current: int
    total: int
    digest: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., current: _Optional[int] = ..., total: _Optional[int] = ..., digest: _Optional[str] = ...) -> None: ...

class ImageSummary(_message.Message):
    __slots__ = ("id", "repo_tags", "repo_digests", "size", "created")
    ID_FIELD_NUMBER: _ClassVar[int]
    REPO_TAGS_FIELD_NUMBER: _ClassVar[int]
    REPO_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    id: str
    repo_tags: _containers.RepeatedScalarFieldContainer[str]
    repo_digests: _containers.RepeatedScalarFieldContainer[str]
    size: int
    created: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., repo_tags: _Optional[_Iterable[str]] = ..., repo_digests: _Optional[_Iterable[str]] = ..., size: _Optional[int] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ImageListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ImageListResponse(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[ImageSummary]
    def __init__(self, images: _Optional[_Iterable[_Union[ImageSummary, _Mapping]]] = ...) -> None: ...

class ImageRemoveRequest(_message.Message):
    __slots__ = ("reference", "force")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    force: bool
    def __init__(self, reference: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class ImageRemoveResponse(_message.Message):
    __slots__ = ("untagged", "deleted")
    UNTAGGED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    untagged: _containers.RepeatedScalarFieldContainer[str]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, untagged: _Optional[_Iterable[str]] = ..., deleted: _Optional[_Iterable[str]] = ...) -> None: ...

class ImageImportRequest(_message.Message):
    __slots__ = ("path", "reference")
    PATH_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    path: str
    reference: str
    def __init__(self, path: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...

class ImageImportResponse(_message.Message):
    __slots__ = ("references",)
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    references: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, references: _Optional[_Iterable[str]] = ...) -> None: ...

class DistributionInspectRequest(_message.Message):
    __slots__ = ("reference", "registry_auth")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    reference: str
    registry_auth: str
    def __init__(self, reference: _Optional[str] = ..., registry_auth: _Optional[str] = ...) -> None: ...

class DistributionPlatform(_message.Message):
    __slots__ = ("architecture", "os", "os_version", "os_features", "variant")
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_FEATURES_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    architecture: str
    os: str
    os_version: str
    os_features: _containers.RepeatedScalarFieldContainer[str]
    variant: str
    def __init__(self, architecture: _Optional[str] = ..., os: _Optional[str] = ..., os_version: _Optional[str] = ..., os_features: _Optional[_Iterable[str]] = ..., variant: _Optional[str] = ...) -> None: ...

class DistributionInspectResponse(_message.Message):
    __slots__ = ("media_type", "digest", "size", "platforms")
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PLATFORMS_FIELD_NUMBER: _ClassVar[int]
    media_type: str
    digest: str
    size: int
    platforms: _containers.RepeatedCompositeFieldContainer[DistributionPlatform]
    def __init__(self, media_type: _Optional[str] = ..., digest: _Optional[str] = ..., size: _Optional[int] = ..., platforms: _Optional[_Iterable[_Union[DistributionPlatform, _Mapping]]] = ...) -> None: ...

class VolumeCreateRequest(_message.Message):
    __slots__ = ("name", "driver", "driver_opts", "labels")
    class DriverOptsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    DRIVER_OPTS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    driver: str
    driver_opts: _containers.ScalarMap[str, str]
    labels: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., driver: _Optional[str] = ..., driver_opts: _Optional[_Mapping[str, str]] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class VolumeCreateResponse(_message.Message):
    __slots__ = ("volume_json",)
    VOLUME_JSON_FIELD_NUMBER: _ClassVar[int]
    volume_json: str
    def __init__(self, volume_json: _Optional[str] = ...) -> None: ...

class VolumeListRequest(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, filters: _Optional[_Iterable[str]] = ...) -> None: ...

class VolumeListResponse(_message.Message):
    __slots__ = ("volumes_json",)
    VOLUMES_JSON_FIELD_NUMBER: _ClassVar[int]
    volumes_json: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, volumes_json: _Optional[_Iterable[str]] = ...) -> None: ...

class VolumeInspectRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class VolumeInspectResponse(_message.Message):
    __slots__ = ("volume_json",)
    VOLUME_JSON_FIELD_NUMBER: _ClassVar[int]
    volume_json: str
    def __init__(self, volume_json: _Optional[str] = ...) -> None: ...

class VolumeRemoveRequest(_message.Message):
    __slots__ = ("name", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class VolumeRemoveResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VolumePruneRequest(_message.Message):
    __slots__ = ("all", "filters")
    ALL_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    all: bool
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, all: _Optional[bool] = ..., filters: _Optional[_Iterable[str]] = ...) -> None: ...

class VolumePruneResponse(_message.Message):
    __slots__ = ("deleted", "space_reclaimed")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SPACE_RECLAIMED_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    space_reclaimed: int
    def __init__(self, deleted: _Optional[_Iterable[str]] = ..., space_reclaimed: _Optional[int] = ...) -> None: ...

class ContainerListRequest(_message.Message):
    __slots__ = ("all", "filters")
    ALL_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    all: bool
    filters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, all: _Optional[bool] = ..., filters: _Optional[_Iterable[str]] = ...) -> None: ...

class ContainerListResponse(_message.Message):
    __slots__ = ("containers_json",)
    CONTAINERS_JSON_FIELD_NUMBER: _ClassVar[int]
    containers_json: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, containers_json: _Optional[_Iterable[str]] = ...) -> None: ...

class ContainerInspectRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ContainerInspectResponse(_message.Message):
    __slots__ = ("container_json",)
    CONTAINER_JSON_FIELD_NUMBER: _ClassVar[int]
    container_json: str
    def __init__(self, container_json: _Optional[str] = ...) -> None: ...

class ContainerLogsRequest(_message.Message):
    __slots__ = ("id", "follow", "tail")
    ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    id: str
    follow: bool
    tail: int
    def __init__(self, id: _Optional[str] = ..., follow: _Optional[bool] = ..., tail: _Optional[int] = ...) -> None: ...

class ContainerLogLine(_message.Message):
    __slots__ = ("timestamp", "stream", "data")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    stream: str
    data: bytes
    def __init__(self, timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stream: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ContainerTopRequest(_message.Message):
    __slots__ = ("id", "ps_args")
    ID_FIELD_NUMBER: _ClassVar[int]
    PS_ARGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    ps_args: str
    def __init__(self, id: _Optional[str] = ..., ps_args: _Optional[str] = ...) -> None: ...

class ContainerTopResponse(_message.Message):
    __slots__ = ("top_json",)
    TOP_JSON_FIELD_NUMBER: _ClassVar[int]
    top_json: str
    def __init__(self, top_json: _Optional[str] = ...) -> None: ...

class ContainerStatsRequest(_message.Message):
    __slots__ = ("id", "stream", "one_shot")
    ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    ONE_SHOT_FIELD_NUMBER: _ClassVar[int]
    id: str
    stream: bool
    one_shot: bool
    def __init__(self, id: _Optional[str] = ..., stream: _Optional[bool] = ..., one_shot: _Optional[bool] = ...) -> None: ...

class ContainerStatsResponse(_message.Message):
    __slots__ = ("stats_json",)
    STATS_JSON_FIELD_NUMBER: _ClassVar[int]
    stats_json: str
    def __init__(self, stats_json: _Optional[str] = ...) -> None: ...

class ExecCreateRequest(_message.Message):
    __slots__ = ("container", "cmd", "env", "user", "working_dir", "tty", "attach_stdin", "attach_stdout", "attach_stderr", "privileged", "detach_keys")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    CMD_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    ATTACH_STDIN_FIELD_NUMBER: _ClassVar[int]
    ATTACH_STDOUT_FIELD_NUMBER: _ClassVar[int]
    ATTACH_STDERR_FIELD_NUMBER: _ClassVar[int]
    PRIVILEGED_FIELD_NUMBER: _ClassVar[int]
    DETACH_KEYS_FIELD_NUMBER: _ClassVar[int]
    container: str
    cmd: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.RepeatedScalarFieldContainer[str]
    user: str
    working_dir: str
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    privileged: bool
    detach_keys: str
    def __init__(self, container: _Optional[str] = ..., cmd: _Optional[_Iterable[str]] = ..., env: _Optional[_Iterable[str]] = ..., user: _Optional[str] = ..., working_dir: _Optional[str] = ..., tty: _Optional[bool] = ..., attach_stdin: _Optional[bool] = ..., attach_stdout: _Optional[bool] = ..., attach_stderr: _Optional[bool] = ..., privileged: _Optional[bool] = ..., detach_keys: _Optional[str] = ...) -> None: ...

class ExecCreateResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ExecStartRequest(_message.Message):
    __slots__ = ("id", "detach")
    ID_FIELD_NUMBER: _ClassVar[int]
    DETACH_FIELD_NUMBER: _ClassVar[int]
    id: str
    detach: bool
    def __init__(self, id: _Optional[str] = ..., detach: _Optional[bool] = ...) -> None: ...

class ExecOutput(_message.Message):
    __slots__ = ("stream", "data")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    stream: str
    data: bytes
    def __init__(self, stream: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ExecInspectRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ExecInspectResponse(_message.Message):
    __slots__ = ("exec_json",)
    EXEC_JSON_FIELD_NUMBER: _ClassVar[int]
    exec_json: str
    def __init__(self, exec_json: _Optional[str] = ...) -> None: ...
