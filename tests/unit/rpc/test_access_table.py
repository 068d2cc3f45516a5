"""The §6.3 table: complete for every service in swarm.api, and right for each service."""

from __future__ import annotations

from swarm.ca import Role
from swarm.rpc.auth import RPC_ACCESS, SERVICE_RULES, api_services

W, M = Role.WORKER, Role.MANAGER


def test_every_generated_service_has_a_rule() -> None:
    services = api_services()
    assert set(services) == set(SERVICE_RULES), "a service in proto/ has no access rule (or a stale one)"
    for methods in services.values():
        for method in methods:
            assert method in RPC_ACCESS, method


def test_method_names_come_from_descriptors() -> None:
    assert "/swarm.api.Control/ListNodes" in RPC_ACCESS
    assert "/swarm.api.NodeCA/IssueNodeCertificate" in RPC_ACCESS
    assert "/swarm.api.Dispatcher/Session" in RPC_ACCESS
    assert len(RPC_ACCESS) == sum(len(m) for m in api_services().values())


def rules_for(service: str) -> set:
    return {r for name, r in RPC_ACCESS.items() if name.startswith(f"/swarm.api.{service}/")}


def test_join_endpoints_are_open_to_anyone_on_tcp_only() -> None:
    for service in ("CA", "NodeCA"):
        (rule,) = rules_for(service)
        assert rule.anonymous and rule.tcp and not rule.local


def test_dispatcher_and_log_broker_are_for_workers_and_managers() -> None:
    for service in ("Dispatcher", "LogBroker"):
        (rule,) = rules_for(service)
        assert rule.roles == {W, M} and rule.tcp and not rule.local


def test_control_and_logs_are_manager_only_on_tcp_and_served_locally() -> None:
    for service in ("Control", "Logs"):
        (rule,) = rules_for(service)
        assert rule.roles == {M} and rule.manager_only and rule.tcp and rule.local


def test_raft_membership_is_manager_only_and_never_local() -> None:
    (rule,) = rules_for("RaftMembership")
    assert rule.roles == {M} and rule.tcp and not rule.local


def test_daemon_service_is_local_only() -> None:
    (rule,) = rules_for("Daemon")
    assert rule.local and not rule.tcp
