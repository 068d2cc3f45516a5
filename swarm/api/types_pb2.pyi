import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NEW: _ClassVar[TaskState]
    PENDING: _ClassVar[TaskState]
    ALLOCATED: _ClassVar[TaskState]
    ASSIGNED: _ClassVar[TaskState]
    ACCEPTED: _ClassVar[TaskState]
    PREPARING: _ClassVar[TaskState]
    READY: _ClassVar[TaskState]
    STARTING: _ClassVar[TaskState]
    RUNNING: _ClassVar[TaskState]
    COMPLETE: _ClassVar[TaskState]
    SHUTDOWN: _ClassVar[TaskState]
    FAILED: _ClassVar[TaskState]
    REJECTED: _ClassVar[TaskState]
    REMOVE: _ClassVar[TaskState]
    ORPHANED: _ClassVar[TaskState]

class NodeRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKER: _ClassVar[NodeRole]
    MANAGER: _ClassVar[NodeRole]
NEW: TaskState
PENDING: TaskState
ALLOCATED: TaskState
ASSIGNED: TaskState
ACCEPTED: TaskState
PREPARING: TaskState
READY: TaskState
STARTING: TaskState
RUNNING: TaskState
COMPLETE: TaskState
SHUTDOWN: TaskState
FAILED: TaskState
REJECTED: TaskState
REMOVE: TaskState
ORPHANED: TaskState
WORKER: NodeRole
MANAGER: NodeRole

class Version(_message.Message):
    __slots__ = ("index",)
    INDEX_FIELD_NUMBER: _ClassVar[int]
    index: int
    def __init__(self, index: _Optional[int] = ...) -> None: ...

class Meta(_message.Message):
    __slots__ = ("version", "created_at", "updated_at")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    version: Version
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[_Union[Version, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Annotations(_message.Message):
    __slots__ = ("name", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Platform(_message.Message):
    __slots__ = ("os", "architecture")
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    os: str
    architecture: str
    def __init__(self, os: _Optional[str] = ..., architecture: _Optional[str] = ...) -> None: ...

class Resources(_message.Message):
    __slots__ = ("nano_cpus", "memory_bytes", "pids", "generic")
    NANO_CPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    PIDS_FIELD_NUMBER: _ClassVar[int]
    GENERIC_FIELD_NUMBER: _ClassVar[int]
    nano_cpus: int
    memory_bytes: int
    pids: int
    generic: _containers.RepeatedCompositeFieldContainer[GenericResource]
    def __init__(self, nano_cpus: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., pids: _Optional[int] = ..., generic: _Optional[_Iterable[_Union[GenericResource, _Mapping]]] = ...) -> None: ...

class GenericResource(_message.Message):
    __slots__ = ("named", "discrete")
    class Named(_message.Message):
        __slots__ = ("kind", "value")
        KIND_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        kind: str
        value: str
        def __init__(self, kind: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class Discrete(_message.Message):
        __slots__ = ("kind", "value")
        KIND_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        kind: str
        value: int
        def __init__(self, kind: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAMED_FIELD_NUMBER: _ClassVar[int]
    DISCRETE_FIELD_NUMBER: _ClassVar[int]
    named: GenericResource.Named
    discrete: GenericResource.Discrete
    def __init__(self, named: _Optional[_Union[GenericResource.Named, _Mapping]] = ..., discrete: _Optional[_Union[GenericResource.Discrete, _Mapping]] = ...) -> None: ...

class ResourceRequirements(_message.Message):
    __slots__ = ("limits", "reservations")
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    RESERVATIONS_FIELD_NUMBER: _ClassVar[int]
    limits: Resources
    reservations: Resources
    def __init__(self, limits: _Optional[_Union[Resources, _Mapping]] = ..., reservations: _Optional[_Union[Resources, _Mapping]] = ...) -> None: ...

class RestartPolicy(_message.Message):
    __slots__ = ("condition", "delay", "max_attempts", "window")
    class RestartCondition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RESTART_ON_ANY: _ClassVar[RestartPolicy.RestartCondition]
        RESTART_ON_NONE: _ClassVar[RestartPolicy.RestartCondition]
        RESTART_ON_FAILURE: _ClassVar[RestartPolicy.RestartCondition]
    RESTART_ON_ANY: RestartPolicy.RestartCondition
    RESTART_ON_NONE: RestartPolicy.RestartCondition
    RESTART_ON_FAILURE: RestartPolicy.RestartCondition
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    condition: RestartPolicy.RestartCondition
    delay: _duration_pb2.Duration
    max_attempts: int
    window: _duration_pb2.Duration
    def __init__(self, condition: _Optional[_Union[RestartPolicy.RestartCondition, str]] = ..., delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_attempts: _Optional[int] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class UpdateConfig(_message.Message):
    __slots__ = ("parallelism", "delay", "failure_action", "monitor", "max_failure_ratio", "order")
    class FailureAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PAUSE: _ClassVar[UpdateConfig.FailureAction]
        CONTINUE: _ClassVar[UpdateConfig.FailureAction]
        ROLLBACK: _ClassVar[UpdateConfig.FailureAction]
    PAUSE: UpdateConfig.FailureAction
    CONTINUE: UpdateConfig.FailureAction
    ROLLBACK: UpdateConfig.FailureAction
    class UpdateOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STOP_FIRST: _ClassVar[UpdateConfig.UpdateOrder]
        START_FIRST: _ClassVar[UpdateConfig.UpdateOrder]
    STOP_FIRST: UpdateConfig.UpdateOrder
    START_FIRST: UpdateConfig.UpdateOrder
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    FAILURE_ACTION_FIELD_NUMBER: _ClassVar[int]
    MONITOR_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURE_RATIO_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    parallelism: int
    delay: _duration_pb2.Duration
    failure_action: UpdateConfig.FailureAction
    monitor: _duration_pb2.Duration
    max_failure_ratio: float
    order: UpdateConfig.UpdateOrder
    def __init__(self, parallelism: _Optional[int] = ..., delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., failure_action: _Optional[_Union[UpdateConfig.FailureAction, str]] = ..., monitor: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_failure_ratio: _Optional[float] = ..., order: _Optional[_Union[UpdateConfig.UpdateOrder, str]] = ...) -> None: ...

class UpdateStatus(_message.Message):
    __slots__ = ("state", "started_at", "completed_at", "message")
    class UpdateState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[UpdateStatus.UpdateState]
        UPDATING: _ClassVar[UpdateStatus.UpdateState]
        PAUSED: _ClassVar[UpdateStatus.UpdateState]
        COMPLETED: _ClassVar[UpdateStatus.UpdateState]
        ROLLBACK_STARTED: _ClassVar[UpdateStatus.UpdateState]
        ROLLBACK_PAUSED: _ClassVar[UpdateStatus.UpdateState]
        ROLLBACK_COMPLETED: _ClassVar[UpdateStatus.UpdateState]
    UNKNOWN: UpdateStatus.UpdateState
    UPDATING: UpdateStatus.UpdateState
    PAUSED: UpdateStatus.UpdateState
    COMPLETED: UpdateStatus.UpdateState
    ROLLBACK_STARTED: UpdateStatus.UpdateState
    ROLLBACK_PAUSED: UpdateStatus.UpdateState
    ROLLBACK_COMPLETED: UpdateStatus.UpdateState
    STATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    state: UpdateStatus.UpdateState
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    message: str
    def __init__(self, state: _Optional[_Union[UpdateStatus.UpdateState, str]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class JobStatus(_message.Message):
    __slots__ = ("job_iteration", "last_execution")
    JOB_ITERATION_FIELD_NUMBER: _ClassVar[int]
    LAST_EXECUTION_FIELD_NUMBER: _ClassVar[int]
    job_iteration: Version
    last_execution: _timestamp_pb2.Timestamp
    def __init__(self, job_iteration: _Optional[_Union[Version, _Mapping]] = ..., last_execution: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ContainerStatus(_message.Message):
    __slots__ = ("container_id", "pid", "exit_code", "health")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    pid: int
    exit_code: int
    health: str
    def __init__(self, container_id: _Optional[str] = ..., pid: _Optional[int] = ..., exit_code: _Optional[int] = ..., health: _Optional[str] = ...) -> None: ...

class PortStatus(_message.Message):
    __slots__ = ("ports",)
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ports: _containers.RepeatedCompositeFieldContainer[PortConfig]
    def __init__(self, ports: _Optional[_Iterable[_Union[PortConfig, _Mapping]]] = ...) -> None: ...

class TaskStatus(_message.Message):
    __slots__ = ("timestamp", "state", "message", "err", "container", "port_status", "applied_at")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    PORT_STATUS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_AT_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    state: TaskState
    message: str
    err: str
    container: ContainerStatus
    port_status: PortStatus
    applied_at: _timestamp_pb2.Timestamp
    def __init__(self, timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[TaskState, str]] = ..., message: _Optional[str] = ..., err: _Optional[str] = ..., container: _Optional[_Union[ContainerStatus, _Mapping]] = ..., port_status: _Optional[_Union[PortStatus, _Mapping]] = ..., applied_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PortConfig(_message.Message):
    __slots__ = ("name", "protocol", "target_port", "published_port", "publish_mode")
    class Protocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TCP: _ClassVar[PortConfig.Protocol]
        UDP: _ClassVar[PortConfig.Protocol]
        SCTP: _ClassVar[PortConfig.Protocol]
    TCP: PortConfig.Protocol
    UDP: PortConfig.Protocol
    SCTP: PortConfig.Protocol
    class PublishMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        INGRESS: _ClassVar[PortConfig.PublishMode]
        HOST: _ClassVar[PortConfig.PublishMode]
    INGRESS: PortConfig.PublishMode
    HOST: PortConfig.PublishMode
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    TARGET_PORT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_PORT_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_MODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    protocol: PortConfig.Protocol
    target_port: int
    published_port: int
    publish_mode: PortConfig.PublishMode
    def __init__(self, name: _Optional[str] = ..., protocol: _Optional[_Union[PortConfig.Protocol, str]] = ..., target_port: _Optional[int] = ..., published_port: _Optional[int] = ..., publish_mode: _Optional[_Union[PortConfig.PublishMode, str]] = ...) -> None: ...

class Placement(_message.Message):
    __slots__ = ("constraints", "preferences", "max_replicas", "platforms")
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    MAX_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    PLATFORMS_FIELD_NUMBER: _ClassVar[int]
    constraints: _containers.RepeatedScalarFieldContainer[str]
    preferences: _containers.RepeatedCompositeFieldContainer[PlacementPreference]
    max_replicas: int
    platforms: _containers.RepeatedCompositeFieldContainer[Platform]
    def __init__(self, constraints: _Optional[_Iterable[str]] = ..., preferences: _Optional[_Iterable[_Union[PlacementPreference, _Mapping]]] = ..., max_replicas: _Optional[int] = ..., platforms: _Optional[_Iterable[_Union[Platform, _Mapping]]] = ...) -> None: ...

class PlacementPreference(_message.Message):
    __slots__ = ("spread_descriptor",)
    SPREAD_DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    spread_descriptor: str
    def __init__(self, spread_descriptor: _Optional[str] = ...) -> None: ...

class IPAMConfig(_message.Message):
    __slots__ = ("subnet", "range", "gateway")
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    subnet: str
    range: str
    gateway: str
    def __init__(self, subnet: _Optional[str] = ..., range: _Optional[str] = ..., gateway: _Optional[str] = ...) -> None: ...

class IPAMOptions(_message.Message):
    __slots__ = ("configs",)
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    configs: _containers.RepeatedCompositeFieldContainer[IPAMConfig]
    def __init__(self, configs: _Optional[_Iterable[_Union[IPAMConfig, _Mapping]]] = ...) -> None: ...

class Driver(_message.Message):
    __slots__ = ("name", "options")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    options: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class JoinTokens(_message.Message):
    __slots__ = ("worker", "manager")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    MANAGER_FIELD_NUMBER: _ClassVar[int]
    worker: str
    manager: str
    def __init__(self, worker: _Optional[str] = ..., manager: _Optional[str] = ...) -> None: ...

class RootCA(_message.Message):
    __slots__ = ("ca_key", "ca_cert", "ca_cert_hash", "join_tokens")
    CA_KEY_FIELD_NUMBER: _ClassVar[int]
    CA_CERT_FIELD_NUMBER: _ClassVar[int]
    CA_CERT_HASH_FIELD_NUMBER: _ClassVar[int]
    JOIN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ca_key: bytes
    ca_cert: bytes
    ca_cert_hash: str
    join_tokens: JoinTokens
    def __init__(self, ca_key: _Optional[bytes] = ..., ca_cert: _Optional[bytes] = ..., ca_cert_hash: _Optional[str] = ..., join_tokens: _Optional[_Union[JoinTokens, _Mapping]] = ...) -> None: ...

class NodeTLSInfo(_message.Message):
    __slots__ = ("trust_root", "cert_issuer_subject", "cert_issuer_public_key")
    TRUST_ROOT_FIELD_NUMBER: _ClassVar[int]
    CERT_ISSUER_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CERT_ISSUER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    trust_root: bytes
    cert_issuer_subject: bytes
    cert_issuer_public_key: bytes
    def __init__(self, trust_root: _Optional[bytes] = ..., cert_issuer_subject: _Optional[bytes] = ..., cert_issuer_public_key: _Optional[bytes] = ...) -> None: ...

class RaftMember(_message.Message):
    __slots__ = ("raft_id", "node_id", "addr", "api_addr")
    RAFT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    API_ADDR_FIELD_NUMBER: _ClassVar[int]
    raft_id: int
    node_id: str
    addr: str
    api_addr: str
    def __init__(self, raft_id: _Optional[int] = ..., node_id: _Optional[str] = ..., addr: _Optional[str] = ..., api_addr: _Optional[str] = ...) -> None: ...

class Mount(_message.Message):
    __slots__ = ("type", "source", "target", "readonly", "bind_options", "volume_options", "tmpfs_options")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        BIND: _ClassVar[Mount.Type]
        VOLUME: _ClassVar[Mount.Type]
        TMPFS: _ClassVar[Mount.Type]
    BIND: Mount.Type
    VOLUME: Mount.Type
    TMPFS: Mount.Type
    class BindOptions(_message.Message):
        __slots__ = ("propagation",)
        PROPAGATION_FIELD_NUMBER: _ClassVar[int]
        propagation: str
        def __init__(self, propagation: _Optional[str] = ...) -> None: ...
    class VolumeOptions(_message.Message):
        __slots__ = ("nocopy", "labels", "driver_config")
        class LabelsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        NOCOPY_FIELD_NUMBER: _ClassVar[int]
        LABELS_FIELD_NUMBER: _ClassVar[int]
        DRIVER_CONFIG_FIELD_NUMBER: _ClassVar[int]
        nocopy: bool
        labels: _containers.ScalarMap[str, str]
        driver_config: Driver
        def __init__(self, nocopy: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., driver_config: _Optional[_Union[Driver, _Mapping]] = ...) -> None: ...
    class TmpfsOptions(_message.Message):
        __slots__ = ("size_bytes", "mode")
        SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
        MODE_FIELD_NUMBER: _ClassVar[int]
        size_bytes: int
        mode: int
        def __init__(self, size_bytes: _Optional[int] = ..., mode: _Optional[int] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    READONLY_FIELD_NUMBER: _ClassVar[int]
    BIND_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TMPFS_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    type: Mount.Type
    source: str
    target: str
    readonly: bool
    bind_options: Mount.BindOptions
    volume_options: Mount.VolumeOptions
    tmpfs_options: Mount.TmpfsOptions
    def __init__(self, type: _Optional[_Union[Mount.Type, str]] = ..., source: _Optional[str] = ..., target: _Optional[str] = ..., readonly: _Optional[bool] = ..., bind_options: _Optional[_Union[Mount.BindOptions, _Mapping]] = ..., volume_options: _Optional[_Union[Mount.VolumeOptions, _Mapping]] = ..., tmpfs_options: _Optional[_Union[Mount.TmpfsOptions, _Mapping]] = ...) -> None: ...

class FileTarget(_message.Message):
    __slots__ = ("name", "uid", "gid", "mode")
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    GID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    uid: str
    gid: str
    mode: int
    def __init__(self, name: _Optional[str] = ..., uid: _Optional[str] = ..., gid: _Optional[str] = ..., mode: _Optional[int] = ...) -> None: ...

class SecretReference(_message.Message):
    __slots__ = ("secret_id", "secret_name", "file")
    SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    secret_id: str
    secret_name: str
    file: FileTarget
    def __init__(self, secret_id: _Optional[str] = ..., secret_name: _Optional[str] = ..., file: _Optional[_Union[FileTarget, _Mapping]] = ...) -> None: ...

class ConfigReference(_message.Message):
    __slots__ = ("config_id", "config_name", "file")
    CONFIG_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    config_id: str
    config_name: str
    file: FileTarget
    def __init__(self, config_id: _Optional[str] = ..., config_name: _Optional[str] = ..., file: _Optional[_Union[FileTarget, _Mapping]] = ...) -> None: ...

class HealthConfig(_message.Message):
    __slots__ = ("test", "interval", "timeout", "retries", "start_period", "start_interval")
    TEST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    START_PERIOD_FIELD_NUMBER: _ClassVar[int]
    START_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    test: _containers.RepeatedScalarFieldContainer[str]
    interval: _duration_pb2.Duration
    timeout: _duration_pb2.Duration
    retries: int
    start_period: _duration_pb2.Duration
    start_interval: _duration_pb2.Duration
    def __init__(self, test: _Optional[_Iterable[str]] = ..., interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retries: _Optional[int] = ..., start_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., start_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class DNSConfig(_message.Message):
    __slots__ = ("nameservers", "search", "options")
    NAMESERVERS_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    nameservers: _containers.RepeatedScalarFieldContainer[str]
    search: _containers.RepeatedScalarFieldContainer[str]
    options: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, nameservers: _Optional[_Iterable[str]] = ..., search: _Optional[_Iterable[str]] = ..., options: _Optional[_Iterable[str]] = ...) -> None: ...

class Ulimit(_message.Message):
    __slots__ = ("name", "soft", "hard")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOFT_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    name: str
    soft: int
    hard: int
    def __init__(self, name: _Optional[str] = ..., soft: _Optional[int] = ..., hard: _Optional[int] = ...) -> None: ...
