"""Protobuf objects as Docker's JSON: PascalCase keys (`ID`, `CreatedAt`, `Spec`), enum values
lower case (`ready`, `active`, `manager`), timestamps RFC 3339, durations in nanoseconds.

`service_doc` and `node_doc` go further and print the Docker Engine API's shapes (below), so
scripts written for `docker service inspect` / `docker node inspect` read ours.
"""

from __future__ import annotations

import struct
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_SPECIAL = {"id": "ID", "ip": "IP", "vip": "VIP", "cn": "CN", "csr": "CSR", "ipam": "IPAM",
            "tls_info": "TLSInfo", "node_id": "NodeID", "service_id": "ServiceID",
            "task_id": "TaskID", "network_id": "NetworkID", "container_id": "ContainerID",
            "raft_id": "RaftID", "ca_cert": "CACert", "ca_key": "CAKey",
            "ca_cert_hash": "CACertHash", "root_ca": "RootCA", "nano_cpus": "NanoCPUs",
            "pid": "PID", "virtual_ips": "VirtualIPs", "ca_config": "CAConfig",
            "data_path_addr": "DataPathAddr", "api_addr": "APIAddr",
            "secret_id": "SecretID", "config_id": "ConfigID", "uid": "UID", "gid": "GID",
            "readonly": "ReadOnly", "nocopy": "NoCopy", "dns_config": "DNSConfig",
            "selinux_context": "SELinuxContext", "apparmor": "AppArmor"}

# Enum values whose Docker spelling differs from a plain lower-casing of the proto name.
_ENUM_RENAMES = {"RESTART_ON_ANY": "any", "RESTART_ON_NONE": "none", "RESTART_ON_FAILURE": "on-failure",
                 "STOP_FIRST": "stop-first", "START_FIRST": "start-first", "VIP": "vip",
                 "DNSRR": "dnsrr"}


def key(name: str) -> str:
    if name in _SPECIAL:
        return _SPECIAL[name]
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def float32_shortest(v: float) -> float:
    """A float32 field as Go's JSON encoder writes a float32: the shortest decimal that reads
    back as the same float32 (0.4, not the widened 0.4000000059604645)."""
    want = struct.pack("<f", v)
    for digits in range(1, 10):
        short = float(f"{v:.{digits}g}")
        if struct.pack("<f", short) == want:
            return short
    return v


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
        out[key(fd.name)] = _value(fd, value, include_defaults)  # type: ignore[arg-type]  # upb's descriptor
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
    if fd.type == FieldDescriptor.TYPE_FLOAT:
        return float32_shortest(v)
    if fd.type == FieldDescriptor.TYPE_ENUM:
        values = fd.enum_type.values_by_number if fd.enum_type is not None else {}
        name = values[v].name if v in values else str(v)
        return _ENUM_RENAMES.get(name, name.lower())
    if fd.type == FieldDescriptor.TYPE_BYTES:
        try:
            return v.decode()
        except UnicodeDecodeError:
            import base64

            return base64.b64encode(v).decode()
    return v


# ---- Docker Engine API shapes ------------------------------------------------------------------
# `docker service inspect` and `docker node inspect` print the Engine API's types, not swarmkit's
# protobufs: the spec's name and labels sit on the spec itself, a service's task spec is
# `TaskTemplate` with a `ContainerSpec`, the mode is `Mode: {Replicated: {Replicas}}`, a node's
# role is `Spec.Role`, ... Scripts and templates (`-f '{{.Spec.TaskTemplate.ContainerSpec.Image}}'`)
# are written against those, so the inspect commands print them.


def _meta(obj: Any) -> dict[str, Any]:
    m = obj.meta
    out: dict[str, Any] = {"ID": obj.id, "Version": {"Index": m.version.index}}
    if m.HasField("created_at"):
        out["CreatedAt"] = m.created_at.ToJsonString()
    if m.HasField("updated_at"):
        out["UpdatedAt"] = m.updated_at.ToJsonString()
    return out


def _enum(msg: Any, field: str) -> str:
    """One enum field in Docker's spelling (`manager`, `drain`, `reachable`)."""
    return str(_scalar_or_msg(msg.DESCRIPTOR.fields_by_name[field], getattr(msg, field), False))


def resources_doc(res: Any, keep_zero: bool = False) -> dict[str, Any]:
    """Docker's ResourceObject / Limit: ``NanoCPUs``, ``MemoryBytes``, ``Pids``,
    ``GenericResources: [{"NamedResourceSpec"|"DiscreteResourceSpec": {"Kind", "Value"}}]``."""
    out: dict[str, Any] = {"NanoCPUs": res.nano_cpus, "MemoryBytes": res.memory_bytes} if keep_zero \
        else {k: v for k, v in (("NanoCPUs", res.nano_cpus), ("MemoryBytes", res.memory_bytes),
                                ("Pids", res.pids)) if v}
    generic = []
    for g in res.generic:
        which = g.WhichOneof("resource")
        if which == "named":
            generic.append({"NamedResourceSpec": {"Kind": g.named.kind, "Value": g.named.value}})
        elif which == "discrete":
            generic.append({"DiscreteResourceSpec": {"Kind": g.discrete.kind, "Value": g.discrete.value}})
    if generic:
        out["GenericResources"] = generic
    return out


def service_spec_doc(spec: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": spec.annotations.name, "Labels": dict(spec.annotations.labels)}
    t = spec.task
    tmpl: dict[str, Any] = {"ContainerSpec": _rename(to_docker(t.container), {"Tty": "TTY"})}
    if t.HasField("resources"):
        r = t.resources
        tmpl["Resources"] = {k: resources_doc(getattr(r, f)) for k, f in
                             (("Limits", "limits"), ("Reservations", "reservations")) if r.HasField(f)}
    tmpl["RestartPolicy"] = to_docker(t.restart) if t.HasField("restart") \
        else {"Condition": "any", "MaxAttempts": 0}
    placement = to_docker(t.placement) if t.HasField("placement") else {}
    if t.placement.preferences:
        placement["Preferences"] = [{"Spread": {"SpreadDescriptor": p.spread_descriptor}}
                                    for p in t.placement.preferences]
    if t.placement.platforms:
        placement["Platforms"] = [{"Architecture": p.architecture, "OS": p.os} for p in t.placement.platforms]
    tmpl["Placement"] = placement
    if t.networks:
        tmpl["Networks"] = [_rename(to_docker(n), {"DriverAttachmentOpts": "DriverOpts"}) for n in t.networks]
    if t.HasField("log_driver"):
        tmpl["LogDriver"] = {"Name": t.log_driver.name, **({"Options": dict(t.log_driver.options)}
                                                           if t.log_driver.options else {})}
    tmpl["ForceUpdate"] = t.force_update
    tmpl["Runtime"] = "container"
    out["TaskTemplate"] = tmpl
    if spec.WhichOneof("mode") == "global":
        out["Mode"] = {"Global": {}}
    elif spec.WhichOneof("mode") == "replicated_job":
        rj = spec.replicated_job
        out["Mode"] = {"ReplicatedJob": {"MaxConcurrent": rj.max_concurrent,
                                         "TotalCompletions": rj.total_completions}}
    elif spec.WhichOneof("mode") == "global_job":
        out["Mode"] = {"GlobalJob": {}}
    else:
        out["Mode"] = {"Replicated": {"Replicas": spec.replicated.replicas}}
    for field, name in (("update", "UpdateConfig"), ("rollback", "RollbackConfig")):
        if spec.HasField(field):
            cfg = getattr(spec, field)
            doc = to_docker(cfg)
            doc.setdefault("Parallelism", cfg.parallelism)
            doc.setdefault("MaxFailureRatio", float32_shortest(cfg.max_failure_ratio))
            out[name] = doc
    out["EndpointSpec"] = to_docker(spec.endpoint) if spec.HasField("endpoint") else {"Mode": "vip"}
    return out


def service_doc(svc: Any) -> dict[str, Any]:
    """A service as `docker service inspect` prints it."""
    out = _meta(svc)
    out["Spec"] = service_spec_doc(svc.spec)
    if svc.HasField("previous_spec"):
        out["PreviousSpec"] = service_spec_doc(svc.previous_spec)
    out["Endpoint"] = to_docker(svc.endpoint) if svc.HasField("endpoint") else {"Spec": {}}
    if svc.HasField("update_status"):
        out["UpdateStatus"] = to_docker(svc.update_status)
    if svc.HasField("job_status"):
        js = svc.job_status
        out["JobStatus"] = {"JobIteration": {"Index": js.job_iteration.index},
                            "LastExecution": js.last_execution.ToJsonString()}
    return out


def node_doc(node: Any) -> dict[str, Any]:
    """A node as `docker node inspect` prints it."""
    import base64

    out = _meta(node)
    spec = node.spec
    out["Spec"] = {**({"Name": spec.annotations.name} if spec.annotations.name else {}),
                   "Labels": dict(spec.annotations.labels),
                   "Role": _enum(spec, "desired_role"), "Availability": _enum(spec, "availability")}
    d = node.description
    desc: dict[str, Any] = {"Hostname": d.hostname,
                            "Platform": {"Architecture": d.platform.architecture, "OS": d.platform.os},
                            "Resources": resources_doc(d.resources, keep_zero=True),
                            "Engine": {"EngineVersion": d.engine_version,
                                       **({"Labels": dict(d.engine_labels)} if d.engine_labels else {})}}
    if d.HasField("tls_info"):
        tls = d.tls_info
        desc["TLSInfo"] = {"TrustRoot": tls.trust_root.decode(errors="replace"),
                           "CertIssuerSubject": base64.b64encode(tls.cert_issuer_subject).decode(),
                           "CertIssuerPublicKey": base64.b64encode(tls.cert_issuer_public_key).decode()}
    out["Description"] = desc
    st = node.status
    out["Status"] = {"State": _enum(st, "state"), **({"Message": st.message} if st.message else {}),
                     "Addr": st.addr}
    if node.HasField("manager_status"):
        ms = node.manager_status
        out["ManagerStatus"] = {"Leader": ms.leader,
                                "Reachability": _enum(ms, "reachability"),
                                "Addr": ms.addr}
    if node.attachments:  # ours: the node's ingress endpoint (the routing mesh's address there)
        out["Attachments"] = to_docker(node)["Attachments"]
    return out


def _rename(doc: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names.get(k, k): v for k, v in doc.items()}


def secret_doc(sec: Any) -> dict[str, Any]:
    """A secret as `docker secret inspect` prints it: never its data (the store has none in clear)."""
    out = _meta(sec)
    spec: dict[str, Any] = {"Name": sec.spec.annotations.name, "Labels": dict(sec.spec.annotations.labels)}
    if sec.spec.HasField("driver") and sec.spec.driver.name:
        spec["Driver"] = to_docker(sec.spec.driver)
    if sec.spec.HasField("templating") and sec.spec.templating.name:
        spec["Templating"] = to_docker(sec.spec.templating)
    out["Spec"] = spec
    return out


def config_doc(cfg: Any) -> dict[str, Any]:
    """A config as `docker config inspect` prints it: its data base64-encoded, as Docker."""
    import base64

    out = _meta(cfg)
    spec: dict[str, Any] = {"Name": cfg.spec.annotations.name, "Labels": dict(cfg.spec.annotations.labels),
                            "Data": base64.b64encode(cfg.spec.data).decode()}
    if cfg.spec.HasField("templating") and cfg.spec.templating.name:
        spec["Templating"] = to_docker(cfg.spec.templating)
    out["Spec"] = spec
    return out
