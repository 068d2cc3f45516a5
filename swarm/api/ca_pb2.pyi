from swarm.api import types_pb2 as _types_pb2
from swarm.api import specs_pb2 as _specs_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetRootCACertificateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRootCACertificateResponse(_message.Message):
    __slots__ = ("certificate",)
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    certificate: bytes
    def __init__(self, certificate: _Optional[bytes] = ...) -> None: ...

class IssueNodeCertificateRequest(_message.Message):
    __slots__ = ("csr", "token", "availability", "advertise_addr", "data_path_addr", "hostname")
    CSR_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_ADDR_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_ADDR_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    csr: bytes
    token: str
    availability: _specs_pb2.NodeSpec.Availability
    advertise_addr: str
    data_path_addr: str
    hostname: str
    def __init__(self, csr: _Optional[bytes] = ..., token: _Optional[str] = ..., availability: _Optional[_Union[_specs_pb2.NodeSpec.Availability, str]] = ..., advertise_addr: _Optional[str] = ..., data_path_addr: _Optional[str] = ..., hostname: _Optional[str] = ...) -> None: ...

class IssueNodeCertificateResponse(_message.Message):
    __slots__ = ("node_id", "node_membership", "role", "certificate", "data_path_port")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_MEMBERSHIP_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_PORT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_membership: _specs_pb2.NodeSpec.Membership
    role: _types_pb2.NodeRole
    certificate: bytes
    data_path_port: int
    def __init__(self, node_id: _Optional[str] = ..., node_membership: _Optional[_Union[_specs_pb2.NodeSpec.Membership, str]] = ..., role: _Optional[_Union[_types_pb2.NodeRole, str]] = ..., certificate: _Optional[bytes] = ..., data_path_port: _Optional[int] = ...) -> None: ...

class NodeCertificateStatusRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class NodeCertificateStatusResponse(_message.Message):
    __slots__ = ("state", "certificate", "root_ca")
    STATE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    ROOT_CA_FIELD_NUMBER: _ClassVar[int]
    state: str
    certificate: bytes
    root_ca: bytes
    def __init__(self, state: _Optional[str] = ..., certificate: _Optional[bytes] = ..., root_ca: _Optional[bytes] = ...) -> None: ...
