"""The checker and the schedule on made-up histories (no testbed): what must fail does."""

from __future__ import annotations

from typing import Any

from tests.chaos.checker import check
from tests.chaos.history import History
from tests.chaos.nemesis import KINDS, schedule


def op(h: History, kind: str, key: str, status: str, answer: str = "", host: str = "mgr1",
       **args: Any) -> None:
    o = h.begin(0, host, kind, key, **args)
    h.finish(o, status, answer)


def svc(name: str, replicas: int = 1, version: int = 0, sid: str | None = None) -> dict[str, Any]:
    return {"ID": sid or name, "Version": {"Index": 1},
            "Spec": {"Name": name, "Mode": {"Replicated": {"Replicas": replicas}},
                     "Labels": {"chaos.v": str(version)}}}


def view(*services: dict[str, Any], networks: tuple[str, ...] = (),
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"services": list(services),
            "networks": [{"Name": n, "Id": n} for n in ["ingress", "chaos-net", *networks]],
            "nodes": [{"Description": {"Hostname": "mgr1"},
                       "Spec": {"Availability": "active", "Labels": labels or {}}}],
            "tasks": []}


def whats(h: History, views: dict[str, Any]) -> list[str]:
    return [v["what"] for v in check(h, views).violations]


def test_acknowledged_create_must_be_on_every_manager():
    h = History(1)
    op(h, "service.create", "c0s1", "ok", replicas=2)
    assert whats(h, {"mgr1": view(svc("c0s1", 2)), "mgr2": view(svc("c0s1", 2))}) == []
    got = check(h, {"mgr1": view(svc("c0s1", 2)), "mgr2": view()})
    v = got.violations[0]
    assert v["what"] == "service state not allowed by the history"
    assert v["host"] == "mgr2" and v["op"]["kind"] == "service.create" and v["op"]["key"] == "c0s1"
    assert got.stats["lost"] >= 1


def test_unknown_outcomes_allow_both():
    h = History(1)
    op(h, "service.create", "c0s1", "unknown", replicas=1)
    assert whats(h, {"mgr1": view()}) == []
    assert whats(h, {"mgr1": view(svc("c0s1"))}) == []


def test_update_must_be_latest_or_superseded():
    h = History(1)
    op(h, "service.create", "c0s1", "ok", replicas=1)
    op(h, "service.update", "c0s1", "ok", version=3)
    op(h, "service.scale", "c0s1", "unknown", replicas=2)
    assert whats(h, {"m": view(svc("c0s1", 1, 3))}) == []
    assert whats(h, {"m": view(svc("c0s1", 2, 3))}) == []
    assert whats(h, {"m": view(svc("c0s1", 1, 0))}) == ["service state not allowed by the history"]


def test_acknowledged_rm_must_stay_removed():
    h = History(1)
    op(h, "service.create", "c0s1", "ok", replicas=1)
    op(h, "service.rm", "c0s1", "ok")
    assert whats(h, {"m": view(svc("c0s1"))}) == ["service state not allowed by the history"]


def test_not_found_after_an_acknowledged_create_is_a_lost_write():
    h = History(1)
    op(h, "service.create", "c0s1", "ok", replicas=1)
    op(h, "service.scale", "c0s1", "refused", "no such service: c0s1", replicas=2)
    lost = "refused with an answer that contradicts acknowledged writes (lost write?)"
    assert lost in whats(h, {"m": view()})


def test_objects_no_client_made():
    h = History(1)
    assert whats(h, {"m": view(svc("intruder"))}) == ["a service exists that no client made"]
    assert whats(h, {"m": view(networks=("c9n9",))}) == ["a network exists that no client made"]


def test_networks_and_node_labels():
    h = History(1)
    op(h, "network.create", "c0n1", "ok")
    op(h, "node.label", "mgr1:chaos.c0", "ok", value="4")
    assert whats(h, {"m": view(networks=("c0n1",), labels={"chaos.c0": "4"})}) == []
    assert sorted(whats(h, {"m": view(labels={"chaos.c0": "3"})})) == [
        "network state not allowed by the history", "node field not allowed by the history"]


def test_allocations_given_twice():
    h = History(1)
    v = view()
    v["networks"] = [{"Name": "ingress", "Id": "a", "IPAM": {"Config": [{"Subnet": "10.0.0.0/24"}]},
                      "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4096"}},
                     {"Name": "chaos-net", "Id": "b", "IPAM": {"Config": [{"Subnet": "10.0.0.0/25"}]},
                      "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4096"}}]
    v["tasks"] = [{"ID": t, "Status": {"State": "running"},
                   "NetworksAttachments": [{"Addresses": ["10.0.1.5/24"]}]} for t in ("t1", "t2")]
    assert sorted(whats(h, {"m": v})) == ["a VNI allocated twice", "a subnet allocated twice",
                                          "an address allocated twice"]


def test_managers_must_agree():
    h = History(1)
    op(h, "service.create", "c0s1", "unknown", replicas=1)
    assert whats(h, {"a": view(svc("c0s1")), "b": view()}) == ["managers disagree after the settle period"]


def test_schedule_is_fixed_by_the_seed():
    assert schedule(7, 50) == schedule(7, 50)
    assert schedule(7, 50) != schedule(8, 50)
    short = schedule(3, 10)
    assert len({p.kind for p in short}) == 10                 # a short run: ten different kinds
    full = [p.kind for p in schedule(3, 50)]
    assert set(full) == set(KINDS)                              # a long one: every kind
    assert all(2.0 <= p.hold <= 8.0 for p in schedule(3, 50))


def read(h: History, names: list[str], host: str) -> None:
    o = h.begin(0, host, "read", "services")
    h.finish(o, "ok", value=names)


def test_reads_must_show_the_clients_own_acknowledged_writes():
    h = History(1)
    op(h, "service.create", "c0s1", "ok", host="mgr2", replicas=1)
    read(h, ["c0s1"], "mgr2")
    read(h, [], "mgr3")                     # another manager, a moment behind: counted
    got = check(h, {"m": view(svc("c0s1"))})
    assert got.violations == [] and got.stats["stale_reads_other_manager"] == 1
    read(h, [], "mgr2")                     # the manager that acknowledged it: a stale read
    assert whats(h, {"m": view(svc("c0s1"))}) == [
        "stale read: a manager did not show a write it had acknowledged"]
