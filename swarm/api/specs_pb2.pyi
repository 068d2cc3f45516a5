import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from swarm.api import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeSpec(_message.Message):
    __slots__ = ("annotations", "desired_role", "membership", "availability")
    class Membership(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PENDING: _ClassVar[NodeSpec.Membership]
        ACCEPTED: _ClassVar[NodeSpec.Membership]
    PENDING: NodeSpec.Membership
    ACCEPTED: NodeSpec.Membership
    class Availability(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTIVE: _ClassVar[NodeSpec.Availability]
        PAUSE: _ClassVar[NodeSpec.Availability]
        DRAIN: _ClassVar[NodeSpec.Availability]
    ACTIVE: NodeSpec.Availability
    PAUSE: NodeSpec.Availability
    DRAIN: NodeSpec.Availability
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_ROLE_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    annotations: _types_pb2.Annotations
    desired_role: _types_pb2.NodeRole
    membership: NodeSpec.Membership
    availability: NodeSpec.Availability
    def __init__(self, annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., desired_role: _Optional[_Union[_types_pb2.NodeRole, str]] = ..., membership: _Optional[_Union[NodeSpec.Membership, str]] = ..., availability: _Optional[_Union[NodeSpec.Availability, str]] = ...) -> None: ...

class ContainerSpec(_message.Message):
    __slots__ = ("image", "labels", "command", "args", "hostname", "env", "dir", "user", "groups", "tty", "read_only", "stop_grace_period", "stop_signal", "init", "capability_add", "capability_drop", "sysctls", "mounts", "secrets", "configs", "healthcheck", "hosts", "dns_config", "ulimits", "oom_score_adj", "pull_options", "privileges")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class SysctlsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    DIR_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    STOP_GRACE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    STOP_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    CAPABILITY_ADD_FIELD_NUMBER: _ClassVar[int]
    CAPABILITY_DROP_FIELD_NUMBER: _ClassVar[int]
    SYSCTLS_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    HEALTHCHECK_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    DNS_CONFIG_FIELD_NUMBER: _ClassVar[int]
    ULIMITS_FIELD_NUMBER: _ClassVar[int]
    OOM_SCORE_ADJ_FIELD_NUMBER: _ClassVar[int]
    PULL_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PRIVILEGES_FIELD_NUMBER: _ClassVar[int]
    image: str
    labels: _containers.ScalarMap[str, str]
    command: _containers.RepeatedScalarFieldContainer[str]
    args: _containers.RepeatedScalarFieldContainer[str]
    hostname: str
    env: _containers.RepeatedScalarFieldContainer[str]
    dir: str
    user: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    tty: bool
    read_only: bool
    stop_grace_period: _duration_pb2.Duration
    stop_signal: str
    init: bool
    capability_add: _containers.RepeatedScalarFieldContainer[str]
    capability_drop: _containers.RepeatedScalarFieldContainer[str]
    sysctls: _containers.ScalarMap[str, str]
    mounts: _containers.RepeatedCompositeFieldContainer[_types_pb2.Mount]
    secrets: _containers.RepeatedCompositeFieldContainer[_types_pb2.SecretReference]
    configs: _containers.RepeatedCompositeFieldContainer[_types_pb2.ConfigReference]
    healthcheck: _types_pb2.HealthConfig
    hosts: _containers.RepeatedScalarFieldContainer[str]
    dns_config: _types_pb2.DNSConfig
    ulimits: _containers.RepeatedCompositeFieldContainer[_types_pb2.Ulimit]
    oom_score_adj: int
    pull_options: PullOptions
    privileges: Privileges
    def __init__(self, image: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., command: _Optional[_Iterable[str]] = ..., args: _Optional[_Iterable[str]] = ..., hostname: _Optional[str] = ..., env: _Optional[_Iterable[str]] = ..., dir: _Optional[str] = ..., user: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., tty: _Optional[bool] = ..., read_only: _Optional[bool] = ..., stop_grace_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., stop_signal: _Optional[str] = ..., init: _Optional[bool] = ..., capability_add: _Optional[_Iterable[str]] = ..., capability_drop: _Optional[_Iterable[str]] = ..., sysctls: _Optional[_Mapping[str, str]] = ..., mounts: _Optional[_Iterable[_Union[_types_pb2.Mount, _Mapping]]] = ..., secrets: _Optional[_Iterable[_Union[_types_pb2.SecretReference, _Mapping]]] = ..., configs: _Optional[_Iterable[_Union[_types_pb2.ConfigReference, _Mapping]]] = ..., healthcheck: _Optional[_Union[_types_pb2.HealthConfig, _Mapping]] = ..., hosts: _Optional[_Iterable[str]] = ..., dns_config: _Optional[_Union[_types_pb2.DNSConfig, _Mapping]] = ..., ulimits: _Optional[_Iterable[_Union[_types_pb2.Ulimit, _Mapping]]] = ..., oom_score_adj: _Optional[int] = ..., pull_options: _Optional[_Union[PullOptions, _Mapping]] = ..., privileges: _Optional[_Union[Privileges, _Mapping]] = ...) -> None: ...

class Privileges(_message.Message):
    __slots__ = ("selinux_context", "seccomp", "apparmor", "no_new_privileges")
    class SELinuxContext(_message.Message):
        __slots__ = ("disable", "user", "role", "type", "level")
        DISABLE_FIELD_NUMBER: _ClassVar[int]
        USER_FIELD_NUMBER: _ClassVar[int]
        ROLE_FIELD_NUMBER: _ClassVar[int]
        TYPE_FIELD_NUMBER: _ClassVar[int]
        LEVEL_FIELD_NUMBER: _ClassVar[int]
        disable: bool
        user: str
        role: str
        type: str
        level: str
        def __init__(self, disable: _Optional[bool] = ..., user: _Optional[str] = ..., role: _Optional[str] = ..., type: _Optional[str] = ..., level: _Optional[str] = ...) -> None: ...
    class SeccompOpts(_message.Message):
        __slots__ = ("mode", "profile")
        class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            DEFAULT: _ClassVar[Privileges.SeccompOpts.Mode]
            UNCONFINED: _ClassVar[Privileges.SeccompOpts.Mode]
            CUSTOM: _ClassVar[Privileges.SeccompOpts.Mode]
        DEFAULT: Privileges.SeccompOpts.Mode
        UNCONFINED: Privileges.SeccompOpts.Mode
        CUSTOM: Privileges.SeccompOpts.Mode
        MODE_FIELD_NUMBER: _ClassVar[int]
        PROFILE_FIELD_NUMBER: _ClassVar[int]
        mode: Privileges.SeccompOpts.Mode
        profile: bytes
        def __init__(self, mode: _Optional[_Union[Privileges.SeccompOpts.Mode, str]] = ..., profile: _Optional[bytes] = ...) -> None: ...
    class AppArmorOpts(_message.Message):
        __slots__ = ("mode",)
        class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            DEFAULT: _ClassVar[Privileges.AppArmorOpts.Mode]
            DISABLED: _ClassVar[Privileges.AppArmorOpts.Mode]
        DEFAULT: Privileges.AppArmorOpts.Mode
        DISABLED: Privileges.AppArmorOpts.Mode
        MODE_FIELD_NUMBER: _ClassVar[int]
        mode: Privileges.AppArmorOpts.Mode
        def __init__(self, mode: _Optional[_Union[Privileges.AppArmorOpts.Mode, str]] = ...) -> None: ...
    SELINUX_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    SECCOMP_FIELD_NUMBER: _ClassVar[int]
    APPARMOR_FIELD_NUMBER: _ClassVar[int]
    NO_NEW_PRIVILEGES_FIELD_NUMBER: _ClassVar[int]
    selinux_context: Privileges.SELinuxContext
    seccomp: Privileges.SeccompOpts
    apparmor: Privileges.AppArmorOpts
    no_new_privileges: bool
    def __init__(self, selinux_context: _Optional[_Union[Privileges.SELinuxContext, _Mapping]] = ..., seccomp: _Optional[_Union[Privileges.SeccompOpts, _Mapping]] = ..., apparmor: _Optional[_Union[Privileges.AppArmorOpts, _Mapping]] = ..., no_new_privileges: _Optional[bool] = ...) -> None: ...

class PullOptions(_message.Message):
    __slots__ = ("registry_auth", "sealed")
    REGISTRY_AUTH_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    registry_auth: str
    sealed: bytes
    def __init__(self, registry_auth: _Optional[str] = ..., sealed: _Optional[bytes] = ...) -> None: ...

class NetworkAttachmentConfig(_message.Message):
    __slots__ = ("target", "aliases", "driver_attachment_opts")
    class DriverAttachmentOptsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    DRIVER_ATTACHMENT_OPTS_FIELD_NUMBER: _ClassVar[int]
    target: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    driver_attachment_opts: _containers.ScalarMap[str, str]
    def __init__(self, target: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., driver_attachment_opts: _Optional[_Mapping[str, str]] = ...) -> None: ...

class TaskSpec(_message.Message):
    __slots__ = ("container", "resources", "restart", "placement", "networks", "force_update", "log_driver")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    RESTART_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    FORCE_UPDATE_FIELD_NUMBER: _ClassVar[int]
    LOG_DRIVER_FIELD_NUMBER: _ClassVar[int]
    container: ContainerSpec
    resources: _types_pb2.ResourceRequirements
    restart: _types_pb2.RestartPolicy
    placement: _types_pb2.Placement
    networks: _containers.RepeatedCompositeFieldContainer[NetworkAttachmentConfig]
    force_update: int
    log_driver: _types_pb2.Driver
    def __init__(self, container: _Optional[_Union[ContainerSpec, _Mapping]] = ..., resources: _Optional[_Union[_types_pb2.ResourceRequirements, _Mapping]] = ..., restart: _Optional[_Union[_types_pb2.RestartPolicy, _Mapping]] = ..., placement: _Optional[_Union[_types_pb2.Placement, _Mapping]] = ..., networks: _Optional[_Iterable[_Union[NetworkAttachmentConfig, _Mapping]]] = ..., force_update: _Optional[int] = ..., log_driver: _Optional[_Union[_types_pb2.Driver, _Mapping]] = ...) -> None: ...

class ReplicatedService(_message.Message):
    __slots__ = ("replicas",)
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    replicas: int
    def __init__(self, replicas: _Optional[int] = ...) -> None: ...

class GlobalService(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReplicatedJob(_message.Message):
    __slots__ = ("max_concurrent", "total_completions")
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    max_concurrent: int
    total_completions: int
    def __init__(self, max_concurrent: _Optional[int] = ..., total_completions: _Optional[int] = ...) -> None: ...

class GlobalJob(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EndpointSpec(_message.Message):
    __slots__ = ("mode", "ports")
    class ResolutionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        VIP: _ClassVar[EndpointSpec.ResolutionMode]
        DNSRR: _ClassVar[EndpointSpec.ResolutionMode]
    VIP: EndpointSpec.ResolutionMode
    DNSRR: EndpointSpec.ResolutionMode
    MODE_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    mode: EndpointSpec.ResolutionMode
    ports: _containers.RepeatedCompositeFieldContainer[_types_pb2.PortConfig]
    def __init__(self, mode: _Optional[_Union[EndpointSpec.ResolutionMode, str]] = ..., ports: _Optional[_Iterable[_Union[_types_pb2.PortConfig, _Mapping]]] = ...) -> None: ...

class ServiceSpec(_message.Message):
    __slots__ = ("annotations", "task", "replicated", "replicated_job", "global_job", "update", "rollback", "endpoint")
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    REPLICATED_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_FIELD_NUMBER: _ClassVar[int]
    REPLICATED_JOB_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_JOB_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    annotations: _types_pb2.Annotations
    task: TaskSpec
    replicated: ReplicatedService
    replicated_job: ReplicatedJob
    global_job: GlobalJob
    update: _types_pb2.UpdateConfig
    rollback: _types_pb2.UpdateConfig
    endpoint: EndpointSpec
    def __init__(self, annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., task: _Optional[_Union[TaskSpec, _Mapping]] = ..., replicated: _Optional[_Union[ReplicatedService, _Mapping]] = ..., replicated_job: _Optional[_Union[ReplicatedJob, _Mapping]] = ..., global_job: _Optional[_Union[GlobalJob, _Mapping]] = ..., update: _Optional[_Union[_types_pb2.UpdateConfig, _Mapping]] = ..., rollback: _Optional[_Union[_types_pb2.UpdateConfig, _Mapping]] = ..., endpoint: _Optional[_Union[EndpointSpec, _Mapping]] = ..., **kwargs) -> None: ...

class NetworkSpec(_message.Message):
    __slots__ = ("annotations", "driver_config", "ingress", "attachable", "internal", "ipam")
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    DRIVER_CONFIG_FIELD_NUMBER: _ClassVar[int]
    INGRESS_FIELD_NUMBER: _ClassVar[int]
    ATTACHABLE_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    IPAM_FIELD_NUMBER: _ClassVar[int]
    annotations: _types_pb2.Annotations
    driver_config: _types_pb2.Driver
    ingress: bool
    attachable: bool
    internal: bool
    ipam: _types_pb2.IPAMOptions
    def __init__(self, annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., driver_config: _Optional[_Union[_types_pb2.Driver, _Mapping]] = ..., ingress: _Optional[bool] = ..., attachable: _Optional[bool] = ..., internal: _Optional[bool] = ..., ipam: _Optional[_Union[_types_pb2.IPAMOptions, _Mapping]] = ...) -> None: ...

class OrchestrationConfig(_message.Message):
    __slots__ = ("task_history_retention_limit",)
    TASK_HISTORY_RETENTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    task_history_retention_limit: int
    def __init__(self, task_history_retention_limit: _Optional[int] = ...) -> None: ...

class DispatcherConfig(_message.Message):
    __slots__ = ("heartbeat_period",)
    HEARTBEAT_PERIOD_FIELD_NUMBER: _ClassVar[int]
    heartbeat_period: _duration_pb2.Duration
    def __init__(self, heartbeat_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CAConfig(_message.Message):
    __slots__ = ("node_cert_expiry", "force_rotate")
    NODE_CERT_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    FORCE_ROTATE_FIELD_NUMBER: _ClassVar[int]
    node_cert_expiry: _duration_pb2.Duration
    force_rotate: int
    def __init__(self, node_cert_expiry: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., force_rotate: _Optional[int] = ...) -> None: ...

class RaftConfig(_message.Message):
    __slots__ = ("snapshot_interval", "keep_old_snapshots", "log_entries_for_slow_followers", "heartbeat_tick", "election_tick")
    SNAPSHOT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    KEEP_OLD_SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRIES_FOR_SLOW_FOLLOWERS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TICK_FIELD_NUMBER: _ClassVar[int]
    ELECTION_TICK_FIELD_NUMBER: _ClassVar[int]
    snapshot_interval: int
    keep_old_snapshots: int
    log_entries_for_slow_followers: int
    heartbeat_tick: int
    election_tick: int
    def __init__(self, snapshot_interval: _Optional[int] = ..., keep_old_snapshots: _Optional[int] = ..., log_entries_for_slow_followers: _Optional[int] = ..., heartbeat_tick: _Optional[int] = ..., election_tick: _Optional[int] = ...) -> None: ...

class EncryptionConfig(_message.Message):
    __slots__ = ("auto_lock_managers",)
    AUTO_LOCK_MANAGERS_FIELD_NUMBER: _ClassVar[int]
    auto_lock_managers: bool
    def __init__(self, auto_lock_managers: _Optional[bool] = ...) -> None: ...

class ClusterSpec(_message.Message):
    __slots__ = ("annotations", "orchestration", "raft", "dispatcher", "ca_config", "encryption_config")
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    RAFT_FIELD_NUMBER: _ClassVar[int]
    DISPATCHER_FIELD_NUMBER: _ClassVar[int]
    CA_CONFIG_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_CONFIG_FIELD_NUMBER: _ClassVar[int]
    annotations: _types_pb2.Annotations
    orchestration: OrchestrationConfig
    raft: RaftConfig
    dispatcher: DispatcherConfig
    ca_config: CAConfig
    encryption_config: EncryptionConfig
    def __init__(self, annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., orchestration: _Optional[_Union[OrchestrationConfig, _Mapping]] = ..., raft: _Optional[_Union[RaftConfig, _Mapping]] = ..., dispatcher: _Optional[_Union[DispatcherConfig, _Mapping]] = ..., ca_config: _Optional[_Union[CAConfig, _Mapping]] = ..., encryption_config: _Optional[_Union[EncryptionConfig, _Mapping]] = ...) -> None: ...

class SecretSpec(_message.Message):
    __slots__ = ("annotations", "data", "driver", "templating")
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    TEMPLATING_FIELD_NUMBER: _ClassVar[int]
    annotations: _types_pb2.Annotations
    data: bytes
    driver: _types_pb2.Driver
    templating: _types_pb2.Driver
    def __init__(self, annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., data: _Optional[bytes] = ..., driver: _Optional[_Union[_types_pb2.Driver, _Mapping]] = ..., templating: _Optional[_Union[_types_pb2.Driver, _Mapping]] = ...) -> None: ...

class ConfigSpec(_message.Message):
    __slots__ = ("annotations", "data", "templating")
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TEMPLATING_FIELD_NUMBER: _ClassVar[int]
    annotations: _types_pb2.Annotations
    data: bytes
    templating: _types_pb2.Driver
    def __init__(self, annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., data: _Optional[bytes] = ..., templating: _Optional[_Union[_types_pb2.Driver, _Mapping]] = ...) -> None: ...
