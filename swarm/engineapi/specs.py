"""Translation tables, Docker JSON -> protobuf, for services and nodes (moby api/swagger.yaml).

``service_spec(body)`` reads ``POST /services/create`` and ``/services/{id}/update`` bodies (a
``ServiceSpec``), ``node_spec`` the body of ``/nodes/{id}/update``. Networks, secrets and configs
are in ``resources``, the swarm itself in ``swarmspecs``; the reverse direction (proto -> Docker
JSON) is ``swarm.shapes``. A Docker key we do not list is ignored; a listed ``unsupported`` one
with a non-zero value is a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from swarm.api import specs_pb2 as s
from swarm.api import types_pb2 as t
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.tables import (
    DRIVER,
    LABELS,
    NAME,
    F,
    Table,
    assign,
    boolean,
    duration,
    enum,
    integer,
    message,
    messages,
    number,
    string,
    string_map,
    strings,
    unsigned,
)
from swarm.engineapi.tables import ignore as _ignore

# ---- ContainerSpec and what it holds ----------------------------------------------------------

MOUNT = Table(
    t.Mount,
    {
        "Type": F("type", enum({"bind": t.Mount.BIND, "volume": t.Mount.VOLUME, "tmpfs": t.Mount.TMPFS})),
        "Source": F("source", string),
        "Target": F("target", string),
        "ReadOnly": F("readonly", boolean),
        "BindOptions": F(
            "bind_options",
            message(
                Table(
                    t.Mount.BindOptions,
                    {"Propagation": F("propagation", string)},
                    unsupported={
                        "NonRecursive": (),
                        "CreateMountpoint": (),
                        "ReadOnlyNonRecursive": (),
                        "ReadOnlyForceRecursive": (),
                    },
                )
            ),
        ),
        "VolumeOptions": F(
            "volume_options",
            message(
                Table(
                    t.Mount.VolumeOptions,
                    {
                        "NoCopy": F("nocopy", boolean),
                        "Labels": F("labels", string_map),
                        "DriverConfig": F("driver_config", message(DRIVER)),
                    },
                    unsupported={"Subpath": ()},
                )
            ),
        ),
        "TmpfsOptions": F(
            "tmpfs_options",
            message(
                Table(
                    t.Mount.TmpfsOptions,
                    {"SizeBytes": F("size_bytes", integer), "Mode": F("mode", unsigned)},
                    unsupported={"Options": ()},
                )
            ),
        ),
    },
    unsupported={"Consistency": ("default", "consistent"), "ClusterOptions": ()},
)

FILE_TARGET = Table(
    t.FileTarget,
    {
        "Name": F("name", string),
        "UID": F("uid", string),
        "GID": F("gid", string),
        "Mode": F("mode", unsigned),
    },
)
SECRET_REF = Table(
    t.SecretReference,
    {
        "SecretID": F("secret_id", string),
        "SecretName": F("secret_name", string),
        "File": F("file", message(FILE_TARGET)),
    },
)
CONFIG_REF = Table(
    t.ConfigReference,
    {
        "ConfigID": F("config_id", string),
        "ConfigName": F("config_name", string),
        "File": F("file", message(FILE_TARGET)),
    },
    unsupported={"Runtime": ()},
)

HEALTH = Table(
    t.HealthConfig,
    {
        "Test": F("test", strings),
        "Interval": F("interval", duration),
        "Timeout": F("timeout", duration),
        "Retries": F("retries", integer),
        "StartPeriod": F("start_period", duration),
        "StartInterval": F("start_interval", duration),
    },
)

DNS = Table(
    t.DNSConfig,
    {
        "Nameservers": F("nameservers", strings),
        "Search": F("search", strings),
        "Options": F("options", strings),
    },
)

ULIMIT = Table(t.Ulimit, {"Name": F("name", string), "Soft": F("soft", integer), "Hard": F("hard", integer)})

SELINUX = Table(
    s.Privileges.SELinuxContext,
    {"Disable": F("disable", boolean), "User": F("user", string), "Role": F("role", string),
     "Type": F("type", string), "Level": F("level", string)},
)
SECCOMP = Table(
    s.Privileges.SeccompOpts,
    {"Mode": F("mode", enum({"default": s.Privileges.SeccompOpts.DEFAULT,
                             "unconfined": s.Privileges.SeccompOpts.UNCONFINED}))},
    # dockerd would run a custom profile; pyswarm's runtime has only its default filter
    unsupported={"Profile": ()},
)
APPARMOR = Table(
    s.Privileges.AppArmorOpts,
    {"Mode": F("mode", enum({"default": s.Privileges.AppArmorOpts.DEFAULT,
                             "disabled": s.Privileges.AppArmorOpts.DISABLED}))},
)
PRIVILEGES = Table(
    s.Privileges,
    {"SELinuxContext": F("selinux_context", message(SELINUX)), "Seccomp": F("seccomp", message(SECCOMP)),
     "AppArmor": F("apparmor", message(APPARMOR)), "NoNewPrivileges": F("no_new_privileges", boolean)},
    # a Windows credential spec: dockerd on Linux rejects the task ("invalid --security-opt")
    unsupported={"CredentialSpec": ()},
)

CONTAINER = Table(
    s.ContainerSpec,
    {
        "Image": F("image", string),
        "Labels": F("labels", string_map),
        "Command": F("command", strings),
        "Args": F("args", strings),
        "Hostname": F("hostname", string),
        "Env": F("env", strings),
        "Dir": F("dir", string),
        "User": F("user", string),
        "Groups": F("groups", strings),
        "TTY": F("tty", boolean),
        "ReadOnly": F("read_only", boolean),
        "Mounts": F("mounts", messages(MOUNT)),
        "StopSignal": F("stop_signal", string),
        "StopGracePeriod": F("stop_grace_period", duration),
        "Healthcheck": F("healthcheck", message(HEALTH)),
        "Hosts": F("hosts", strings),
        "DNSConfig": F("dns_config", message(DNS)),
        "Secrets": F("secrets", messages(SECRET_REF)),
        "Configs": F("configs", messages(CONFIG_REF)),
        "Init": F("init", boolean),
        "Sysctls": F("sysctls", string_map),
        "CapabilityAdd": F("capability_add", strings),
        "CapabilityDrop": F("capability_drop", strings),
        "Ulimits": F("ulimits", messages(ULIMIT)),
        "OomScoreAdj": F("oom_score_adj", integer),
        "Privileges": F("privileges", message(PRIVILEGES)),
    },
    unsupported={
        "Isolation": ("default",),
        "OpenStdin": (),
        "StopTimeout": (),
        "Duration": (),
    },
)

# ---- TaskSpec ----------------------------------------------------------------------------------

NAMED_RESOURCE = Table(t.GenericResource.Named, {"Kind": F("kind", string), "Value": F("value", string)})
DISCRETE_RESOURCE = Table(
    t.GenericResource.Discrete, {"Kind": F("kind", string), "Value": F("value", integer)}
)


def _generic(v: Any, path: str) -> list[Message]:
    """``[{"NamedResourceSpec": {Kind, Value}} | {"DiscreteResourceSpec": {Kind, Value}}]``
    (whether a service may ask for named ones is the control API's to say)."""
    if not isinstance(v, list):
        raise BadRequest(f"invalid {path}: expected an array")
    out: list[Message] = []
    for i, x in enumerate(v):
        p = f"{path}[{i}]"
        kinds = {k.lower(): k for k in x} if isinstance(x, dict) else {}
        if "namedresourcespec" in kinds and "discreteresourcespec" not in kinds:
            g = t.GenericResource()
            assign(g, "named", NAMED_RESOURCE.decode(x[kinds["namedresourcespec"]], f"{p}.NamedResourceSpec"))
            out.append(g)
        elif "discreteresourcespec" in kinds and "namedresourcespec" not in kinds:
            g = t.GenericResource()
            spec = DISCRETE_RESOURCE.decode(x[kinds["discreteresourcespec"]], f"{p}.DiscreteResourceSpec")
            assign(g, "discrete", spec)
            out.append(g)
        else:
            raise BadRequest(f"invalid {p}: expected one of NamedResourceSpec or DiscreteResourceSpec")
    return out


RESOURCES = Table(
    t.Resources,
    {
        "NanoCPUs": F("nano_cpus", integer),
        "MemoryBytes": F("memory_bytes", integer),
        "Pids": F("pids", integer),
        "GenericResources": F("generic", _generic),
    },
)
REQUIREMENTS = Table(
    t.ResourceRequirements,
    {"Limits": F("limits", message(RESOURCES)), "Reservations": F("reservations", message(RESOURCES))},
)

RESTART = Table(
    t.RestartPolicy,
    {
        "Condition": F(
            "condition",
            enum(
                {
                    "any": t.RestartPolicy.RESTART_ON_ANY,
                    "none": t.RestartPolicy.RESTART_ON_NONE,
                    "on-failure": t.RestartPolicy.RESTART_ON_FAILURE,
                }
            ),
        ),
        "Delay": F("delay", duration),
        "MaxAttempts": F("max_attempts", unsigned),
        "Window": F("window", duration),
    },
)


def _spread(v: Any, path: str) -> Message:
    if not isinstance(v, dict) or not isinstance(v.get("Spread"), dict):
        raise BadRequest(f'invalid {path}: only {{"Spread": {{"SpreadDescriptor": ...}}}} preferences exist')
    return t.PlacementPreference(
        spread_descriptor=string(v["Spread"].get("SpreadDescriptor", ""), f"{path}.Spread.SpreadDescriptor")
    )


def _preferences(v: Any, path: str) -> list[Message]:
    if not isinstance(v, list):
        raise BadRequest(f"invalid {path}: expected an array")
    return [_spread(x, f"{path}[{i}]") for i, x in enumerate(v)]


PLATFORM = Table(t.Platform, {"Architecture": F("architecture", string), "OS": F("os", string)})
PLACEMENT = Table(
    t.Placement,
    {
        "Constraints": F("constraints", strings),
        "Preferences": F("preferences", _preferences),
        "MaxReplicas": F("max_replicas", unsigned),
        "Platforms": F("platforms", messages(PLATFORM)),
    },
)

ATTACHMENT = Table(
    s.NetworkAttachmentConfig,
    {
        "Target": F("target", string),
        "Aliases": F("aliases", strings),
        "DriverOpts": F("driver_attachment_opts", string_map),
    },
)


def _runtime(v: Any, path: str) -> None:
    if string(v, path) not in ("", "container"):
        raise BadRequest(f"{path} {v!r} is not supported by pyswarm (only container tasks)")


TASK = Table(
    s.TaskSpec,
    {
        "ContainerSpec": F("container", message(CONTAINER)),
        "Resources": F("resources", message(REQUIREMENTS)),
        "RestartPolicy": F("restart", message(RESTART)),
        "Placement": F("placement", message(PLACEMENT)),
        "Networks": F("networks", messages(ATTACHMENT)),
        "ForceUpdate": F("force_update", unsigned),
        "LogDriver": F("log_driver", message(DRIVER)),
        "Runtime": F("", _runtime, setter=_ignore),
    },
    unsupported={"PluginSpec": (), "NetworkAttachmentSpec": ()},
)

# ---- ServiceSpec -------------------------------------------------------------------------------

_ORDERS = {"stop-first": t.UpdateConfig.STOP_FIRST, "start-first": t.UpdateConfig.START_FIRST}
UPDATE = Table(
    t.UpdateConfig,
    {
        "Parallelism": F("parallelism", unsigned),
        "Delay": F("delay", duration),
        "FailureAction": F(
            "failure_action",
            enum(
                {
                    "pause": t.UpdateConfig.PAUSE,
                    "continue": t.UpdateConfig.CONTINUE,
                    "rollback": t.UpdateConfig.ROLLBACK,
                }
            ),
        ),
        "Monitor": F("monitor", duration),
        "MaxFailureRatio": F("max_failure_ratio", number),
        "Order": F("order", enum(_ORDERS)),
    },
)

PORT = Table(
    t.PortConfig,
    {
        "Name": F("name", string),
        "Protocol": F(
            "protocol", enum({"tcp": t.PortConfig.TCP, "udp": t.PortConfig.UDP, "sctp": t.PortConfig.SCTP})
        ),
        "TargetPort": F("target_port", unsigned),
        "PublishedPort": F("published_port", unsigned),
        "PublishMode": F("publish_mode", enum({"ingress": t.PortConfig.INGRESS, "host": t.PortConfig.HOST})),
    },
)

ENDPOINT = Table(
    s.EndpointSpec,
    {
        "Mode": F("mode", enum({"vip": s.EndpointSpec.VIP, "dnsrr": s.EndpointSpec.DNSRR})),
        "Ports": F("ports", messages(PORT)),
    },
)


REPLICATED = Table(s.ReplicatedService, {"Replicas": F("replicas", unsigned)})
REPLICATED_JOB = Table(
    s.ReplicatedJob,
    {"MaxConcurrent": F("max_concurrent", unsigned), "TotalCompletions": F("total_completions", unsigned)},
)
MODES = {
    "Replicated": ("replicated", REPLICATED),
    "Global": ("global", Table(s.GlobalService, {})),
    "ReplicatedJob": ("replicated_job", REPLICATED_JOB),
    "GlobalJob": ("global_job", Table(s.GlobalJob, {})),
}


def _mode(v: Any, path: str) -> tuple[str, Message]:
    """Docker's ServiceMode: exactly one of Replicated, Global, ReplicatedJob, GlobalJob."""
    if not isinstance(v, dict):
        raise BadRequest(f"invalid {path}: expected an object")
    by_lower = {k.lower(): k for k in MODES}
    given = [(by_lower[k.lower()], x) for k, x in v.items() if x is not None and k.lower() in by_lower]
    if len(given) > 1:
        raise BadRequest(f"invalid {path}: only one of " + ", ".join(MODES) + " may be set")
    if not given:
        return "replicated", s.ReplicatedService(replicas=1)
    name, doc = given[0]
    field, table = MODES[name]
    msg = table.decode(doc, f"{path}.{name}")
    if field == "replicated" and not (isinstance(doc, dict) and any(k.lower() == "replicas" for k in doc)):
        msg.replicas = 1  # type: ignore[attr-defined]  # dockerd's default
    return field, msg


def _set_mode(msg: Message, v: tuple[str, Message]) -> None:
    assign(msg, v[0], v[1])


def _set_networks(msg: Message, v: list[Message]) -> None:
    """The deprecated top-level ``Networks`` (API < 1.44) means ``TaskTemplate.Networks``."""
    if not msg.task.networks:  # type: ignore[attr-defined]
        assign(msg.task, "networks", v)  # type: ignore[attr-defined]


SERVICE = Table(
    s.ServiceSpec,
    {
        "Name": NAME,
        "Labels": LABELS,
        "TaskTemplate": F("task", message(TASK)),
        "Mode": F("", _mode, setter=_set_mode),
        "UpdateConfig": F("update", message(UPDATE)),
        "RollbackConfig": F("rollback", message(UPDATE)),
        "EndpointSpec": F("endpoint", message(ENDPOINT)),
        "Networks": F("", messages(ATTACHMENT), setter=_set_networks),
    },
)


def service_spec(body: Any) -> s.ServiceSpec:
    spec = SERVICE.decode(body, "ServiceSpec")
    assert isinstance(spec, s.ServiceSpec)
    if spec.WhichOneof("mode") is None:
        spec.replicated.replicas = 1  # dockerd's default mode
    return spec


# ---- NodeSpec -------------------------------------------------------------------------------

NODE = Table(
    s.NodeSpec,
    {
        "Name": NAME,
        "Labels": LABELS,
        "Role": F("desired_role", enum({"worker": t.WORKER, "manager": t.MANAGER})),
        "Availability": F(
            "availability",
            enum({"active": s.NodeSpec.ACTIVE, "pause": s.NodeSpec.PAUSE, "drain": s.NodeSpec.DRAIN}),
        ),
    },
)


def node_spec(body: Any, current: s.NodeSpec) -> s.NodeSpec:
    """Docker's node update replaces the whole spec; the membership is not part of it."""
    spec = NODE.decode(body, "NodeSpec")
    assert isinstance(spec, s.NodeSpec)
    spec.membership = current.membership
    return spec
