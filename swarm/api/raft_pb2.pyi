from swarm.api import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RaftJoinRequest(_message.Message):
    __slots__ = ("raft_addr", "api_addr")
    RAFT_ADDR_FIELD_NUMBER: _ClassVar[int]
    API_ADDR_FIELD_NUMBER: _ClassVar[int]
    raft_addr: str
    api_addr: str
    def __init__(self, raft_addr: _Optional[str] = ..., api_addr: _Optional[str] = ...) -> None: ...

class RaftJoinResponse(_message.Message):
    __slots__ = ("raft_id", "members", "raft_secret", "secrets_key")
    RAFT_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    RAFT_SECRET_FIELD_NUMBER: _ClassVar[int]
    SECRETS_KEY_FIELD_NUMBER: _ClassVar[int]
    raft_id: int
    members: _containers.RepeatedCompositeFieldContainer[_types_pb2.RaftMember]
    raft_secret: bytes
    secrets_key: bytes
    def __init__(self, raft_id: _Optional[int] = ..., members: _Optional[_Iterable[_Union[_types_pb2.RaftMember, _Mapping]]] = ..., raft_secret: _Optional[bytes] = ..., secrets_key: _Optional[bytes] = ...) -> None: ...

class RaftLeaveRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class RaftLeaveResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RaftStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RaftStatusResponse(_message.Message):
    __slots__ = ("leader_node_id", "leader_api_addr", "term", "commit_index", "reachable")
    class ReachableEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    LEADER_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_API_ADDR_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    leader_node_id: str
    leader_api_addr: str
    term: int
    commit_index: int
    reachable: _containers.ScalarMap[str, bool]
    def __init__(self, leader_node_id: _Optional[str] = ..., leader_api_addr: _Optional[str] = ..., term: _Optional[int] = ..., commit_index: _Optional[int] = ..., reachable: _Optional[_Mapping[str, bool]] = ...) -> None: ...
