"""`service inspect` / `node inspect` print Docker Engine API shapes, not swarmkit's protobufs."""

from __future__ import annotations

import base64

from swarm.api.objects_pb2 import ManagerStatus
from swarm.api.specs_pb2 import NodeSpec
from swarm.api.types_pb2 import MANAGER, PortConfig, UpdateConfig
from swarm.shapes.docker import node_doc, service_doc
from tests.unit.orchestrator.factories import node, service


def test_service_doc_has_docker_paths() -> None:
    s = service("web", replicas=2, constraints=["node.role==worker"], delay=1.0)
    s.meta.version.index = 12
    s.meta.created_at.FromSeconds(1_700_000_000)
    s.spec.annotations.labels["team"] = "a"
    c = s.spec.task.container
    c.command.append("sh")
    c.args.extend(["-c", "echo hi"])
    c.tty = True
    s.spec.task.resources.limits.memory_bytes = 64 << 20
    s.spec.task.placement.preferences.add(spread_descriptor="node.labels.zone")
    s.spec.task.networks.add(target="appnet", aliases=["api"])
    s.spec.update.parallelism = 2
    s.spec.update.failure_action = UpdateConfig.ROLLBACK
    s.spec.endpoint.ports.add(target_port=80, published_port=8080)
    s.endpoint.virtual_ips.add(network_id="n1", addr="10.0.0.5/24")
    d = service_doc(s)
    assert d["ID"] == "web" and d["Version"] == {"Index": 12} and d["CreatedAt"] == "2023-11-14T22:13:20Z"
    spec = d["Spec"]
    assert spec["Name"] == "web" and spec["Labels"] == {"team": "a"}
    assert spec["Mode"] == {"Replicated": {"Replicas": 2}}
    t = spec["TaskTemplate"]
    assert t["ContainerSpec"] == {"Image": "busybox", "Command": ["sh"], "Args": ["-c", "echo hi"],
                                  "TTY": True}
    assert t["Resources"] == {"Limits": {"MemoryBytes": 64 << 20}}
    assert t["RestartPolicy"] == {"Condition": "any", "Delay": 1_000_000_000}
    assert t["Placement"] == {"Constraints": ["node.role==worker"],
                              "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]}
    assert t["Networks"] == [{"Target": "appnet", "Aliases": ["api"]}]
    assert t["Runtime"] == "container"
    assert spec["UpdateConfig"]["Parallelism"] == 2 and spec["UpdateConfig"]["FailureAction"] == "rollback"
    assert "RollbackConfig" not in spec
    assert spec["EndpointSpec"] == {"Mode": "vip", "Ports": [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]}
    assert d["Endpoint"]["VirtualIPs"] == [{"NetworkID": "n1", "Addr": "10.0.0.5/24"}]
    assert "PreviousSpec" not in d and "UpdateStatus" not in d
    # no swarmkit-only names leak through
    assert "Task" not in spec and "Annotations" not in spec and "Replicated" not in spec


def test_global_service_mode() -> None:
    assert service_doc(service("g", mode_global=True))["Spec"]["Mode"] == {"Global": {}}


def test_node_doc_has_docker_paths() -> None:
    n = node("n1", labels={"zone": "a"}, availability=NodeSpec.DRAIN)
    n.spec.desired_role = MANAGER
    n.status.addr = "10.0.0.11"
    n.description.platform.os, n.description.platform.architecture = "linux", "x86_64"
    n.description.tls_info.trust_root = b"-----BEGIN CERTIFICATE-----\n"
    n.description.tls_info.cert_issuer_subject = b"0\x11"
    n.manager_status.CopyFrom(ManagerStatus(leader=True, reachability=ManagerStatus.REACHABLE,
                                            addr="10.0.0.11:2377", raft_addr="10.0.0.11:2378"))
    d = node_doc(n)
    assert d["Spec"] == {"Labels": {"zone": "a"}, "Role": "manager", "Availability": "drain"}
    assert d["Description"]["Platform"] == {"Architecture": "x86_64", "OS": "linux"}
    assert d["Description"]["TLSInfo"]["TrustRoot"] == "-----BEGIN CERTIFICATE-----\n"
    assert d["Description"]["TLSInfo"]["CertIssuerSubject"] == base64.b64encode(b"0\x11").decode()
    assert d["Status"] == {"State": "ready", "Addr": "10.0.0.11"}
    assert d["ManagerStatus"] == {"Leader": True, "Reachability": "reachable", "Addr": "10.0.0.11:2377"}


def test_port_protocol_names() -> None:
    s = service("u")
    s.spec.endpoint.ports.add(protocol=PortConfig.UDP, target_port=53, publish_mode=PortConfig.HOST)
    assert service_doc(s)["Spec"]["EndpointSpec"]["Ports"] == [
        {"Protocol": "udp", "TargetPort": 53, "PublishMode": "host"}]


def test_float32_fields_read_as_go_writes_them() -> None:
    """MaxFailureRatio is a float32: dockerd answers 0.4, not 0.4000000059604645 (docker-py's
    test_create_service_with_update_config_monitor compares it with what it sent)."""
    from swarm.api.specs_pb2 import ServiceSpec
    from swarm.shapes.docker import float32_shortest, service_spec_doc

    spec = ServiceSpec()
    spec.update.max_failure_ratio = 0.4
    spec.rollback.max_failure_ratio = 0.15
    doc = service_spec_doc(spec)
    assert doc["UpdateConfig"]["MaxFailureRatio"] == 0.4
    assert doc["RollbackConfig"]["MaxFailureRatio"] == 0.15
    assert float32_shortest(0.0) == 0.0 and float32_shortest(1.0) == 1.0
    assert float32_shortest(0.1 + 0.2) == 0.3        # widened from float32
