import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from swarm.api import types_pb2 as _types_pb2
from swarm.api import specs_pb2 as _specs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeDescription(_message.Message):
    __slots__ = ("hostname", "platform", "resources", "engine_version", "engine_labels", "tls_info")
    class EngineLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_LABELS_FIELD_NUMBER: _ClassVar[int]
    TLS_INFO_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    platform: _types_pb2.Platform
    resources: _types_pb2.Resources
    engine_version: str
    engine_labels: _containers.ScalarMap[str, str]
    tls_info: _types_pb2.NodeTLSInfo
    def __init__(self, hostname: _Optional[str] = ..., platform: _Optional[_Union[_types_pb2.Platform, _Mapping]] = ..., resources: _Optional[_Union[_types_pb2.Resources, _Mapping]] = ..., engine_version: _Optional[str] = ..., engine_labels: _Optional[_Mapping[str, str]] = ..., tls_info: _Optional[_Union[_types_pb2.NodeTLSInfo, _Mapping]] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("state", "message", "addr")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[NodeStatus.State]
        DOWN: _ClassVar[NodeStatus.State]
        READY: _ClassVar[NodeStatus.State]
        DISCONNECTED: _ClassVar[NodeStatus.State]
    UNKNOWN: NodeStatus.State
    DOWN: NodeStatus.State
    READY: NodeStatus.State
    DISCONNECTED: NodeStatus.State
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    state: NodeStatus.State
    message: str
    addr: str
    def __init__(self, state: _Optional[_Union[NodeStatus.State, str]] = ..., message: _Optional[str] = ..., addr: _Optional[str] = ...) -> None: ...

class ManagerStatus(_message.Message):
    __slots__ = ("raft_id", "addr", "leader", "reachability", "raft_addr")
    class Reachability(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[ManagerStatus.Reachability]
        UNREACHABLE: _ClassVar[ManagerStatus.Reachability]
        REACHABLE: _ClassVar[ManagerStatus.Reachability]
    UNKNOWN: ManagerStatus.Reachability
    UNREACHABLE: ManagerStatus.Reachability
    REACHABLE: ManagerStatus.Reachability
    RAFT_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    REACHABILITY_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDR_FIELD_NUMBER: _ClassVar[int]
    raft_id: int
    addr: str
    leader: bool
    reachability: ManagerStatus.Reachability
    raft_addr: str
    def __init__(self, raft_id: _Optional[int] = ..., addr: _Optional[str] = ..., leader: _Optional[bool] = ..., reachability: _Optional[_Union[ManagerStatus.Reachability, str]] = ..., raft_addr: _Optional[str] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("role", "csr", "state", "certificate", "cn")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[Certificate.State]
        PENDING: _ClassVar[Certificate.State]
        ISSUED: _ClassVar[Certificate.State]
        FAILED: _ClassVar[Certificate.State]
        RENEW: _ClassVar[Certificate.State]
    UNKNOWN: Certificate.State
    PENDING: Certificate.State
    ISSUED: Certificate.State
    FAILED: Certificate.State
    RENEW: Certificate.State
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CSR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    CN_FIELD_NUMBER: _ClassVar[int]
    role: _types_pb2.NodeRole
    csr: bytes
    state: Certificate.State
    certificate: bytes
    cn: str
    def __init__(self, role: _Optional[_Union[_types_pb2.NodeRole, str]] = ..., csr: _Optional[bytes] = ..., state: _Optional[_Union[Certificate.State, str]] = ..., certificate: _Optional[bytes] = ..., cn: _Optional[str] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("id", "meta", "spec", "description", "status", "manager_status", "role", "certificate", "data_path_addr", "joined_at", "attachments", "certificates")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MANAGER_STATUS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_ADDR_FIELD_NUMBER: _ClassVar[int]
    JOINED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.NodeSpec
    description: NodeDescription
    status: NodeStatus
    manager_status: ManagerStatus
    role: _types_pb2.NodeRole
    certificate: Certificate
    data_path_addr: str
    joined_at: _timestamp_pb2.Timestamp
    attachments: _containers.RepeatedCompositeFieldContainer[NetworkAttachment]
    certificates: _containers.RepeatedCompositeFieldContainer[IssuedCertificate]
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.NodeSpec, _Mapping]] = ..., description: _Optional[_Union[NodeDescription, _Mapping]] = ..., status: _Optional[_Union[NodeStatus, _Mapping]] = ..., manager_status: _Optional[_Union[ManagerStatus, _Mapping]] = ..., role: _Optional[_Union[_types_pb2.NodeRole, str]] = ..., certificate: _Optional[_Union[Certificate, _Mapping]] = ..., data_path_addr: _Optional[str] = ..., joined_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attachments: _Optional[_Iterable[_Union[NetworkAttachment, _Mapping]]] = ..., certificates: _Optional[_Iterable[_Union[IssuedCertificate, _Mapping]]] = ...) -> None: ...

class IssuedCertificate(_message.Message):
    __slots__ = ("serial", "role", "not_after")
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    serial: str
    role: _types_pb2.NodeRole
    not_after: _timestamp_pb2.Timestamp
    def __init__(self, serial: _Optional[str] = ..., role: _Optional[_Union[_types_pb2.NodeRole, str]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RevokedCertificate(_message.Message):
    __slots__ = ("serial", "node_id", "not_after")
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    serial: str
    node_id: str
    not_after: _timestamp_pb2.Timestamp
    def __init__(self, serial: _Optional[str] = ..., node_id: _Optional[str] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EndpointVirtualIP(_message.Message):
    __slots__ = ("network_id", "addr")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    addr: str
    def __init__(self, network_id: _Optional[str] = ..., addr: _Optional[str] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("spec", "ports", "virtual_ips")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_IPS_FIELD_NUMBER: _ClassVar[int]
    spec: _specs_pb2.EndpointSpec
    ports: _containers.RepeatedCompositeFieldContainer[_types_pb2.PortConfig]
    virtual_ips: _containers.RepeatedCompositeFieldContainer[EndpointVirtualIP]
    def __init__(self, spec: _Optional[_Union[_specs_pb2.EndpointSpec, _Mapping]] = ..., ports: _Optional[_Iterable[_Union[_types_pb2.PortConfig, _Mapping]]] = ..., virtual_ips: _Optional[_Iterable[_Union[EndpointVirtualIP, _Mapping]]] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("id", "meta", "spec", "spec_version", "previous_spec", "previous_spec_version", "endpoint", "update_status", "pending_delete", "job_status")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SPEC_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_STATUS_FIELD_NUMBER: _ClassVar[int]
    PENDING_DELETE_FIELD_NUMBER: _ClassVar[int]
    JOB_STATUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.ServiceSpec
    spec_version: _types_pb2.Version
    previous_spec: _specs_pb2.ServiceSpec
    previous_spec_version: _types_pb2.Version
    endpoint: Endpoint
    update_status: _types_pb2.UpdateStatus
    pending_delete: bool
    job_status: _types_pb2.JobStatus
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.ServiceSpec, _Mapping]] = ..., spec_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., previous_spec: _Optional[_Union[_specs_pb2.ServiceSpec, _Mapping]] = ..., previous_spec_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., update_status: _Optional[_Union[_types_pb2.UpdateStatus, _Mapping]] = ..., pending_delete: _Optional[bool] = ..., job_status: _Optional[_Union[_types_pb2.JobStatus, _Mapping]] = ...) -> None: ...

class NetworkAttachment(_message.Message):
    __slots__ = ("network", "addresses", "aliases")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    network: Network
    addresses: _containers.RepeatedScalarFieldContainer[str]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ..., addresses: _Optional[_Iterable[str]] = ..., aliases: _Optional[_Iterable[str]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("id", "meta", "spec", "spec_version", "service_id", "slot", "node_id", "annotations", "service_annotations", "status", "desired_state", "networks", "endpoint", "job_iteration", "assigned_generic_resources")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_STATE_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    JOB_ITERATION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_GENERIC_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.TaskSpec
    spec_version: _types_pb2.Version
    service_id: str
    slot: int
    node_id: str
    annotations: _types_pb2.Annotations
    service_annotations: _types_pb2.Annotations
    status: _types_pb2.TaskStatus
    desired_state: _types_pb2.TaskState
    networks: _containers.RepeatedCompositeFieldContainer[NetworkAttachment]
    endpoint: Endpoint
    job_iteration: _types_pb2.Version
    assigned_generic_resources: _containers.RepeatedCompositeFieldContainer[_types_pb2.GenericResource]
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.TaskSpec, _Mapping]] = ..., spec_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., service_id: _Optional[str] = ..., slot: _Optional[int] = ..., node_id: _Optional[str] = ..., annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., service_annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., status: _Optional[_Union[_types_pb2.TaskStatus, _Mapping]] = ..., desired_state: _Optional[_Union[_types_pb2.TaskState, str]] = ..., networks: _Optional[_Iterable[_Union[NetworkAttachment, _Mapping]]] = ..., endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., job_iteration: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., assigned_generic_resources: _Optional[_Iterable[_Union[_types_pb2.GenericResource, _Mapping]]] = ...) -> None: ...

class Network(_message.Message):
    __slots__ = ("id", "meta", "spec", "driver_state", "ipam", "pending_delete")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    DRIVER_STATE_FIELD_NUMBER: _ClassVar[int]
    IPAM_FIELD_NUMBER: _ClassVar[int]
    PENDING_DELETE_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.NetworkSpec
    driver_state: _types_pb2.Driver
    ipam: _types_pb2.IPAMOptions
    pending_delete: bool
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.NetworkSpec, _Mapping]] = ..., driver_state: _Optional[_Union[_types_pb2.Driver, _Mapping]] = ..., ipam: _Optional[_Union[_types_pb2.IPAMOptions, _Mapping]] = ..., pending_delete: _Optional[bool] = ...) -> None: ...

class Cluster(_message.Message):
    __slots__ = ("id", "meta", "spec", "root_ca", "default_address_pool", "subnet_size", "vxlan_udp_port", "raft_secret", "members", "removed_nodes", "revoked_certificates", "raft_secret_generation", "raft_secret_next", "manager_unlock_key")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ROOT_CA_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ADDRESS_POOL_FIELD_NUMBER: _ClassVar[int]
    SUBNET_SIZE_FIELD_NUMBER: _ClassVar[int]
    VXLAN_UDP_PORT_FIELD_NUMBER: _ClassVar[int]
    RAFT_SECRET_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_NODES_FIELD_NUMBER: _ClassVar[int]
    REVOKED_CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    RAFT_SECRET_GENERATION_FIELD_NUMBER: _ClassVar[int]
    RAFT_SECRET_NEXT_FIELD_NUMBER: _ClassVar[int]
    MANAGER_UNLOCK_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.ClusterSpec
    root_ca: _types_pb2.RootCA
    default_address_pool: _containers.RepeatedScalarFieldContainer[str]
    subnet_size: int
    vxlan_udp_port: int
    raft_secret: bytes
    members: _containers.RepeatedCompositeFieldContainer[_types_pb2.RaftMember]
    removed_nodes: _containers.RepeatedScalarFieldContainer[str]
    revoked_certificates: _containers.RepeatedCompositeFieldContainer[RevokedCertificate]
    raft_secret_generation: int
    raft_secret_next: bytes
    manager_unlock_key: bytes
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.ClusterSpec, _Mapping]] = ..., root_ca: _Optional[_Union[_types_pb2.RootCA, _Mapping]] = ..., default_address_pool: _Optional[_Iterable[str]] = ..., subnet_size: _Optional[int] = ..., vxlan_udp_port: _Optional[int] = ..., raft_secret: _Optional[bytes] = ..., members: _Optional[_Iterable[_Union[_types_pb2.RaftMember, _Mapping]]] = ..., removed_nodes: _Optional[_Iterable[str]] = ..., revoked_certificates: _Optional[_Iterable[_Union[RevokedCertificate, _Mapping]]] = ..., raft_secret_generation: _Optional[int] = ..., raft_secret_next: _Optional[bytes] = ..., manager_unlock_key: _Optional[bytes] = ...) -> None: ...

class Secret(_message.Message):
    __slots__ = ("id", "meta", "spec", "sealed", "internal")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.SecretSpec
    sealed: bytes
    internal: bool
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.SecretSpec, _Mapping]] = ..., sealed: _Optional[bytes] = ..., internal: _Optional[bool] = ...) -> None: ...

class Config(_message.Message):
    __slots__ = ("id", "meta", "spec")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.ConfigSpec
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.ConfigSpec, _Mapping]] = ...) -> None: ...
