"""NetSync over a fake NodeNetwork that records its calls; the Worker's network-items hand-over."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from node.agent.worker import Worker
from node.exec.fake import FakeExecutor
from node.network import NetworkConfig, ServiceEntry
from node.network.errors import InvalidNetworkConfigError, NamespaceError, UnknownNetworkError
from node.network.model import Endpoint
from node.network.netsync import NetSync
from node.network.netview import network_config
from swarm.api import dispatcher_pb2 as d
from swarm.api.objects_pb2 import Network, NetworkAttachment, Task
from tests.unit.agent.helpers import Recorder, eventually, make_task, run
from tests.unit.network.test_netview import (
    APP,
    DB,
    DBSVC,
    INGRESS,
    RR,
    WEB,
    backend,
    complete,
    incremental,
    net,
    peer,
    route,
)

ME = "nodeA"


class FakeNodeNetwork:
    """Records every call (name, args); checks the same preconditions as NodeNetwork."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.networks: dict[str, NetworkConfig] = {}
        self.sandboxes: dict[str, list[tuple[str, str]]] = {}
        self.threads: set[str] = set()
        self.fail: dict[str, Exception] = {}       # method name -> raise once
        self.ingress: tuple[str | None, tuple[ServiceEntry, ...]] | None = None

    def _rec(self, *call: Any) -> None:
        self.threads.add(threading.current_thread().name)
        self.calls.append(call)
        err = self.fail.pop(call[0], None)
        if err is not None:
            raise err

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]

    def ensure_network(self, cfg: NetworkConfig) -> None:
        self._rec("ensure_network", cfg.id)
        self.networks[cfg.id] = cfg

    def known_networks(self) -> list[NetworkConfig]:
        return list(self.networks.values())

    def set_peers(self, network_id: str, peers: Sequence[str],
                  remote_endpoints: Sequence[tuple[str, str]]) -> None:
        self._rec("set_peers", network_id, tuple(peers), tuple(remote_endpoints))
        if network_id not in self.networks:
            raise UnknownNetworkError(network_id)

    def set_services(self, network_id: str, services: Sequence[ServiceEntry]) -> None:
        self._rec("set_services", network_id, tuple(services))
        if network_id not in self.networks:
            raise UnknownNetworkError(network_id)

    def set_ingress(self, ingress_ip_cidr: str | None, entries: Sequence[ServiceEntry]) -> None:
        self._rec("set_ingress", ingress_ip_cidr, tuple(entries))
        if not any(c.ingress for c in self.networks.values()):
            raise UnknownNetworkError("no ingress network")
        self.ingress = (ingress_ip_cidr, tuple(entries))

    def remove_network(self, network_id: str) -> None:
        self._rec("remove_network", network_id)
        self.networks.pop(network_id, None)

    def create_sandbox(self, container_id: str, dns: object = None) -> str:
        self._rec("create_sandbox", container_id)
        self.sandboxes.setdefault(container_id, [])
        return f"/run/netns/swc-{container_id}"

    def resolv_conf_path(self, container_id: str) -> Path:
        return Path(f"/state/sandboxes/{container_id}/resolv.conf")

    def attach(self, container_id: str, network_id: str, ip_cidr: str) -> None:
        self._rec("attach", container_id, network_id, ip_cidr)
        if network_id not in self.networks:
            raise UnknownNetworkError(network_id)
        self.sandboxes[container_id].append((network_id, ip_cidr))

    def sandbox_endpoints(self, container_id: str) -> list[Endpoint]:
        self._rec("sandbox_endpoints", container_id)
        return [Endpoint(nid, self.networks[nid].name, ip, "", "", "")
                for nid, ip in self.sandboxes.get(container_id, [])]

    def destroy_sandbox(self, container_id: str) -> None:
        self._rec("destroy_sandbox", container_id)
        self.sandboxes.pop(container_id, None)

    def prune_sandboxes(self, keep: Sequence[str]) -> list[str]:
        self._rec("prune_sandboxes", tuple(keep))
        gone = [c for c in self.sandboxes if c not in keep]
        for c in gone:
            del self.sandboxes[c]
        return gone


def task_on(tid: str, service: str, *nets: tuple[Network, str], aliases: Sequence[str] = ()) -> Task:
    t = Task(id=tid, service_id=service)
    for n, addr in nets:
        t.networks.append(NetworkAttachment(network=n, addresses=[addr], aliases=list(aliases)))
    return t


def everything() -> d.AssignmentsMessage:
    return complete(INGRESS, APP, DB, WEB, DBSVC, RR, peer("nodeA"), peer("nodeB"), peer("nodeC"))


def make(debounce: float = 0.01) -> tuple[NetSync, FakeNodeNetwork]:
    fake = FakeNodeNetwork()
    return NetSync(fake, ME, debounce=debounce), fake


# ---- pushes ----------------------------------------------------------------------------------
def test_complete_ensures_ingress_only_and_sets_up_the_mesh() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(everything())
        await ns.flush()
        assert set(nn.networks) == {"ingressid"}
        assert nn.names() == ["ensure_network", "set_peers", "set_services", "set_ingress"]
        _, nid, peers, eps = nn.of("set_peers")[0]
        assert nid == "ingressid" and peers == ("192.168.0.2", "192.168.0.3")
        assert ("10.0.0.3", "192.168.0.2") in eps and ("10.0.0.11", "192.168.0.2") in eps
        assert nn.ingress is not None and nn.ingress[0] == "10.0.0.2/24"
        assert [e.service_id for e in nn.ingress[1]] == ["svcweb"]
        assert nn.threads == {"netsync_0"}          # one dedicated thread
        await ns.close()
    run(main())


def test_bursts_are_debounced_and_unchanged_state_is_not_pushed() -> None:
    async def main() -> None:
        ns, nn = make(debounce=0.05)
        await ns.update(everything())
        for i in range(5):      # a burst of scale-up increments
            r = d.ServiceRoute()
            r.CopyFrom(WEB)
            r.backends.append(backend(f"x{i}", "nodeC", "ingressid", f"10.0.0.{50 + i}/24"))
            await ns.update(incremental(updates=[r]))
        await ns.flush()
        assert nn.names().count("set_ingress") == 1
        assert len(nn.ingress[1][0].backends) == 3 if nn.ingress else False
        n = len(nn.calls)
        await ns.update(everything())   # a new session's COMPLETE: same state
        await ns.flush()
        ns.view.apply(incremental(updates=[WEB]))
        await ns.apply()
        assert len(nn.calls) > n       # WEB changed back: ingress and ingress services re-pushed
        m = len(nn.calls)
        assert await ns.apply() is True
        assert len(nn.calls) == m      # nothing changed, nothing pushed
        await ns.close()
    run(main())


def test_sandbox_setup_ensures_networks_and_attaches_ingress_first() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(everything())
        await ns.flush()
        nn.calls.clear()
        t = task_on("w1", "svcweb", (APP, "10.0.1.3/24"), (INGRESS, "10.0.0.10/24"), aliases=["www"])
        path, resolv = await ns.setup_sandbox("c1", t) or ("", "")
        assert path == "/run/netns/swc-c1" and resolv == "/state/sandboxes/c1/resolv.conf"
        before = nn.calls[:[c[0] for c in nn.calls].index("create_sandbox")]
        assert [c[:2] for c in before if c[1] == "appid"] == [
            ("ensure_network", "appid"), ("set_peers", "appid"), ("set_services", "appid")]
        assert nn.of("ensure_network") == [("ensure_network", "appid")]      # ingress was up
        assert nn.sandboxes["c1"] == [("ingressid", "10.0.0.10/24"), ("appid", "10.0.1.3/24")]
        assert ns.in_use() == {"ingressid", "appid"}
        await ns.flush()
        web = [s for s in nn.of("set_services")[-1][2] if s.service_id == "svcweb"]
        assert web[0].aliases == ("www",)      # the alias learnt from the task was pushed
        await ns.close()
    run(main())


def test_last_user_gone_removes_the_network_but_never_ingress() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(everything())
        await ns.setup_sandbox("c1", task_on("w1", "svcweb", (APP, "10.0.1.3/24")))
        await ns.setup_sandbox("c2", task_on("d1", "svcdb", (APP, "10.0.1.30/24"), (DB, "10.0.2.30/24")))
        await ns.flush()
        assert set(nn.networks) == {"ingressid", "appid", "dbid"}
        await ns.destroy_sandbox("c2")
        await ns.flush()
        assert set(nn.networks) == {"ingressid", "appid"}
        await ns.destroy_sandbox("c1")
        await ns.flush()
        assert set(nn.networks) == {"ingressid"}
        assert [c[1] for c in nn.of("remove_network")] == ["dbid", "appid"]
        await ns.update(complete(APP))            # even the manager forgetting ingress keeps it
        await ns.flush()
        assert "ingressid" in nn.networks
        await ns.close()
    run(main())


def test_new_ingress_network_replaces_the_old_one() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(everything())
        await ns.flush()
        new_ing = net("ingress2", "ingress", 4200, "10.0.9.0/24", "10.0.9.1", ingress=True)
        me = d.NetworkPeer(node_id=ME, addr="192.168.0.1", ingress_addr="10.0.9.2/24")
        await ns.update(complete(new_ing, me))
        await ns.flush()
        assert set(nn.networks) == {"ingress2"}
        assert nn.ingress == ("10.0.9.2/24", ())
        await ns.close()
    run(main())


def test_network_config_change_recreates_and_repushes() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(everything())
        await ns.setup_sandbox("c1", task_on("w1", "svcweb", (APP, "10.0.1.3/24")))
        await ns.flush()
        nn.calls.clear()
        app2 = net("appid", "app", 5555, "10.0.1.0/24", "10.0.1.1")
        await ns.update(incremental(updates=[app2]))
        await ns.flush()
        assert nn.names() == ["ensure_network", "set_peers", "set_services"]
        assert nn.networks["appid"].vni == 5555
        await ns.close()
    run(main())


def test_own_ingress_ip_removed_tears_ingress_down() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(everything())
        await ns.flush()
        await ns.update(incremental(updates=[peer("nodeA", ingress=False)]))
        await ns.flush()
        assert nn.ingress == (None, ())
        await ns.close()
    run(main())


def test_no_ingress_ip_yet_means_no_set_ingress() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(complete(INGRESS, peer("nodeA", ingress=False)))
        await ns.flush()
        assert "set_ingress" not in nn.names() and "ingressid" in nn.networks
        await ns.close()
    run(main())


def test_failed_push_is_retried() -> None:
    async def main() -> None:
        ns, nn = make()
        nn.fail["set_peers"] = NamespaceError("busy")
        import node.network.netsync as mod
        mod_min = mod.RETRY_MIN
        mod.RETRY_MIN = 0.01
        try:
            await ns.update(everything())
            await eventually(lambda: nn.ingress is not None, timeout=3)
        finally:
            mod.RETRY_MIN = mod_min
        assert nn.names().count("ensure_network") == 2     # state unknown after failure: redone
        await ns.close()
    run(main())


def test_failed_attach_destroys_the_sandbox_and_releases_networks() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(everything())
        nn.fail["attach"] = NamespaceError("no")
        with pytest.raises(NamespaceError):
            await ns.setup_sandbox("c1", task_on("w1", "svcweb", (APP, "10.0.1.3/24")))
        assert "c1" not in nn.sandboxes and ns.in_use() == set()
        await ns.flush()
        assert "appid" not in nn.networks
        await ns.close()
    run(main())


def test_malformed_task_network_is_invalid_config() -> None:
    async def main() -> None:
        ns, nn = make()
        bad = net("badid", "bad", 0, "10.0.5.0/24")
        with pytest.raises(InvalidNetworkConfigError):
            await ns.setup_sandbox("c1", task_on("t", "s", (bad, "10.0.5.3/24")))
        assert nn.calls == [] and ns.in_use() == set()
        await ns.close()
    run(main())


def test_task_network_unknown_to_the_view_uses_the_tasks_copy() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(complete(INGRESS, peer("nodeA")))
        await ns.setup_sandbox("c1", task_on("t", "s", (DB, "10.0.2.3/24")))
        assert nn.networks["dbid"] == network_config(DB)
        await ns.flush()
        assert "dbid" in nn.networks          # still in use: kept although the view lacks it
        await ns.close()
    run(main())


def test_task_without_networks_needs_no_sandbox() -> None:
    async def main() -> None:
        ns, nn = make()
        assert await ns.setup_sandbox("c1", Task(id="t")) is None
        await ns.adopt_sandbox("c1", Task(id="t"))
        assert nn.calls == []
        await ns.close()
    run(main())


def test_nothing_is_pushed_before_the_first_complete_set() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.adopt_sandbox("c0", task_on("w0", "svcweb", (APP, "10.0.1.5/24")))
        await ns.update(incremental(updates=[INGRESS, peer("nodeA")]))
        await ns.setup_sandbox("c1", task_on("w1", "svcweb", (DB, "10.0.2.3/24")))
        await ns.flush()
        assert nn.names() == ["ensure_network", "create_sandbox", "attach"]    # db only, no peers
        assert await ns.apply() is True and len(nn.calls) == 3
        await ns.update(everything())
        await ns.flush()
        assert set(nn.networks) == {"ingressid", "appid", "dbid"}
        assert {c[1] for c in nn.of("set_peers")} == {"ingressid", "appid", "dbid"}
        assert nn.ingress is not None
        await ns.close()
    run(main())


def test_adopt_and_prune_after_restart() -> None:
    async def main() -> None:
        ns, nn = make()
        nn.sandboxes = {"c1": [("appid", "10.0.1.3/24")], "dead": [("appid", "10.0.1.4/24")]}
        await ns.adopt_sandbox("c1", task_on("w1", "svcweb", (APP, "10.0.1.3/24")))
        nn.sandboxes["c2"] = []        # being set up by a restored task, no container yet
        ns._users["c2"] = ("appid",)
        assert await ns.prune_sandboxes(["c1"]) == ["dead"]
        assert set(nn.sandboxes) == {"c1", "c2"}
        del ns._users["c2"]
        await ns.update(everything())
        await ns.flush()
        assert set(nn.networks) == {"ingressid", "appid"}     # re-ensured and re-pushed
        assert "create_sandbox" not in nn.names()
        await ns.destroy_sandbox("c1")
        await ns.flush()
        assert set(nn.networks) == {"ingressid"}
        await ns.close()
    run(main())


def test_routes_change_peers_and_services_of_used_networks() -> None:
    async def main() -> None:
        ns, nn = make()
        await ns.update(everything())
        await ns.setup_sandbox("c1", task_on("d9", "svcdb", (DB, "10.0.2.9/24")))
        await ns.flush()
        nn.calls.clear()
        await ns.update(incremental(removes=[d.ServiceRoute(service_id="svcdb")]))
        await ns.flush()
        assert nn.of("set_peers") == [("set_peers", "dbid", (), ())]
        assert nn.of("set_services") == [("set_services", "dbid", ())]
        svc = route("svcnew", "new", [backend("n1", "nodeB", "dbid", "10.0.2.40/24")],
                    vips=[("dbid", "10.0.2.41/24")])
        nn.calls.clear()
        await ns.update(incremental(updates=[svc]))
        await ns.flush()
        assert nn.of("set_peers") == [("set_peers", "dbid", ("192.168.0.2",),
                                       (("10.0.2.40", "192.168.0.2"),))]
        await ns.close()
    run(main())


# ---- the worker hook -------------------------------------------------------------------------
def test_worker_hands_network_items_before_tasks(tmp_path: Path) -> None:
    async def main() -> None:
        got: list[d.AssignmentsMessage] = []
        x = FakeExecutor()

        async def on_network(msg: d.AssignmentsMessage) -> None:
            if not got:
                assert "t1" not in w.managers   # handed on before the tasks are applied
            got.append(msg)

        w = Worker(tmp_path, x, Recorder(), retry_delay=0.01, on_network=on_network)
        await w.start()
        t1 = make_task("t1")
        msg = complete(INGRESS, WEB, peer("nodeA"), t1)
        msg.results_in = "v1"
        await w.assign(msg)
        assert len(got) == 1 and got[0].type == d.AssignmentsMessage.COMPLETE and got[0].results_in == "v1"
        assert [c.assignment.WhichOneof("item") for c in got[0].changes] == ["network", "route", "peer"]
        await eventually(lambda: "t1" in w.managers)
        await w.assign(incremental(updates=[make_task("t2", slot=2)]))     # tasks only: not handed on
        assert len(got) == 1
        await w.assign(complete(make_task("t2", slot=2)))                   # COMPLETE always is
        assert len(got) == 2 and list(got[1].changes) == []
        await w.assign(incremental(removes=[Network(id="appid")]))
        assert got[2].type == d.AssignmentsMessage.INCREMENTAL
        assert got[2].changes[0].action == d.AssignmentChange.REMOVE
        await w.stop()
    run(main())


def test_worker_survives_a_failing_hook(tmp_path: Path) -> None:
    async def main() -> None:
        async def boom(msg: d.AssignmentsMessage) -> None:
            raise RuntimeError("boom")

        w = Worker(tmp_path, FakeExecutor(), Recorder(), retry_delay=0.01, on_network=boom)
        await w.start()
        await w.assign(complete(INGRESS, make_task("t1")))
        await eventually(lambda: "t1" in w.managers)
        await w.stop()
    run(main())


def test_worker_with_netsync_end_to_end(tmp_path: Path) -> None:
    async def main() -> None:
        ns, nn = make()
        w = Worker(tmp_path, FakeExecutor(), Recorder(), retry_delay=0.01, on_network=ns.update)
        await w.start()
        await w.assign(complete(INGRESS, peer("nodeA"), make_task("t1")))
        await ns.flush()
        assert set(nn.networks) == {"ingressid"} and nn.ingress == ("10.0.0.2/24", ())
        await w.stop()
        await ns.close()
        await asyncio.sleep(0)
    run(main())


def test_networks_a_previous_daemon_left_go_at_the_first_complete_set_unless_in_use() -> None:
    """A container removed while the daemon was down leaves its network in NodeNetwork's state
    (re-adopted at start); the first COMPLETE set removes it (the chaos campaign found one
    left behind), while a network an adopted container still uses is kept and not re-created."""
    async def main() -> None:
        fake = FakeNodeNetwork()
        fake.networks = {"appid": network_config(APP), "dbid": network_config(DB)}
        fake.sandboxes = {"c1": [("appid", "10.0.1.3/24")]}
        ns = NetSync(fake, ME, debounce=0.01)
        await ns.adopt_sandbox("c1", task_on("w1", "svcweb", (APP, "10.0.1.3/24")))
        await ns.flush()
        assert set(fake.networks) == {"appid", "dbid"}     # nothing removed before COMPLETE
        await ns.update(everything())
        await ns.flush()
        assert set(fake.networks) == {"ingressid", "appid"}
        assert ("remove_network", "dbid") in fake.calls
        assert ("ensure_network", "appid") not in fake.calls   # adopted as it is
        assert {c[1] for c in fake.of("set_peers")} >= {"appid"}
        await ns.close()
    run(main())


def test_sandbox_endpoints_are_the_node_networks_in_attach_order() -> None:
    async def main() -> None:
        ns, _ = make()
        await ns.update(everything())
        t = task_on("w1", "svcweb", (APP, "10.0.1.3/24"), (INGRESS, "10.0.0.10/24"))
        await ns.setup_sandbox("c1", t)
        eps = await ns.sandbox_endpoints("c1")
        assert [(e.network_name, e.ip_cidr) for e in eps] == [("ingress", "10.0.0.10/24"),
                                                               ("app", "10.0.1.3/24")]
        assert await ns.sandbox_endpoints("nope") == []
        await ns.close()
    run(main())
