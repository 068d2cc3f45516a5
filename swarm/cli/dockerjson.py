"""Protobuf objects as Docker's JSON: PascalCase keys (`ID`, `CreatedAt`, `Spec`), enum values
lower case (`ready`, `active`, `manager`), timestamps RFC 3339, durations in nanoseconds.

Scripts written for `docker node inspect` / `docker service inspect` read the same shapes.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_SPECIAL = {"id": "ID", "ip": "IP", "vip": "VIP", "cn": "CN", "csr": "CSR", "ipam": "IPAM",
            "tls_info": "TLSInfo", "node_id": "NodeID", "service_id": "ServiceID",
            "task_id": "TaskID", "network_id": "NetworkID", "container_id": "ContainerID",
            "raft_id": "RaftID", "ca_cert": "CACert", "ca_key": "CAKey",
            "ca_cert_hash": "CACertHash", "root_ca": "RootCA", "nano_cpus": "NanoCPUs",
            "pid": "PID", "virtual_ips": "VirtualIPs", "ca_config": "CAConfig",
            "data_path_addr": "DataPathAddr", "api_addr": "APIAddr"}

# Enum values whose Docker spelling differs from a plain lower-casing of the proto name.
_ENUM_RENAMES = {"RESTART_ON_ANY": "any", "RESTART_ON_NONE": "none", "RESTART_ON_FAILURE": "on-failure",
                 "STOP_FIRST": "stop-first", "START_FIRST": "start-first", "VIP": "vip",
                 "DNSRR": "dnsrr"}


def key(name: str) -> str:
    if name in _SPECIAL:
        return _SPECIAL[name]
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def to_docker(msg: Message, *, include_defaults: bool = False) -> dict[str, Any]:
    from google.protobuf.duration_pb2 import Duration
    from google.protobuf.timestamp_pb2 import Timestamp

    out: dict[str, Any] = {}
    for fd in msg.DESCRIPTOR.fields:
        if fd.is_repeated:
            value = getattr(msg, fd.name)
            if not value and not include_defaults:
                continue
        elif fd.message_type is not None:
            if not msg.HasField(fd.name):
                continue
            value = getattr(msg, fd.name)
        else:
            value = getattr(msg, fd.name)
            if fd.containing_oneof is None and not include_defaults and value == fd.default_value \
                    and fd.type != FieldDescriptor.TYPE_ENUM:
                continue
        out[key(fd.name)] = _value(fd, value, include_defaults)
    del Duration, Timestamp
    return out


def _value(fd: FieldDescriptor, value: Any, include_defaults: bool) -> Any:
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        vfd = fd.message_type.fields_by_name["value"]
        return {k: _scalar_or_msg(vfd, v, include_defaults) for k, v in value.items()}
    if fd.is_repeated:
        return [_scalar_or_msg(fd, v, include_defaults) for v in value]
    return _scalar_or_msg(fd, value, include_defaults)


def _scalar_or_msg(fd: FieldDescriptor, v: Any, include_defaults: bool) -> Any:
    if fd.message_type is not None:
        full = fd.message_type.full_name
        if full == "google.protobuf.Timestamp":
            return v.ToJsonString()
        if full == "google.protobuf.Duration":
            return v.ToNanoseconds()
        if full == "swarm.api.Version":
            return {"Index": v.index}
        return to_docker(v, include_defaults=include_defaults)
    if fd.type == FieldDescriptor.TYPE_ENUM:
        name = fd.enum_type.values_by_number[v].name if v in fd.enum_type.values_by_number else str(v)
        return _ENUM_RENAMES.get(name, name.lower())
    if fd.type == FieldDescriptor.TYPE_BYTES:
        try:
            return v.decode()
        except UnicodeDecodeError:
            import base64

            return base64.b64encode(v).decode()
    return v
