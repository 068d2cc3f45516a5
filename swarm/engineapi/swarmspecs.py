"""Translation tables, Docker JSON -> protobuf, for the swarm itself (moby api/swagger.yaml
SwarmSpec, SwarmInitRequest, SwarmJoinRequest).

The docker CLI always sends its ``--listen-addr`` flag's default, ``0.0.0.0:2377``: it cannot say
whether the user typed it. pyswarm's managers listen on their advertise address unless told
otherwise (README, deviations), so that exact value reads as "not given"; any other address is
honoured. External CAs do not exist here: asking for them is a 400 naming them. Autolock is
``EncryptionConfig.AutoLockManagers`` in a spec, or ``AutoLockManagers`` at init (which the
docker CLI sends both ways).
"""

from __future__ import annotations

from typing import Any

from swarm.api import daemon_pb2 as d
from swarm.api import specs_pb2 as s
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.tables import (
    LABELS,
    NAME,
    F,
    Table,
    boolean,
    duration,
    enum,
    ignore,
    integer,
    message,
    string,
    strings,
    unsigned,
)

CLI_DEFAULT_LISTEN = "0.0.0.0:2377"


def _init_autolock(msg: Any, v: Any) -> None:
    if v:
        msg.spec.encryption_config.auto_lock_managers = True


def _task_defaults(v: Any, path: str) -> None:
    if isinstance(v, dict) and v.get("LogDriver"):
        raise BadRequest(f"{path}.LogDriver is not supported by pyswarm (set it per service)")


CA_CONFIG = Table(
    s.CAConfig,
    {"NodeCertExpiry": F("node_cert_expiry", duration), "ForceRotate": F("force_rotate", unsigned)},
    unsupported={"ExternalCAs": (), "SigningCACert": (), "SigningCAKey": ()},
)
RAFT = Table(
    s.RaftConfig,
    {
        "SnapshotInterval": F("snapshot_interval", unsigned),
        "KeepOldSnapshots": F("keep_old_snapshots", unsigned),
        "LogEntriesForSlowFollowers": F("log_entries_for_slow_followers", unsigned),
        "HeartbeatTick": F("heartbeat_tick", unsigned),
        "ElectionTick": F("election_tick", unsigned),
    },
)

SWARM = Table(
    s.ClusterSpec,
    {
        "Name": NAME,
        "Labels": LABELS,
        "Orchestration": F(
            "orchestration",
            message(
                Table(
                    s.OrchestrationConfig,
                    {"TaskHistoryRetentionLimit": F("task_history_retention_limit", integer)},
                )
            ),
        ),
        "Raft": F("raft", message(RAFT)),
        "Dispatcher": F(
            "dispatcher",
            message(Table(s.DispatcherConfig, {"HeartbeatPeriod": F("heartbeat_period", duration)})),
        ),
        "CAConfig": F("ca_config", message(CA_CONFIG)),
        "EncryptionConfig": F(
            "encryption_config",
            message(Table(s.EncryptionConfig, {"AutoLockManagers": F("auto_lock_managers", boolean)})),
        ),
        "TaskDefaults": F("", _task_defaults, setter=ignore),
    },
)

_AVAILABILITY = enum({"active": s.NodeSpec.ACTIVE, "pause": s.NodeSpec.PAUSE, "drain": s.NodeSpec.DRAIN})


def _listen(v: Any, path: str) -> str:
    addr = string(v, path)
    return "" if addr == CLI_DEFAULT_LISTEN else addr


INIT = Table(
    d.InitRequest,
    {
        "ListenAddr": F("listen_addr", _listen),
        "AdvertiseAddr": F("advertise_addr", string),
        "DataPathAddr": F("data_path_addr", string),
        "DataPathPort": F("data_path_port", unsigned),
        "DefaultAddrPool": F("default_addr_pool", strings),
        "SubnetSize": F("subnet_size", unsigned),
        "ForceNewCluster": F("force_new_cluster", boolean),
        "Availability": F("availability", _AVAILABILITY),
        "Spec": F("spec", message(SWARM)),
        "AutoLockManagers": F("", boolean, setter=_init_autolock),
    },
)

JOIN = Table(
    d.JoinRequest,
    {
        "ListenAddr": F("listen_addr", _listen),
        "AdvertiseAddr": F("advertise_addr", string),
        "DataPathAddr": F("data_path_addr", string),
        "RemoteAddrs": F("remote_addrs", strings),
        "JoinToken": F("join_token", string),
        "Availability": F("availability", _AVAILABILITY),
    },
)


def swarm_spec(body: Any) -> s.ClusterSpec:
    spec = SWARM.decode(body, "SwarmSpec")
    assert isinstance(spec, s.ClusterSpec)
    return spec


def init_request(body: Any) -> d.InitRequest:
    req = INIT.decode(body, "SwarmInitRequest")
    assert isinstance(req, d.InitRequest)
    return req


def join_request(body: Any) -> d.JoinRequest:
    req = JOIN.decode(body, "SwarmJoinRequest")
    assert isinstance(req, d.JoinRequest)
    if not req.remote_addrs:
        raise BadRequest("SwarmJoinRequest.RemoteAddrs: at least one manager address is needed")
    if not req.join_token:
        raise BadRequest("SwarmJoinRequest.JoinToken must not be empty")
    return req
