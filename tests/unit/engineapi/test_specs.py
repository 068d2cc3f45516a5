"""The translation tables: Docker JSON bodies -> protobuf specs (swarm.engineapi.specs)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from swarm.api import specs_pb2 as s
from swarm.api import types_pb2 as t
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.resources import config_spec, network_spec, secret_spec
from swarm.engineapi.specs import node_spec, service_spec
from swarm.shapes.docker import service_spec_doc

# what `docker service create --name web --replicas 3 -p 8080:80 nginx` (CLI 28) POSTs
CLI_CREATE = {
    "Name": "web",
    "Labels": {},
    "TaskTemplate": {
        "ContainerSpec": {"Image": "nginx:latest", "Init": False, "DNSConfig": {}, "Isolation": "default"},
        "Resources": {"Limits": {}, "Reservations": {}},
        "RestartPolicy": {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0},
        "Placement": {},
        "ForceUpdate": 0,
        "Runtime": "container",
    },
    "Mode": {"Replicated": {"Replicas": 3}},
    "UpdateConfig": {
        "Parallelism": 1,
        "FailureAction": "pause",
        "Monitor": 5000000000,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    },
    "RollbackConfig": {
        "Parallelism": 1,
        "FailureAction": "pause",
        "Monitor": 5000000000,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    },
    "EndpointSpec": {
        "Mode": "vip",
        "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}],
    },
}


def test_the_cli_create_body() -> None:
    spec = service_spec(CLI_CREATE)
    assert spec.annotations.name == "web"
    assert spec.task.container.image == "nginx:latest"
    assert spec.replicated.replicas == 3
    assert spec.task.restart.condition == t.RestartPolicy.RESTART_ON_ANY
    assert spec.task.restart.delay.ToNanoseconds() == 5_000_000_000
    assert spec.update.monitor.ToNanoseconds() == 5_000_000_000
    assert spec.update.order == t.UpdateConfig.STOP_FIRST
    (p,) = spec.endpoint.ports
    assert (p.protocol, p.target_port, p.published_port, p.publish_mode) == (
        t.PortConfig.TCP,
        80,
        8080,
        t.PortConfig.INGRESS,
    )


def _rich_spec() -> s.ServiceSpec:
    spec = s.ServiceSpec()
    spec.annotations.name = "web"
    spec.annotations.labels["tier"] = "front"
    c = spec.task.container
    c.image = "img:1"
    c.command.extend(["/bin/sh", "-c"])
    c.args.append("httpd -f")
    c.env.append("A=1")
    c.labels["l"] = "v"
    c.tty = True
    c.stop_grace_period.FromSeconds(3)
    c.stop_signal = "SIGINT"
    c.init = True
    c.sysctls["net.core.somaxconn"] = "1024"
    c.capability_add.append("CAP_NET_ADMIN")
    c.hosts.append("10.0.0.1 db")
    c.dns_config.nameservers.append("1.1.1.1")
    c.ulimits.add(name="nofile", soft=1024, hard=2048)
    c.oom_score_adj = 100
    c.healthcheck.test.extend(["CMD", "true"])
    c.healthcheck.interval.FromSeconds(2)
    c.healthcheck.retries = 4
    m = c.mounts.add(type=t.Mount.VOLUME, source="data", target="/data", readonly=True)
    m.volume_options.nocopy = True
    m.volume_options.labels["k"] = "v"
    c.mounts.add(type=t.Mount.TMPFS, target="/tmp").tmpfs_options.size_bytes = 1 << 20
    c.secrets.add(secret_id="sid", secret_name="sname").file.CopyFrom(
        t.FileTarget(name="sname", uid="0", gid="0", mode=0o400)
    )
    c.configs.add(config_id="cid", config_name="cname").file.name = "/cfg"
    spec.task.resources.limits.nano_cpus = 500_000_000
    spec.task.resources.reservations.memory_bytes = 64 << 20
    spec.task.restart.condition = t.RestartPolicy.RESTART_ON_FAILURE
    spec.task.restart.max_attempts = 3
    spec.task.restart.window.FromSeconds(60)
    spec.task.placement.constraints.append("node.role==worker")
    spec.task.placement.preferences.add(spread_descriptor="node.labels.zone")
    spec.task.placement.max_replicas = 2
    spec.task.networks.add(target="backend", aliases=["api"])
    spec.task.log_driver.name = "json-file"
    spec.task.log_driver.options["max-size"] = "1m"
    spec.task.force_update = 2
    spec.replicated.replicas = 4
    spec.update.parallelism = 2
    spec.update.delay.FromSeconds(1)
    spec.update.failure_action = t.UpdateConfig.ROLLBACK
    spec.update.max_failure_ratio = 0.25
    spec.update.order = t.UpdateConfig.START_FIRST
    spec.rollback.parallelism = 1
    spec.endpoint.mode = s.EndpointSpec.DNSRR
    spec.endpoint.ports.add(
        target_port=53, published_port=5353, protocol=t.PortConfig.UDP, publish_mode=t.PortConfig.HOST
    )
    return spec


def test_what_inspect_prints_reads_back_as_the_same_spec() -> None:
    """`docker service update` GETs the service and POSTs its Spec back edited: the inspect shape
    must read back into the very spec it was made from."""
    spec = _rich_spec()
    doc = json.loads(json.dumps(service_spec_doc(spec)))
    assert service_spec(doc) == spec


def test_every_mode_and_the_default_ones() -> None:
    assert service_spec({"Name": "g", "Mode": {"Global": {}}}).WhichOneof("mode") == "global"
    assert service_spec({"Name": "g", "Mode": {"GlobalJob": {}}}).WhichOneof("mode") == "global_job"
    job = service_spec({"Name": "j", "Mode": {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 6}}})
    assert (job.replicated_job.max_concurrent, job.replicated_job.total_completions) == (2, 6)
    for body in ({"Name": "r"}, {"Name": "r", "Mode": {}}, {"Name": "r", "Mode": {"Replicated": {}}}):
        spec = service_spec(body)
        assert spec.WhichOneof("mode") == "replicated" and spec.replicated.replicas == 1
    assert service_spec({"Mode": {"Replicated": {"Replicas": 0}}}).replicated.replicas == 0


def test_keys_match_case_insensitively_as_go_does() -> None:
    spec = service_spec({"name": "x", "taskTemplate": {"containerSpec": {"image": "i", "Tty": True}}})
    assert spec.annotations.name == "x" and spec.task.container.image == "i" and spec.task.container.tty


def test_unsupported_keys_pass_when_zero_deep_down() -> None:
    """`docker stack deploy` sends Privileges with every member null or false."""
    body = {
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "i",
                "Privileges": {"CredentialSpec": None, "SELinuxContext": None, "NoNewPrivileges": False},
                "Isolation": "",
            }
        }
    }
    assert service_spec(body).task.container.image == "i"


def test_unknown_keys_are_ignored_and_null_is_absent() -> None:
    spec = service_spec({"Name": "x", "SomethingNew": {"a": 1}, "TaskTemplate": {"ContainerSpec": None}})
    assert spec.annotations.name == "x" and not spec.task.HasField("container")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"Mode": {"Replicated": {"Replicas": 1}, "Global": {}}},
            "only one of Replicated, Global, ReplicatedJob, GlobalJob may be set",
        ),
        (
            {"Mode": {"Replicated": {"Replicas": -1}}},
            "ServiceSpec.Mode.Replicated.Replicas: must not be negative",
        ),
        (
            {"TaskTemplate": {"ContainerSpec": {"Image": 5}}},
            "invalid ServiceSpec.TaskTemplate.ContainerSpec.Image: expected a string, got a number",
        ),
        (
            {"TaskTemplate": {"RestartPolicy": {"Condition": "always"}}},
            "invalid ServiceSpec.TaskTemplate.RestartPolicy.Condition 'always': must be one of 'any', "
            "'none', 'on-failure'",
        ),
        (
            {"TaskTemplate": {"ContainerSpec": {"Privileges": {"CredentialSpec": {"File": "x.json"}}}}},
            "ServiceSpec.TaskTemplate.ContainerSpec.Privileges.CredentialSpec is not supported by pyswarm",
        ),
        ({"TaskTemplate": {"ContainerSpec": {"Isolation": "hyperv"}}}, "Isolation is not supported"),
        (
            {"TaskTemplate": {"PluginSpec": {"Name": "p"}}},
            "ServiceSpec.TaskTemplate.PluginSpec is not supported",
        ),
        (
            {"TaskTemplate": {"Runtime": "plugin"}},
            "ServiceSpec.TaskTemplate.Runtime 'plugin' is not supported",
        ),
        (
            {"TaskTemplate": {"ContainerSpec": {"StopGracePeriod": "10s"}}},
            "invalid ServiceSpec.TaskTemplate.ContainerSpec.StopGracePeriod: expected an integer",
        ),
        (
            {"TaskTemplate": {"ContainerSpec": {"Mounts": [{"Type": "npipe"}]}}},
            "invalid ServiceSpec.TaskTemplate.ContainerSpec.Mounts[0].Type 'npipe'",
        ),
        (
            {"TaskTemplate": {"Placement": {"Preferences": [{"Pack": {}}]}}},
            "invalid ServiceSpec.TaskTemplate.Placement.Preferences[0]",
        ),
        (
            {"EndpointSpec": {"Ports": {"TargetPort": 80}}},
            "invalid ServiceSpec.EndpointSpec.Ports: expected an array",
        ),
        ([], "invalid ServiceSpec: expected a JSON object, got an array"),
    ],
)
def test_bad_service_bodies_name_the_field(body: Any, message: str) -> None:
    with pytest.raises(BadRequest) as e:
        service_spec(body)
    assert message in e.value.message
    assert e.value.status == 400


def test_the_deprecated_top_level_networks_are_the_task_networks() -> None:
    spec = service_spec({"Name": "x", "Networks": [{"Target": "n1"}]})
    assert [n.target for n in spec.task.networks] == ["n1"]
    spec = service_spec(
        {"Name": "x", "Networks": [{"Target": "old"}], "TaskTemplate": {"Networks": [{"Target": "new"}]}}
    )
    assert [n.target for n in spec.task.networks] == ["new"]


def test_node_spec_keeps_the_membership() -> None:
    cur = s.NodeSpec(membership=s.NodeSpec.ACCEPTED)
    spec = node_spec({"Labels": {"zone": "a"}, "Role": "manager", "Availability": "drain"}, cur)
    assert dict(spec.annotations.labels) == {"zone": "a"}
    assert (spec.desired_role, spec.availability, spec.membership) == (
        t.MANAGER,
        s.NodeSpec.DRAIN,
        s.NodeSpec.ACCEPTED,
    )
    with pytest.raises(BadRequest, match=r"invalid NodeSpec\.Availability 'off'"):
        node_spec({"Availability": "off"}, cur)


def test_network_create_body() -> None:
    spec = network_spec(
        {
            "Name": "backend",
            "CheckDuplicate": True,
            "Driver": "overlay",
            "Attachable": True,
            "Options": {"o": "1"},
            "Labels": {"l": "v"},
            "Scope": "swarm",
            "EnableIPv4": True,
            "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]},
        }
    )
    assert spec.annotations.name == "backend" and spec.attachable
    assert spec.driver_config.name == "overlay" and dict(spec.driver_config.options) == {"o": "1"}
    assert [(c.subnet, c.gateway) for c in spec.ipam.configs] == [("10.9.0.0/24", "10.9.0.1")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Name": "n", "Driver": "bridge"}, "network driver 'bridge' is not supported by pyswarm"),
        ({"Name": "n", "Scope": "local"}, "network scope 'local' is not supported"),
        ({"Name": "n", "EnableIPv6": True}, "EnableIPv6 is not supported"),
        ({"Name": "n", "IPAM": {"Driver": "dhcp"}}, "IPAM.Driver 'dhcp' is not supported"),
        ({"Driver": "overlay"}, "network name must not be empty"),
    ],
)
def test_bad_network_bodies(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as e:
        network_spec(body)
    assert message in e.value.message


def test_secret_and_config_bodies_carry_base64_data() -> None:
    data = base64.b64encode(b"s3cr3t\n").decode()
    sec = secret_spec({"Name": "pw", "Labels": {"a": "b"}, "Data": data})
    assert (sec.annotations.name, sec.data, dict(sec.annotations.labels)) == ("pw", b"s3cr3t\n", {"a": "b"})
    assert config_spec({"Name": "c", "Data": data}).data == b"s3cr3t\n"
    with pytest.raises(BadRequest, match=r"invalid SecretSpec\.Data: expected base64-encoded data"):
        secret_spec({"Name": "pw", "Data": "not base64!"})


def test_swarm_init_join_and_spec_bodies() -> None:
    from swarm.engineapi.swarmspecs import init_request, join_request, swarm_spec

    # what `docker swarm init --advertise-addr 10.0.0.1` sends (the CLI's flag defaults included)
    req = init_request(
        {
            "ListenAddr": "0.0.0.0:2377",
            "AdvertiseAddr": "10.0.0.1",
            "DataPathAddr": "",
            "DataPathPort": 0,
            "DefaultAddrPool": None,
            "ForceNewCluster": False,
            "SubnetSize": 0,
            "Availability": "",
            "AutoLockManagers": False,
            "Spec": {
                "Orchestration": {"TaskHistoryRetentionLimit": 5},
                "Raft": {"SnapshotInterval": 10000, "ElectionTick": 10, "HeartbeatTick": 1},
                "Dispatcher": {"HeartbeatPeriod": 5_000_000_000},
                "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000},
                "TaskDefaults": {},
                "EncryptionConfig": {"AutoLockManagers": False},
            },
        }
    )
    assert (req.listen_addr, req.advertise_addr) == ("", "10.0.0.1")  # the CLI's default listen: not given
    assert req.spec.orchestration.task_history_retention_limit == 5
    assert req.spec.dispatcher.heartbeat_period.seconds == 5 and req.spec.raft.election_tick == 10
    assert init_request({"ListenAddr": "10.0.0.1:4000"}).listen_addr == "10.0.0.1:4000"
    assert not req.spec.encryption_config.auto_lock_managers
    # `docker swarm init --autolock` sends it both at the top and in the spec; either turns it on
    assert init_request({"AutoLockManagers": True}).spec.encryption_config.auto_lock_managers
    assert init_request({"Spec": {"EncryptionConfig": {"AutoLockManagers": True}}}).spec \
        .encryption_config.auto_lock_managers
    assert swarm_spec({"EncryptionConfig": {"AutoLockManagers": True}}).encryption_config.auto_lock_managers
    with pytest.raises(BadRequest, match="AutoLockManagers"):
        swarm_spec({"EncryptionConfig": {"AutoLockManagers": "yes"}})
    with pytest.raises(BadRequest, match="ExternalCAs is not supported"):
        swarm_spec({"CAConfig": {"ExternalCAs": [{"URL": "https://ca"}]}})
    # docker-py's init with ca_force_rotate: stored as given, and shown back by inspect
    forced = swarm_spec(
        {"CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000, "ForceRotate": 6_000_000_000_000}})
    assert forced.ca_config.force_rotate == 6_000_000_000_000
    from swarm.api.objects_pb2 import Cluster
    from swarm.shapes.engine import swarm_doc

    assert swarm_doc(Cluster(spec=forced))["Spec"]["CAConfig"] == {
        "NodeCertExpiry": 7_776_000_000_000_000, "ForceRotate": 6_000_000_000_000}
    assert "ForceRotate" not in swarm_doc(Cluster())["Spec"]["CAConfig"]     # omitempty, as Go's
    j = join_request(
        {
            "ListenAddr": "0.0.0.0:2377",
            "RemoteAddrs": ["10.0.0.1:2377"],
            "JoinToken": "SWMTKN-1-x",
            "Availability": "drain",
        }
    )
    assert (list(j.remote_addrs), j.join_token, j.availability) == (
        ["10.0.0.1:2377"],
        "SWMTKN-1-x",
        s.NodeSpec.DRAIN,
    )
    with pytest.raises(BadRequest, match="JoinToken must not be empty"):
        join_request({"RemoteAddrs": ["10.0.0.1:2377"]})


def _fill(msg: Any, depth: int = 0) -> None:
    """Every field of ``msg`` set to something not its default (one branch per oneof)."""
    from google.protobuf.descriptor import FieldDescriptor as FD

    oneofs: set[str] = set()
    for fd in msg.DESCRIPTOR.fields:
        if fd.full_name in NOT_SHOWN:
            continue
        if fd.containing_oneof is not None:
            if fd.containing_oneof.name in oneofs:
                continue
            oneofs.add(fd.containing_oneof.name)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            getattr(msg, fd.name)["k"] = "v"
            continue
        if fd.message_type is not None:
            sub = getattr(msg, fd.name).add() if fd.is_repeated else getattr(msg, fd.name)
            if fd.message_type.full_name == "google.protobuf.Duration":
                sub.FromSeconds(2)
            elif depth < 6:
                _fill(sub, depth + 1)
            sub.SetInParent()
            continue
        v: Any = {FD.TYPE_STRING: "x", FD.TYPE_BOOL: True, FD.TYPE_FLOAT: 0.5}.get(fd.type, 1)
        if fd.type == FD.TYPE_ENUM:
            v = fd.enum_type.values[-1].number
        if fd.is_repeated:
            getattr(msg, fd.name).append(v)
        else:
            setattr(msg, fd.name, v)


# fields the Engine API's shapes never show (credentials: sealed by the control API)
NOT_SHOWN = {"swarm.api.ContainerSpec.pull_options",
             # a custom seccomp profile is refused (test_privileges_...)
             "swarm.api.Privileges.SeccompOpts.mode", "swarm.api.Privileges.SeccompOpts.profile"}


def test_every_service_spec_field_survives_inspect_and_update() -> None:
    """A guard for new proto fields: `docker service update` POSTs back what inspect printed, so a
    field the shape prints but no table reads (or the reverse) would be lost or refused there."""
    spec = s.ServiceSpec()
    _fill(spec)
    assert service_spec(json.loads(json.dumps(service_spec_doc(spec)))) == spec


def test_generic_resources_in_both_forms() -> None:
    res = service_spec(
        {
            "TaskTemplate": {
                "Resources": {
                    "Reservations": {
                        "GenericResources": [
                            {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 2}},
                            {"NamedResourceSpec": {"Kind": "dev", "Value": "d0"}},
                        ]
                    }
                }
            }
        }
    ).task.resources.reservations
    assert [(g.discrete.kind, g.discrete.value) for g in res.generic if g.HasField("discrete")] == [
        ("gpu", 2)
    ]
    assert [(g.named.kind, g.named.value) for g in res.generic if g.HasField("named")] == [("dev", "d0")]
    with pytest.raises(BadRequest, match="expected one of NamedResourceSpec or DiscreteResourceSpec"):
        service_spec({"TaskTemplate": {"Resources": {"Limits": {"GenericResources": [{"Other": {}}]}}}})


def test_privileges_are_kept_as_docker_shows_them_and_custom_seccomp_is_refused() -> None:
    """docker-py's test_create_service_with_privileges: SELinuxContext (no SELinux here: kept, as
    dockerd keeps it on a host without it), seccomp default/unconfined, AppArmor, NoNewPrivileges."""
    priv = {"SELinuxContext": {"Disable": True, "User": "u", "Role": "r", "Type": "t", "Level": "l"},
            "Seccomp": {"Mode": "unconfined"}, "AppArmor": {"Mode": "disabled"}, "NoNewPrivileges": True}
    spec = service_spec({"Name": "p", "TaskTemplate": {"ContainerSpec": {"Image": "i", "Privileges": priv}}})
    p = spec.task.container.privileges
    assert p.selinux_context.disable and p.seccomp.mode == s.Privileges.SeccompOpts.UNCONFINED
    assert p.apparmor.mode == s.Privileges.AppArmorOpts.DISABLED and p.no_new_privileges
    assert service_spec_doc(spec)["TaskTemplate"]["ContainerSpec"]["Privileges"] == priv
    for bad, msg in (({"Seccomp": {"Mode": "custom"}}, "must be one of 'default', 'unconfined'"),
                     ({"Seccomp": {"Profile": "{}"}}, "Seccomp.Profile is not supported"),
                     ({"AppArmor": {"Mode": "strict"}}, "must be one of 'default', 'disabled'")):
        with pytest.raises(BadRequest, match=msg):
            service_spec({"TaskTemplate": {"ContainerSpec": {"Privileges": bad}}})
