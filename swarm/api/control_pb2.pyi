from swarm.api import types_pb2 as _types_pb2
from swarm.api import specs_pb2 as _specs_pb2
from swarm.api import objects_pb2 as _objects_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetNodeRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class GetNodeResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: _objects_pb2.Node
    def __init__(self, node: _Optional[_Union[_objects_pb2.Node, _Mapping]] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ("filters",)
    class Filters(_message.Message):
        __slots__ = ("names", "id_prefixes", "labels", "node_labels", "roles", "memberships")
        class LabelsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        class NodeLabelsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        NAMES_FIELD_NUMBER: _ClassVar[int]
        ID_PREFIXES_FIELD_NUMBER: _ClassVar[int]
        LABELS_FIELD_NUMBER: _ClassVar[int]
        NODE_LABELS_FIELD_NUMBER: _ClassVar[int]
        ROLES_FIELD_NUMBER: _ClassVar[int]
        MEMBERSHIPS_FIELD_NUMBER: _ClassVar[int]
        names: _containers.RepeatedScalarFieldContainer[str]
        id_prefixes: _containers.RepeatedScalarFieldContainer[str]
        labels: _containers.ScalarMap[str, str]
        node_labels: _containers.ScalarMap[str, str]
        roles: _containers.RepeatedScalarFieldContainer[_types_pb2.NodeRole]
        memberships: _containers.RepeatedScalarFieldContainer[_specs_pb2.NodeSpec.Membership]
        def __init__(self, names: _Optional[_Iterable[str]] = ..., id_prefixes: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., node_labels: _Optional[_Mapping[str, str]] = ..., roles: _Optional[_Iterable[_Union[_types_pb2.NodeRole, str]]] = ..., memberships: _Optional[_Iterable[_Union[_specs_pb2.NodeSpec.Membership, str]]] = ...) -> None: ...
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: ListNodesRequest.Filters
    def __init__(self, filters: _Optional[_Union[ListNodesRequest.Filters, _Mapping]] = ...) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[_objects_pb2.Node, _Mapping]]] = ...) -> None: ...

class UpdateNodeRequest(_message.Message):
    __slots__ = ("node_id", "node_version", "spec")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_version: _types_pb2.Version
    spec: _specs_pb2.NodeSpec
    def __init__(self, node_id: _Optional[str] = ..., node_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.NodeSpec, _Mapping]] = ...) -> None: ...

class UpdateNodeResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: _objects_pb2.Node
    def __init__(self, node: _Optional[_Union[_objects_pb2.Node, _Mapping]] = ...) -> None: ...

class RemoveNodeRequest(_message.Message):
    __slots__ = ("node_id", "force")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    force: bool
    def __init__(self, node_id: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RemoveNodeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _objects_pb2.Task
    def __init__(self, task: _Optional[_Union[_objects_pb2.Task, _Mapping]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("filters",)
    class Filters(_message.Message):
        __slots__ = ("names", "id_prefixes", "service_ids", "node_ids", "desired_states", "up_to_date")
        NAMES_FIELD_NUMBER: _ClassVar[int]
        ID_PREFIXES_FIELD_NUMBER: _ClassVar[int]
        SERVICE_IDS_FIELD_NUMBER: _ClassVar[int]
        NODE_IDS_FIELD_NUMBER: _ClassVar[int]
        DESIRED_STATES_FIELD_NUMBER: _ClassVar[int]
        UP_TO_DATE_FIELD_NUMBER: _ClassVar[int]
        names: _containers.RepeatedScalarFieldContainer[str]
        id_prefixes: _containers.RepeatedScalarFieldContainer[str]
        service_ids: _containers.RepeatedScalarFieldContainer[str]
        node_ids: _containers.RepeatedScalarFieldContainer[str]
        desired_states: _containers.RepeatedScalarFieldContainer[_types_pb2.TaskState]
        up_to_date: bool
        def __init__(self, names: _Optional[_Iterable[str]] = ..., id_prefixes: _Optional[_Iterable[str]] = ..., service_ids: _Optional[_Iterable[str]] = ..., node_ids: _Optional[_Iterable[str]] = ..., desired_states: _Optional[_Iterable[_Union[_types_pb2.TaskState, str]]] = ..., up_to_date: _Optional[bool] = ...) -> None: ...
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: ListTasksRequest.Filters
    def __init__(self, filters: _Optional[_Union[ListTasksRequest.Filters, _Mapping]] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Task]
    def __init__(self, tasks: _Optional[_Iterable[_Union[_objects_pb2.Task, _Mapping]]] = ...) -> None: ...

class CreateServiceRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _specs_pb2.ServiceSpec
    def __init__(self, spec: _Optional[_Union[_specs_pb2.ServiceSpec, _Mapping]] = ...) -> None: ...

class CreateServiceResponse(_message.Message):
    __slots__ = ("service", "warnings")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    service: _objects_pb2.Service
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service: _Optional[_Union[_objects_pb2.Service, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class GetServiceRequest(_message.Message):
    __slots__ = ("service_id", "insert_defaults")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    INSERT_DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    insert_defaults: bool
    def __init__(self, service_id: _Optional[str] = ..., insert_defaults: _Optional[bool] = ...) -> None: ...

class GetServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: _objects_pb2.Service
    def __init__(self, service: _Optional[_Union[_objects_pb2.Service, _Mapping]] = ...) -> None: ...

class UpdateServiceRequest(_message.Message):
    __slots__ = ("service_id", "service_version", "spec", "rollback")
    class Rollback(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NONE: _ClassVar[UpdateServiceRequest.Rollback]
        PREVIOUS: _ClassVar[UpdateServiceRequest.Rollback]
    NONE: UpdateServiceRequest.Rollback
    PREVIOUS: UpdateServiceRequest.Rollback
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    service_version: _types_pb2.Version
    spec: _specs_pb2.ServiceSpec
    rollback: UpdateServiceRequest.Rollback
    def __init__(self, service_id: _Optional[str] = ..., service_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.ServiceSpec, _Mapping]] = ..., rollback: _Optional[_Union[UpdateServiceRequest.Rollback, str]] = ...) -> None: ...

class UpdateServiceResponse(_message.Message):
    __slots__ = ("service", "warnings")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    service: _objects_pb2.Service
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service: _Optional[_Union[_objects_pb2.Service, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveServiceRequest(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...

class RemoveServiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ("filters",)
    class Filters(_message.Message):
        __slots__ = ("names", "name_prefixes", "id_prefixes", "labels", "modes")
        class LabelsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        NAMES_FIELD_NUMBER: _ClassVar[int]
        NAME_PREFIXES_FIELD_NUMBER: _ClassVar[int]
        ID_PREFIXES_FIELD_NUMBER: _ClassVar[int]
        LABELS_FIELD_NUMBER: _ClassVar[int]
        MODES_FIELD_NUMBER: _ClassVar[int]
        names: _containers.RepeatedScalarFieldContainer[str]
        name_prefixes: _containers.RepeatedScalarFieldContainer[str]
        id_prefixes: _containers.RepeatedScalarFieldContainer[str]
        labels: _containers.ScalarMap[str, str]
        modes: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, names: _Optional[_Iterable[str]] = ..., name_prefixes: _Optional[_Iterable[str]] = ..., id_prefixes: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., modes: _Optional[_Iterable[str]] = ...) -> None: ...
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: ListServicesRequest.Filters
    def __init__(self, filters: _Optional[_Union[ListServicesRequest.Filters, _Mapping]] = ...) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Service]
    def __init__(self, services: _Optional[_Iterable[_Union[_objects_pb2.Service, _Mapping]]] = ...) -> None: ...

class CreateNetworkRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _specs_pb2.NetworkSpec
    def __init__(self, spec: _Optional[_Union[_specs_pb2.NetworkSpec, _Mapping]] = ...) -> None: ...

class CreateNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: _objects_pb2.Network
    def __init__(self, network: _Optional[_Union[_objects_pb2.Network, _Mapping]] = ...) -> None: ...

class GetNetworkRequest(_message.Message):
    __slots__ = ("network_id",)
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    def __init__(self, network_id: _Optional[str] = ...) -> None: ...

class GetNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: _objects_pb2.Network
    def __init__(self, network: _Optional[_Union[_objects_pb2.Network, _Mapping]] = ...) -> None: ...

class ListNetworksRequest(_message.Message):
    __slots__ = ("filters",)
    class Filters(_message.Message):
        __slots__ = ("names", "id_prefixes")
        NAMES_FIELD_NUMBER: _ClassVar[int]
        ID_PREFIXES_FIELD_NUMBER: _ClassVar[int]
        names: _containers.RepeatedScalarFieldContainer[str]
        id_prefixes: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, names: _Optional[_Iterable[str]] = ..., id_prefixes: _Optional[_Iterable[str]] = ...) -> None: ...
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: ListNetworksRequest.Filters
    def __init__(self, filters: _Optional[_Union[ListNetworksRequest.Filters, _Mapping]] = ...) -> None: ...

class ListNetworksResponse(_message.Message):
    __slots__ = ("networks",)
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Network]
    def __init__(self, networks: _Optional[_Iterable[_Union[_objects_pb2.Network, _Mapping]]] = ...) -> None: ...

class RemoveNetworkRequest(_message.Message):
    __slots__ = ("network_id",)
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    def __init__(self, network_id: _Optional[str] = ...) -> None: ...

class RemoveNetworkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetClusterRequest(_message.Message):
    __slots__ = ("cluster_id",)
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    def __init__(self, cluster_id: _Optional[str] = ...) -> None: ...

class GetClusterResponse(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: _objects_pb2.Cluster
    def __init__(self, cluster: _Optional[_Union[_objects_pb2.Cluster, _Mapping]] = ...) -> None: ...

class ListClustersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListClustersResponse(_message.Message):
    __slots__ = ("clusters",)
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    clusters: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Cluster]
    def __init__(self, clusters: _Optional[_Iterable[_Union[_objects_pb2.Cluster, _Mapping]]] = ...) -> None: ...

class KeyRotation(_message.Message):
    __slots__ = ("worker_join_token", "manager_join_token", "manager_unlock_key")
    WORKER_JOIN_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MANAGER_JOIN_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MANAGER_UNLOCK_KEY_FIELD_NUMBER: _ClassVar[int]
    worker_join_token: bool
    manager_join_token: bool
    manager_unlock_key: bool
    def __init__(self, worker_join_token: _Optional[bool] = ..., manager_join_token: _Optional[bool] = ..., manager_unlock_key: _Optional[bool] = ...) -> None: ...

class UpdateClusterRequest(_message.Message):
    __slots__ = ("cluster_id", "cluster_version", "spec", "rotation")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ROTATION_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    cluster_version: _types_pb2.Version
    spec: _specs_pb2.ClusterSpec
    rotation: KeyRotation
    def __init__(self, cluster_id: _Optional[str] = ..., cluster_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.ClusterSpec, _Mapping]] = ..., rotation: _Optional[_Union[KeyRotation, _Mapping]] = ...) -> None: ...

class UpdateClusterResponse(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: _objects_pb2.Cluster
    def __init__(self, cluster: _Optional[_Union[_objects_pb2.Cluster, _Mapping]] = ...) -> None: ...

class GetUnlockKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUnlockKeyResponse(_message.Message):
    __slots__ = ("unlock_key", "version")
    UNLOCK_KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    unlock_key: str
    version: _types_pb2.Version
    def __init__(self, unlock_key: _Optional[str] = ..., version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ...) -> None: ...

class GetSecretRequest(_message.Message):
    __slots__ = ("secret_id",)
    SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    secret_id: str
    def __init__(self, secret_id: _Optional[str] = ...) -> None: ...

class GetSecretResponse(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: _objects_pb2.Secret
    def __init__(self, secret: _Optional[_Union[_objects_pb2.Secret, _Mapping]] = ...) -> None: ...

class ListSecretsRequest(_message.Message):
    __slots__ = ("filters",)
    class Filters(_message.Message):
        __slots__ = ("names", "id_prefixes", "labels", "name_prefixes")
        class LabelsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        NAMES_FIELD_NUMBER: _ClassVar[int]
        ID_PREFIXES_FIELD_NUMBER: _ClassVar[int]
        LABELS_FIELD_NUMBER: _ClassVar[int]
        NAME_PREFIXES_FIELD_NUMBER: _ClassVar[int]
        names: _containers.RepeatedScalarFieldContainer[str]
        id_prefixes: _containers.RepeatedScalarFieldContainer[str]
        labels: _containers.ScalarMap[str, str]
        name_prefixes: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, names: _Optional[_Iterable[str]] = ..., id_prefixes: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., name_prefixes: _Optional[_Iterable[str]] = ...) -> None: ...
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: ListSecretsRequest.Filters
    def __init__(self, filters: _Optional[_Union[ListSecretsRequest.Filters, _Mapping]] = ...) -> None: ...

class ListSecretsResponse(_message.Message):
    __slots__ = ("secrets",)
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Secret]
    def __init__(self, secrets: _Optional[_Iterable[_Union[_objects_pb2.Secret, _Mapping]]] = ...) -> None: ...

class CreateSecretRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _specs_pb2.SecretSpec
    def __init__(self, spec: _Optional[_Union[_specs_pb2.SecretSpec, _Mapping]] = ...) -> None: ...

class CreateSecretResponse(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: _objects_pb2.Secret
    def __init__(self, secret: _Optional[_Union[_objects_pb2.Secret, _Mapping]] = ...) -> None: ...

class UpdateSecretRequest(_message.Message):
    __slots__ = ("secret_id", "secret_version", "spec")
    SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    secret_id: str
    secret_version: _types_pb2.Version
    spec: _specs_pb2.SecretSpec
    def __init__(self, secret_id: _Optional[str] = ..., secret_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.SecretSpec, _Mapping]] = ...) -> None: ...

class UpdateSecretResponse(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: _objects_pb2.Secret
    def __init__(self, secret: _Optional[_Union[_objects_pb2.Secret, _Mapping]] = ...) -> None: ...

class RemoveSecretRequest(_message.Message):
    __slots__ = ("secret_id",)
    SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    secret_id: str
    def __init__(self, secret_id: _Optional[str] = ...) -> None: ...

class RemoveSecretResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetConfigRequest(_message.Message):
    __slots__ = ("config_id",)
    CONFIG_ID_FIELD_NUMBER: _ClassVar[int]
    config_id: str
    def __init__(self, config_id: _Optional[str] = ...) -> None: ...

class GetConfigResponse(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: _objects_pb2.Config
    def __init__(self, config: _Optional[_Union[_objects_pb2.Config, _Mapping]] = ...) -> None: ...

class ListConfigsRequest(_message.Message):
    __slots__ = ("filters",)
    class Filters(_message.Message):
        __slots__ = ("names", "id_prefixes", "labels", "name_prefixes")
        class LabelsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: str
            def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
        NAMES_FIELD_NUMBER: _ClassVar[int]
        ID_PREFIXES_FIELD_NUMBER: _ClassVar[int]
        LABELS_FIELD_NUMBER: _ClassVar[int]
        NAME_PREFIXES_FIELD_NUMBER: _ClassVar[int]
        names: _containers.RepeatedScalarFieldContainer[str]
        id_prefixes: _containers.RepeatedScalarFieldContainer[str]
        labels: _containers.ScalarMap[str, str]
        name_prefixes: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, names: _Optional[_Iterable[str]] = ..., id_prefixes: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., name_prefixes: _Optional[_Iterable[str]] = ...) -> None: ...
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: ListConfigsRequest.Filters
    def __init__(self, filters: _Optional[_Union[ListConfigsRequest.Filters, _Mapping]] = ...) -> None: ...

class ListConfigsResponse(_message.Message):
    __slots__ = ("configs",)
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    configs: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Config]
    def __init__(self, configs: _Optional[_Iterable[_Union[_objects_pb2.Config, _Mapping]]] = ...) -> None: ...

class CreateConfigRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _specs_pb2.ConfigSpec
    def __init__(self, spec: _Optional[_Union[_specs_pb2.ConfigSpec, _Mapping]] = ...) -> None: ...

class CreateConfigResponse(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: _objects_pb2.Config
    def __init__(self, config: _Optional[_Union[_objects_pb2.Config, _Mapping]] = ...) -> None: ...

class UpdateConfigRequest(_message.Message):
    __slots__ = ("config_id", "config_version", "spec")
    CONFIG_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    config_id: str
    config_version: _types_pb2.Version
    spec: _specs_pb2.ConfigSpec
    def __init__(self, config_id: _Optional[str] = ..., config_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.ConfigSpec, _Mapping]] = ...) -> None: ...

class UpdateConfigResponse(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: _objects_pb2.Config
    def __init__(self, config: _Optional[_Union[_objects_pb2.Config, _Mapping]] = ...) -> None: ...

class RemoveConfigRequest(_message.Message):
    __slots__ = ("config_id",)
    CONFIG_ID_FIELD_NUMBER: _ClassVar[int]
    config_id: str
    def __init__(self, config_id: _Optional[str] = ...) -> None: ...

class RemoveConfigResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EventsRequest(_message.Message):
    __slots__ = ("since_nanos", "until_nanos")
    SINCE_NANOS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_NANOS_FIELD_NUMBER: _ClassVar[int]
    since_nanos: int
    until_nanos: int
    def __init__(self, since_nanos: _Optional[int] = ..., until_nanos: _Optional[int] = ...) -> None: ...

class EventMessage(_message.Message):
    __slots__ = ("type", "action", "actor_id", "attributes", "time_nanos")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    TIME_NANOS_FIELD_NUMBER: _ClassVar[int]
    type: str
    action: str
    actor_id: str
    attributes: _containers.ScalarMap[str, str]
    time_nanos: int
    def __init__(self, type: _Optional[str] = ..., action: _Optional[str] = ..., actor_id: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., time_nanos: _Optional[int] = ...) -> None: ...
