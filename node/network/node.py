"""NodeNetwork: the node's data path behind one synchronous, thread-safe API.

One instance per daemon; it treats the network namespace it was constructed in as "the
host" (the node namespace in the testbed). Every public method takes one lock, is
idempotent, and blocks (netlink, nft, mounts) - call it from a worker thread.

Threads: one ``NsThread`` for the node namespace, one per overlay network namespace, one
for the ingress sandbox (each with its own netlink socket), one DNS server thread, and
short-lived setns threads for container sandboxes. Nothing forks.

Restart: the constructor reads ``state_dir/network.json``, re-adopts every namespace named
with our stem that the file knows (sandboxes get their DNS sockets back; kernel links, FDB
and nft tables stay as they were) and deletes every stem-named netns, host link or node nft
table it does not know. The VXLAN gate keeps the peers the kernel's vxlan0 FDBs still hold
until then. The daemon then replays ensure_network/set_peers/set_services/
set_ingress from the manager's view, and calls ``prune_sandboxes`` with its live containers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyroute2 import IPRoute

from node.network import egress, gates, ingress, netns, nft, overlay
from node.network import model as m
from node.network import state as st
from node.network.adopt import adopt
from node.network.conntrack import flush_udp_to, removed_backends
from node.network.dns import build_records, host_nameservers, sandbox_resolv_conf
from node.network.errors import InvalidNetworkConfigError, NetworkError, UnknownNetworkError
from node.network.model import (
    DnsOptions,
    NetworkConfig,
    PortMap,
    ServiceEntry,
    parse_ip,
    parse_ip_cidr,
    parse_subnet,
)
from node.network.resolver import DnsServer

log = logging.getLogger(__name__)
INGRESS_SBOX_ID = "ingress-sbox"
VIP_APPLY_PARALLEL = 4


class NodeNetwork:
    """See the package docstring for the API contract."""

    def __init__(self, state_dir: Path, data_path_addr: str, vxlan_port: int = 4789,
                 name_prefix: str = "", resolv_conf: Path = Path("/etc/resolv.conf"),
                 dns_port: int = 53, egress_subnet: str | None = None) -> None:
        self.prefix = name_prefix
        self.stem = m.stem(name_prefix)
        self.data_path_addr = str(parse_ip(data_path_addr))
        self.vxlan_port = vxlan_port
        self.state_dir = Path(state_dir)
        self._state_file = self.state_dir / "network.json"
        self._lock = threading.RLock()
        self._host_if = m.host_link_name(name_prefix, "igh")
        self._vip_table = m.nft_table_name(name_prefix, "vip")
        self._ingress_table = m.nft_table_name(name_prefix, "ingress")
        self._notrack_table = m.nft_table_name(name_prefix, "vxlan")
        self._vxgate_table = gates.vxlan_table(name_prefix)
        self._raftgate_table = gates.raft_table(name_prefix)
        self._peers: dict[str, frozenset[str]] = {}   # network id -> peer data-path addresses
        self._vxgate_applied: frozenset[str] | None = None
        self._host = netns.NsThread(f"{self.stem}-host", None)
        self._nets: dict[str, netns.NsThread] = {}
        self._sbox: netns.NsThread | None = None
        self._records: dict[str, dict[str, tuple[str, ...]]] = {}
        self._applied: dict[str, str] = {}  # container id -> VIP ruleset last applied
        host_resolv = resolv_conf.read_text() if resolv_conf.exists() else ""
        self._host_resolv = host_resolv
        self._dns = DnsServer(self._lookup, host_nameservers(host_resolv), port=dns_port)
        self._s = self._load()
        self._egress = (egress.Egress(self._host, self.stem, egress_subnet, self._s.egress_ips,
                                      self._s.host_ports) if egress_subnet else None)
        adopt(self)
        self._adopt_vxlan_gate()

    # -- networks ----------------------------------------------------------------------------

    def ensure_network(self, cfg: NetworkConfig) -> None:
        with self._lock:
            old = self._s.networks.get(cfg.id)
            if old is not None and old != cfg:
                log.info("network %s: config changed, recreating", cfg.id)
                self.remove_network(cfg.id)
            name = m.network_ns_name(self.prefix, cfg.id)
            path = netns.create_netns(name)
            t = self._nets.get(cfg.id) or netns.NsThread(name, path)
            self._nets[cfg.id] = t
            overlay.ensure_vxlan(self._host, t, path, cfg, self.data_path_addr, self.vxlan_port)
            t.call(lambda ipr: overlay.setup_bridge(ipr, cfg))
            if not self._s.networks:  # first overlay: VXLAN packets skip conntrack (nft.py)
                overlay.set_notrack(self._host, self._notrack_table, self.data_path_addr, self.vxlan_port)
            self._s.networks[cfg.id] = cfg
            self._peers.setdefault(cfg.id, frozenset())
            self._apply_vxlan_gate()
            self._save()
            log.info("network %s (%s) VNI %d %s ready in netns %s", cfg.id, cfg.name, cfg.vni,
                     cfg.subnet, name)

    def known_networks(self) -> list[NetworkConfig]:
        """The networks this node has set up (after a restart: the ones it re-adopted)."""
        with self._lock:
            return list(self._s.networks.values())

    def set_peers(self, network_id: str, peers: Sequence[str],
                  remote_endpoints: Sequence[tuple[str, str]]) -> None:
        for p in peers:
            parse_ip(p)
        ps = [p for p in peers if p != self.data_path_addr]
        eps = [(ip, node) for ip, node in remote_endpoints if node != self.data_path_addr]
        with self._lock:
            t = self._net_thread(network_id)
            # the gate first: a new peer is accepted before we send to it; one atomic set replace
            old = self._peers.get(network_id, frozenset())
            self._peers[network_id] = frozenset(ps) | {node for _, node in eps}
            try:
                self._apply_vxlan_gate()
            except BaseException:
                self._peers[network_id] = old
                raise
            t.call(lambda ipr: overlay.program_peers(ipr, ps, eps))
            log.debug("network %s: %d peers, %d remote endpoints", network_id, len(ps), len(eps))

    def remove_network(self, network_id: str) -> None:
        with self._lock:
            cfg = self._s.networks.get(network_id)
            for sb in list(self._s.sandboxes.values()):
                if any(a.network_id == network_id for a in sb.attachments):
                    self._detach(sb, network_id)
            if cfg is not None and cfg.ingress and self._s.ingress_ip is not None:
                self._teardown_ingress()
            self._s.services.pop(network_id, None)
            self._records.pop(network_id, None)
            t = self._nets.pop(network_id, None)
            if t is not None:
                t.call(lambda ipr: overlay.delete_link(ipr, overlay.VXLAN))
                t.close()
            netns.delete_netns(m.network_ns_name(self.prefix, network_id))
            self._s.networks.pop(network_id, None)
            self._peers.pop(network_id, None)
            self._apply_vxlan_gate()
            self._save()
            log.info("network %s removed", network_id)

    # -- sandboxes ---------------------------------------------------------------------------

    def create_sandbox(self, container_id: str, dns: DnsOptions | None = None) -> str:
        """The container's network namespace, served by the embedded DNS (asking ``dns``'s
        nameservers, else the host's, for other names), with its resolv.conf written."""
        dns = dns or DnsOptions()
        with self._lock:
            sb = self._s.sandboxes.get(container_id)
            if sb is not None and netns.netns_exists(sb.ns_name):
                return sb.path
            name = m.sandbox_ns_name(self.prefix, container_id)
            path = netns.create_netns(name)
            try:
                netns.run_in_ns(path, lambda ipr: ipr.link("set", index=ipr.link_lookup(ifname="lo")[0],
                                                            state="up"))
                self._dns.add_sandbox(container_id, path, list(dns.nameservers))
                if self._egress is not None:
                    self._egress.add(container_id, path)
            except BaseException:
                self._dns.remove_sandbox(container_id)
                eg = self._egress
                if eg is not None:
                    self._undo(f"egress of {container_id}", lambda: eg.remove(container_id))
                netns.delete_netns(name)
                raise
            self._s.sandboxes[container_id] = st.Sandbox(container_id, name, path,
                                                         dns_servers=list(dns.nameservers))
            rc = self.resolv_conf_path(container_id)
            rc.parent.mkdir(parents=True, exist_ok=True)
            rc.write_text(sandbox_resolv_conf(self._host_resolv, dns.search, dns.options))
            self._save()
            log.info("sandbox for container %s: %s", container_id, path)
            return path

    def resolv_conf_path(self, container_id: str) -> Path:
        """resolv.conf for the runtime to bind-mount at /etc/resolv.conf (nameserver 127.0.0.11)."""
        return self.state_dir / "sandboxes" / m.short_hash(container_id, 16) / "resolv.conf"

    def attach(self, container_id: str, network_id: str, ip_cidr: str) -> None:
        with self._lock:
            sb = self._sandbox(container_id)
            cfg = self._network(network_id)
            iface = parse_ip_cidr(ip_cidr)
            if iface.network != parse_subnet(cfg.subnet):
                raise InvalidNetworkConfigError(f"{ip_cidr} is not in {cfg.subnet} of {network_id}")
            for a in sb.attachments:
                if a.network_id == network_id:
                    if a.ip_cidr == ip_cidr:
                        return
                    raise InvalidNetworkConfigError(
                        f"container {container_id} already on {network_id} as {a.ip_cidr}")
            used = {a.ifname for a in sb.attachments}
            ifname = next(f"eth{n}" for n in range(len(used) + 1) if f"eth{n}" not in used)
            gateway = self._default_gateway(cfg, first=not sb.attachments)
            att = st.Attachment(network_id, ifname, ip_cidr)
            script = self._vip_script([*sb.attachments, att])
            veth = m.endpoint_veth_name(container_id, network_id)

            # nft only if the VIP table changes (no VIPs yet: no table at all, it costs ~15 ms)
            before = self._applied.get(container_id, self._vip_script([]))
            apply = script != before

            def inside(ipr: IPRoute) -> None:
                overlay.configure_sandbox_if(ipr, ifname, ip_cidr, gateway)
                if apply:
                    netns.nft_apply(script, f"in sandbox of {container_id}", self._vip_table)

            try:
                self._plumb(sb.path, network_id, veth, ifname, cfg.mtu)
                netns.run_in_ns(sb.path, inside)
            except BaseException:
                self._undo(f"attach {container_id} to {network_id}", lambda: self._nets[network_id].call(
                    lambda ipr: overlay.delete_link(ipr, veth)))
                raise
            sb.attachments.append(att)
            if apply:
                self._applied[container_id] = script
            self._save()
            log.info("container %s attached to %s as %s %s", container_id, network_id, ifname, ip_cidr)

    def sandbox_endpoints(self, container_id: str) -> list[m.Endpoint]:
        """The interfaces of the container's sandbox, in attach order ([] without a sandbox)."""
        with self._lock:
            sb = self._s.sandboxes.get(container_id)
            if sb is None:
                return []
            out = []
            for n, a in enumerate(sb.attachments):
                cfg = self._s.networks.get(a.network_id)
                gateway = self._default_gateway(cfg, first=n == 0) if cfg is not None else None
                out.append(m.Endpoint(a.network_id, cfg.name if cfg is not None else a.network_id, a.ip_cidr,
                                      m.mac_from_ip(str(parse_ip_cidr(a.ip_cidr).ip)),
                                      m.endpoint_id(container_id, a.network_id), gateway or ""))
            return out

    def _default_gateway(self, cfg: NetworkConfig, first: bool) -> str | None:
        """The first network's gateway is the sandbox's default route unless egress gives one."""
        return cfg.gateway if first and self._egress is None else None

    def destroy_sandbox(self, container_id: str) -> None:
        with self._lock:
            sb = self._s.sandboxes.get(container_id)
            if sb is None:
                return
            self._dns.remove_sandbox(container_id)
            for a in list(sb.attachments):
                self._detach(sb, a.network_id, reapply=False)
            if self._egress is not None:
                self._egress.remove(container_id)
            netns.delete_netns(sb.ns_name)
            del self._s.sandboxes[container_id]
            self._applied.pop(container_id, None)
            rc = self.resolv_conf_path(container_id)
            rc.unlink(missing_ok=True)
            if rc.parent.exists():
                rc.parent.rmdir()
            self._save()
            log.info("sandbox of container %s destroyed", container_id)

    def prune_sandboxes(self, keep: Sequence[str]) -> list[str]:
        """Destroy every sandbox whose container is not in ``keep``; returns their ids."""
        with self._lock:
            gone = [c for c in self._s.sandboxes if c not in set(keep)]
            for c in gone:
                self.destroy_sandbox(c)
            return gone

    # -- services, ingress -------------------------------------------------------------------

    def set_services(self, network_id: str, services: Sequence[ServiceEntry]) -> None:
        with self._lock:
            self._network(network_id)
            gone = removed_backends([s.backends for s in self._s.services.get(network_id, ()) if s.vip],
                                    [s.backends for s in services if s.vip])
            self._s.services[network_id] = tuple(services)
            self._records[network_id] = build_records(services)
            self._apply_vips([sb for sb in self._s.sandboxes.values()
                              if any(a.network_id == network_id for a in sb.attachments)], gone)
            self._save()
            log.debug("network %s: %d services", network_id, len(services))

    def set_ingress(self, ingress_ip_cidr: str | None, entries: Sequence[ServiceEntry]) -> None:
        with self._lock:
            if ingress_ip_cidr is None:
                self._teardown_ingress()
                self._save()
                return
            cfg = next((c for c in self._s.networks.values() if c.ingress), None)
            if cfg is None:
                raise UnknownNetworkError("set_ingress before ensure_network of the ingress network")
            ingress.check_ip(cfg, ingress_ip_cidr)
            if self._s.ingress_ip not in (None, ingress_ip_cidr):
                self._teardown_ingress()
            name = m.ingress_sbox_ns_name(self.prefix)
            path = netns.create_netns(name)
            if self._sbox is None:
                self._sbox = netns.NsThread(name, path)
            if self._s.ingress_ip != ingress_ip_cidr:
                self._plumb(path, cfg.id, m.endpoint_veth_name(INGRESS_SBOX_ID, cfg.id),
                            ingress.SBOX_INGRESS_IF, cfg.mtu)
                ingress.configure_ingress_if(self._sbox, ingress_ip_cidr)
                ingress.setup_link(self._host, self._sbox, path, self._host_if)
            ingress.apply_rules(self._host, self._sbox, self._ingress_table, self._ingress_table,
                                list(entries), self._s.ingress_entries)
            self._s.ingress_ip = ingress_ip_cidr
            self._s.ingress_entries = tuple(entries)
            self._save()
            log.debug("ingress %s: %d published ports", ingress_ip_cidr,
                      len(nft.published_ports(entries)))

    def set_host_ports(self, container_id: str, ports: Sequence[PortMap]) -> None:
        """Host-mode published ports of one container (needs egress_subnet); () removes them."""
        with self._lock:
            self._sandbox(container_id)
            if self._egress is None:
                raise InvalidNetworkConfigError("host-mode ports need NodeNetwork(egress_subnet=...)")
            self._egress.set_host_ports(container_id, tuple(ports))
            self._save()

    def set_raft_allow(self, port: int, addrs: Iterable[str] | None) -> None:
        """Node namespace: TCP ``port`` (the Raft port) accepted only from ``addrs`` (IPv4; the
        managers' addresses) and loopback, dropped otherwise; None or empty removes the gate.
        Full atomic replacement; close(cleanup=True) removes it too. See gates.py for when."""
        with self._lock:
            self._set_raft_gate(port, addrs)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self, cleanup: bool = False) -> None:
        with self._lock:
            self._dns.close()
            if cleanup:
                for cid in list(self._s.sandboxes):
                    self.destroy_sandbox(cid)
                self._teardown_ingress()
                for nid in list(self._s.networks):
                    self.remove_network(nid)
                egress.teardown(self._host, self.stem)
                overlay.set_notrack(self._host, self._notrack_table, None, 0)
                self._apply_vxlan_gate()   # no network left: table removed
                self._set_raft_gate(0, None)
                self._state_file.unlink(missing_ok=True)
            for t in [*self._nets.values(), *([self._sbox] if self._sbox else []), self._host]:
                t.close()
            self._nets.clear()
            self._sbox = None
            log.info("node network %s closed (cleanup=%s)", self.stem, cleanup)

    # -- internals ---------------------------------------------------------------------------

    def _apply_vxlan_gate(self) -> None:
        """VXLAN port accepted only from the union of every network's peers (nft.py, gates.py);
        no network: no table. Skips nft when the set is what was applied last."""
        if not self._s.networks:   # (also deletes a leftover table at adoption)
            self._host.call(lambda _ipr: gates.apply_vxlan_gate(self._vxgate_table, 0, None))
            self._vxgate_applied = None
            return
        want = frozenset().union(*self._peers.values()) - {self.data_path_addr}
        if want == self._vxgate_applied:
            return
        self._host.call(lambda _ipr: gates.apply_vxlan_gate(self._vxgate_table, self.vxlan_port, want))
        self._vxgate_applied = want
        log.debug("VXLAN gate: %d peer addresses", len(want))

    def _adopt_vxlan_gate(self) -> None:
        """After adopt: the peers the kernel's vxlan0 devices still send to (what the previous
        daemon's last set_peers left) keep being accepted until the replayed set_peers."""
        for nid, t in self._nets.items():
            self._peers[nid] = frozenset(t.call(overlay.current_peers))
        self._vxgate_applied = None
        self._apply_vxlan_gate()

    def _set_raft_gate(self, port: int, addrs: Iterable[str] | None) -> None:
        self._host.call(lambda _ipr: gates.apply_raft_gate(self._raftgate_table, port, addrs))

    def _lookup(self, container_id: str, name: str) -> tuple[str, ...] | None:
        sb = self._s.sandboxes.get(container_id)
        if sb is None:
            return None
        for a in list(sb.attachments):
            found = self._records.get(a.network_id, {}).get(name)
            if found is not None:
                return found
        return None

    def _apply_vips(self, sandboxes: Sequence[st.Sandbox], gone: set[str] | None = None) -> None:
        """(Re)write each sandbox's VIP table unless it already holds exactly that ruleset (a
        few in parallel: nft runs are mostly waiting); forget UDP flows to backends that left."""
        scripts = [(sb, self._vip_script(sb.attachments)) for sb in sandboxes]
        jobs = [(sb, script) for sb, script in scripts if self._applied.get(sb.container_id) != script]

        def apply(sb: st.Sandbox, script: str) -> None:
            def inside(_ipr: object) -> None:
                netns.nft_apply(script, f"in sandbox of {sb.container_id}", self._vip_table)
                flush_udp_to(gone or ())

            netns.run_in_ns(sb.path, inside, netlink=False)
            self._applied[sb.container_id] = script

        with ThreadPoolExecutor(max_workers=VIP_APPLY_PARALLEL) as pool:
            futures = [pool.submit(apply, sb, script) for sb, script in jobs]
        for f in futures:
            f.result()  # the first error, if any

    def _undo(self, what: str, fn: Callable[[], object]) -> None:
        """Roll back a half-done step; a failure here is logged, the original error wins."""
        try:
            fn()
        except NetworkError as e:
            log.warning("rollback of %s failed: %s", what, e)

    def _vip_script(self, attachments: Sequence[st.Attachment]) -> str:
        services = [s for a in attachments for s in self._s.services.get(a.network_id, ())]
        return nft.render_vip_table(self._vip_table, services)

    def _plumb(self, path: str, network_id: str, veth: str, ifname: str, mtu: int) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._net_thread(network_id).call(
                lambda ipr: overlay.add_endpoint(ipr, veth, ifname, mtu, fd))
        finally:
            os.close(fd)

    def _detach(self, sb: st.Sandbox, network_id: str, reapply: bool = True) -> None:
        t = self._nets.get(network_id)
        veth = m.endpoint_veth_name(sb.container_id, network_id)
        if t is not None:
            t.call(lambda ipr: overlay.delete_link(ipr, veth))
        sb.attachments = [a for a in sb.attachments if a.network_id != network_id]
        if reapply and netns.netns_exists(sb.ns_name):
            self._apply_vips([sb])

    def _teardown_ingress(self) -> None:
        cfg = next((c for c in self._s.networks.values() if c.ingress), None)
        nid = cfg.id if cfg is not None else ""
        ingress.teardown(self._host, self._sbox, self._nets.get(nid), self._ingress_table, self._host_if,
                         m.ingress_sbox_ns_name(self.prefix), m.endpoint_veth_name(INGRESS_SBOX_ID, nid))
        self._sbox = None
        self._s.ingress_ip, self._s.ingress_entries = None, ()

    def _network(self, network_id: str) -> NetworkConfig:
        cfg = self._s.networks.get(network_id)
        if cfg is None:
            raise UnknownNetworkError(f"network {network_id} is not set up on this node")
        return cfg

    def _net_thread(self, network_id: str) -> netns.NsThread:
        self._network(network_id)
        return self._nets[network_id]

    def _sandbox(self, container_id: str) -> st.Sandbox:
        sb = self._s.sandboxes.get(container_id)
        if sb is None:
            raise UnknownNetworkError(f"no sandbox for container {container_id}")
        return sb

    def _save(self) -> None:
        st.save(self._state_file, self._s)

    def _load(self) -> st.Saved:
        try:
            return st.load(self._state_file)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("network state %s unreadable (%s); starting empty", self._state_file, e)
            return st.Saved()
