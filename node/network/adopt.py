"""Restart: adopt what a previous NodeNetwork with the same prefix left, delete the rest.

Known (in state_dir/network.json) and still present -> adopted: a NsThread per network
namespace and for the ingress sandbox, DNS sockets for every sandbox (kernel links, FDB
entries and nft tables are left as they are; the daemon's next set_* calls diff/replace
them). Present but unknown, or known but half gone -> deleted, by name: netns starting with
the stem, the node-side ingress link and tables, the egress bridge when egress is off.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from node.network import egress, ingress, netns, overlay
from node.network.dns import build_records
from node.network.model import ingress_sbox_ns_name, network_ns_name

if TYPE_CHECKING:
    from node.network.node import NodeNetwork

log = logging.getLogger(__name__)


def adopt(nn: NodeNetwork) -> None:
    """Called once from NodeNetwork.__init__ (which holds no other state yet)."""
    s = nn._s
    for nid in list(s.networks):
        name = network_ns_name(nn.prefix, nid)
        if netns.netns_exists(name):
            nn._nets[nid] = netns.NsThread(name, netns.ns_path(name))
        else:
            del s.networks[nid]
    for cid, sb in list(s.sandboxes.items()):
        if netns.netns_exists(sb.ns_name):
            sb.attachments = [a for a in sb.attachments if a.network_id in s.networks]
            nn._dns.add_sandbox(cid, sb.path, sb.dns_servers)
        else:
            del s.sandboxes[cid]
    s.services = {k: v for k, v in s.services.items() if k in s.networks}
    nn._records = {k: build_records(v) for k, v in s.services.items()}
    sbox = ingress_sbox_ns_name(nn.prefix)
    if s.ingress_ip is not None and netns.netns_exists(sbox):
        nn._sbox = netns.NsThread(sbox, netns.ns_path(sbox))
    elif s.ingress_ip is not None:
        s.ingress_ip, s.ingress_entries = None, ()
    keep = {network_ns_name(nn.prefix, n) for n in s.networks}
    keep |= {sb.ns_name for sb in s.sandboxes.values()}
    if s.ingress_ip is not None:
        keep.add(sbox)
    for name in netns.list_netns(nn.stem):
        if name not in keep and (name.startswith(f"{nn.stem}n-") or name.startswith(f"{nn.stem}c-")
                                 or name == sbox):
            log.info("deleting leftover netns %s", name)
            netns.delete_netns(name)
    if s.ingress_ip is None:
        ingress.teardown_host(nn._host, nn._ingress_table, nn._host_if)
    if not s.networks:
        overlay.set_notrack(nn._host, nn._notrack_table, None, 0)
    for cid in [c for c in s.egress_ips if c not in s.sandboxes]:
        if nn._egress is not None:
            nn._egress.remove(cid)
        s.egress_ips.pop(cid, None)
    if nn._egress is not None:
        nn._egress.setup()
    else:
        s.egress_ips.clear()
        s.host_ports.clear()
        egress.teardown(nn._host, nn.stem)
    nn._save()
    if s.networks or s.sandboxes:
        log.info("adopted %d networks, %d sandboxes", len(s.networks), len(s.sandboxes))
