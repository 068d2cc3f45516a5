"""nftables gates in the node's own namespace: who may send to the data-path and Raft ports.

* **VXLAN gate** (table ``<stem>_vxgate``): UDP to the VXLAN port only from the current
  peers' data-path addresses. Managed by ``NodeNetwork`` (set_peers / remove_network /
  close(cleanup=True)); nothing to call from outside.
* **Raft gate** (table ``<stem>_raftgate``): TCP to the Raft port only from the managers'
  addresses (and loopback); a second lock in front of the mutual-TLS Raft link.
  For the daemon of a manager::

      from node.network.gates import set_raft_allow
      set_raft_allow(raft_port, [every manager's Raft address host], name_prefix)
      set_raft_allow(raft_port, None, name_prefix)     # no longer a manager / leaving

  or ``NodeNetwork.set_raft_allow(port, addrs)`` (same thing, on the node namespace thread,
  and removed by ``close(cleanup=True)``). Blocking (runs nft): call it from a worker thread,
  in the node's namespace (the daemon's own). Call it with the new manager set BEFORE a
  manager is added to the Raft membership (else the leader's first connections to it are
  dropped until the next call) and after one is removed or demoted; each call is a full,
  atomic replacement of the set. IPv4 addresses only (as the rest of node/network).

Both tables are one ``nft -f`` transaction per update (``nft.render_gate_table``).
"""

from __future__ import annotations

from collections.abc import Iterable

from node.network import nft
from node.network.errors import InvalidNetworkConfigError
from node.network.model import nft_table_name, parse_ip
from node.network.netns import nft_apply


def vxlan_table(name_prefix: str = "") -> str:
    return nft_table_name(name_prefix, "vxgate")


def raft_table(name_prefix: str = "") -> str:
    return nft_table_name(name_prefix, "raftgate")


def _addrs(addrs: Iterable[str]) -> list[str]:
    return sorted({str(parse_ip(a)) for a in addrs})   # InvalidNetworkConfigError if not IPv4


def apply_vxlan_gate(table: str, port: int, peers: Iterable[str] | None) -> None:
    """In the calling thread's namespace: install/replace the VXLAN gate (None removes it)."""
    if peers is None:
        nft_apply(nft.delete_table(table), "in node namespace")
        return
    nft_apply(nft.render_vxlan_gate_table(table, port, _addrs(peers)), "in node namespace", table)


def apply_raft_gate(table: str, port: int, addrs: Iterable[str] | None) -> None:
    """In the calling thread's namespace: install/replace the Raft gate (None/empty removes it)."""
    allowed = _addrs(addrs or ())
    if not allowed:
        nft_apply(nft.delete_table(table), "in node namespace")
        return
    if not 0 < port < 65536:
        raise InvalidNetworkConfigError(f"bad Raft port {port}")
    nft_apply(nft.render_raft_gate_table(table, port, allowed), "in node namespace", table)


def set_raft_allow(port: int, addrs: Iterable[str] | None, name_prefix: str = "") -> None:
    """TCP ``port`` accepted only from ``addrs`` (IPv4) and loopback, dropped otherwise;
    None or empty removes the gate. ``name_prefix``: the node's NodeNetwork prefix (table
    ``<prefix>sw_raftgate``). Runs in the calling thread's namespace."""
    apply_raft_gate(raft_table(name_prefix), port, addrs)
