"""`swarm init`, `swarm join` and `swarm leave` for this node: the steps, in order.

init: ids, root CA, join tokens and Raft secret are made here; the node's manager certificate
is signed locally; the store starts as a one-member Raft cluster and receives the cluster
object and this node.

join: the token's CA digest pins the remote CA before anything secret is sent (the remote's
TLS chain is fetched without verification, the self-signed root in it is hashed and compared);
then, verified against that root, the CSR and token go to NodeCA.IssueNodeCertificate. A manager
then asks RaftMembership.Join (over mTLS, through the leader) for the full member list and the
Raft secret, and starts its replica with them (raft-notes F6).

raft join, on the leader (:func:`join_raft`, behind ``RaftMembership.Join``): the caller is
checked (:func:`check_raft_join`), then added to the Raft members one change at a time, and
recorded as a manager in the store.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from swarm.api import daemon_pb2
from swarm.api.objects_pb2 import Cluster, ManagerStatus, Network, Node, NodeStatus
from swarm.api.specs_pb2 import ClusterSpec, NodeSpec
from swarm.api.types_pb2 import MANAGER
from swarm.ca import RootCA, make_key_and_csr
from swarm.ca.ids import new_id
from swarm.ca.revocation import record_issued
from swarm.ca.storage import NodeTLS
from swarm.ca.tokens import generate_join_token
from swarm.daemon import sysinfo
from swarm.daemon.netutil import detect_advertise_ip, split_addr
from swarm.daemon.refusals import NotTheLeaderError
from swarm.daemon.state import NodeState, raft_addr_for
from swarm.reconciler.clock import now_ts
from swarm.store import ConflictError, ObjectStore, typed
from swarm.store.typed import Reader

log = logging.getLogger(__name__)

DEFAULT_POOL = "10.0.0.0/8"


@dataclass
class Bootstrap:
    cluster: Cluster
    node: Node
    ingress: Network


def addresses(req_listen: str, req_advertise: str) -> tuple[str, str]:
    """(advertise ip:port, listen ip:port).

    Without --listen-addr a manager listens on its advertise address (the architecture's
    contract: managers bind the address they advertise, never every interface by default);
    the advertise port defaults to the listen port, as in Docker.
    """
    lhost, lport = split_addr(req_listen) if req_listen else ("", 2377)
    if req_advertise:
        ahost, aport = split_addr(req_advertise, default_port=lport)
    elif lhost and lhost != "0.0.0.0":
        ahost, aport = lhost, lport
    else:
        ahost, aport = detect_advertise_ip(), lport
    if not lhost:
        lhost, lport = ahost, aport
    return f"{ahost}:{aport}", f"{lhost}:{lport}"


def plan_init(req: daemon_pb2.InitRequest) -> tuple[NodeState, NodeTLS, bytes, Bootstrap]:
    advertise, listen = addresses(req.listen_addr, req.advertise_addr)
    cluster_id, node_id = new_id(), new_id()
    spec = ClusterSpec()
    spec.CopyFrom(req.spec)
    if not spec.annotations.name:
        spec.annotations.name = "default"
    if not spec.HasField("orchestration"):
        spec.orchestration.task_history_retention_limit = 5
    if not spec.dispatcher.HasField("heartbeat_period"):
        spec.dispatcher.heartbeat_period.FromSeconds(5)
    if not spec.ca_config.HasField("node_cert_expiry"):
        spec.ca_config.node_cert_expiry.FromSeconds(90 * 24 * 3600)
    root = RootCA.create()
    key_pem, csr_pem = make_key_and_csr()
    expiry = dt.timedelta(seconds=spec.ca_config.node_cert_expiry.ToSeconds())
    cert_pem = root.issue(csr_pem, node_id, "swarm-manager", cluster_id, expiry)
    raft_secret = secrets.token_urlsafe(32).encode()

    now = now_ts()
    cl = Cluster(id=cluster_id, spec=spec, raft_secret=raft_secret,
                 subnet_size=req.subnet_size or 24, vxlan_udp_port=req.data_path_port or 4789)
    cl.meta.created_at.CopyFrom(now)
    cl.meta.updated_at.CopyFrom(now)
    cl.default_address_pool.extend(list(req.default_addr_pool) or [DEFAULT_POOL])
    cl.root_ca.ca_cert = root.cert_pem
    cl.root_ca.ca_key = root.key_pem or b""
    cl.root_ca.ca_cert_hash = root.digest
    cl.root_ca.join_tokens.worker = generate_join_token(root.cert_pem)
    cl.root_ca.join_tokens.manager = generate_join_token(root.cert_pem)
    if spec.encryption_config.auto_lock_managers:
        from swarm.ca.unlockkey import generate

        cl.manager_unlock_key = generate()
    ip = advertise.rsplit(":", 1)[0]
    data_path = req.data_path_addr or ip
    if req.data_path_addr:
        data_path = split_addr(req.data_path_addr)[0]

    node = Node(id=node_id, role=MANAGER, data_path_addr=data_path)
    node.meta.created_at.CopyFrom(now)
    node.meta.updated_at.CopyFrom(now)
    node.joined_at.CopyFrom(now)
    node.spec.desired_role = MANAGER
    node.spec.membership = NodeSpec.ACCEPTED
    node.spec.availability = req.availability
    node.description.CopyFrom(describe())
    node.status.state = NodeStatus.READY
    node.status.addr = ip
    node.manager_status.CopyFrom(ManagerStatus(
        raft_id=1, addr=advertise, leader=True, reachability=ManagerStatus.REACHABLE,
        raft_addr=raft_addr_for(advertise)))
    record_issued(node, cert_pem)

    state = NodeState(node_id=node_id, cluster_id=cluster_id, role="manager",
                      advertise_addr=advertise, listen_addr=listen, data_path_addr=data_path,
                      remote_managers=[advertise], raft_members=[raft_addr_for(advertise)],
                      data_path_port=req.data_path_port or 4789)
    tls = NodeTLS(root_ca_pem=root.cert_pem, cert_pem=cert_pem, key_pem=key_pem)
    return state, tls, raft_secret, Bootstrap(cluster=cl, node=node, ingress=ingress_network(cl, now))


def ingress_network(cl: Cluster, now: Timestamp) -> Network:
    """The `ingress` overlay `swarm init` makes: the first subnet of the pool, VNI 4096."""
    from swarm.allocator.networks import address_pools, build_network
    from swarm.api.specs_pb2 import NetworkSpec

    spec = NetworkSpec(ingress=True)
    spec.annotations.name = "ingress"
    spec.driver_config.name = "overlay"
    pools, size = address_pools(cl)
    return build_network(spec, [], [], pools, size, now)


async def write_bootstrap(store: ObjectStore, b: Bootstrap) -> None:
    await store.apply([typed.create(b.cluster), typed.create(b.node), typed.create(b.ingress)])


def describe(generic: Sequence[tuple[str, str]] = ()) -> Any:
    """This node as its agent reports it; ``generic`` are ``--node-generic-resource`` pairs
    (``(kind, value)``: a number is a discrete count, anything else one named resource)."""
    from swarm import __version__
    from swarm.api.objects_pb2 import NodeDescription
    from swarm.api.types_pb2 import GenericResource

    d = NodeDescription(hostname=sysinfo.hostname(), engine_version=__version__)
    d.platform.os = "linux"
    d.platform.architecture = sysinfo.arch()
    d.resources.nano_cpus = sysinfo.ncpu() * 10**9
    d.resources.memory_bytes = sysinfo.mem_total()
    for kind, value in generic:
        r = d.resources.generic.add()
        if value.isdigit():
            r.discrete.CopyFrom(GenericResource.Discrete(kind=kind, value=int(value)))
        else:
            r.named.CopyFrom(GenericResource.Named(kind=kind, value=value))
    return d


class RaftJoinRefusedError(Exception):
    code = "PERMISSION_DENIED"


def check_raft_join(nodes: list[Node], node_id: str, raft_addr: str, api_addr: str, peer_ip: str) -> None:
    """A Raft join may only add the caller itself: its desired role is manager (checked by the
    authorizer), the Raft address is on the caller's own host (the address it calls from, or
    the one it registered with) and belongs to no other node, and a node that is already a
    member keeps its address. Anything else could add a phantom member (quorum counted for a
    voter that never answers) or hijack another manager's slot."""
    host = raft_addr.rsplit(":", 1)[0].strip("[]")
    me = next((n for n in nodes if n.id == node_id), None)
    if me is None:
        raise RaftJoinRefusedError(f"node {node_id} is not part of this swarm")
    own_hosts = {peer_ip, me.status.addr}
    if not host or host not in own_hosts:
        raise RaftJoinRefusedError(
            f"raft address {raft_addr} is not this node's own address ({peer_ip or 'unknown'})")
    api_host = api_addr.rsplit(":", 1)[0].strip("[]") if api_addr else host
    if api_host not in own_hosts:
        raise RaftJoinRefusedError(f"manager address {api_addr} is not this node's own address")
    for n in nodes:
        if n.id != node_id and n.manager_status.raft_addr == raft_addr:
            raise RaftJoinRefusedError(f"raft address {raft_addr} belongs to node {n.id}")
    current = me.manager_status.raft_addr
    if current and current != raft_addr and me.role == MANAGER:
        raise RaftJoinRefusedError(
            f"node {node_id} is already a raft member at {current}; it cannot join again as {raft_addr}")


@dataclass(frozen=True)
class RaftJoin:
    """The leader's answer to a joining manager: the members (its own address included), in
    Raft id order, and the Raft secret."""

    members: list[str]
    raft_secret: bytes
    secrets_key: bytes = b""


async def join_raft(manager: Any, node_id: str, raft_addr: str, api_addr: str,
                    peer_ip: str) -> RaftJoin:
    """Add the calling manager ``node_id`` to Raft (on the leader; ``NotTheLeaderError`` on a
    follower). ``manager`` is the ``ManagerRole``: its store, ``membership_lock``,
    ``security`` (the Raft port's allow-list) and ``background``.

    One membership change at a time (raft-notes F9.0). The add cannot commit before the new
    member runs (1 -> 2 members needs both), and it starts only with our answer: so answer at
    once with the full list, and finish the change in the background while still holding the
    lock.
    """
    store = manager.store
    if not store.is_leader():
        raise NotTheLeaderError(manager.leader_api_addr())
    check_raft_join(Reader(store).list(Node), node_id, raft_addr, api_addr, peer_ip)
    await manager.membership_lock.acquire()
    members = list(store.members())
    if raft_addr in members:
        manager.membership_lock.release()
        await record_manager(store, node_id, api_addr, raft_addr, len(members))
    else:
        log.info("adding manager %s (%s) to raft", node_id, raft_addr)
        members.append(raft_addr)
        if manager.security is not None:
            await manager.security.admit(raft_addr.rsplit(":", 1)[0].strip("[]"))

        async def finish() -> None:
            try:
                await store.add_member(raft_addr, timeout=60.0)
                await record_manager(store, node_id, api_addr, raft_addr, len(members))
            except Exception as e:
                log.warning("adding raft member %s: %s", raft_addr, e)
            finally:
                manager.membership_lock.release()

        manager.background(finish())
    cl = Reader(store).cluster()
    key = getattr(manager, "secrets_key", None)
    return RaftJoin(members=members, raft_secret=cl.raft_secret if cl else b"",
                    secrets_key=key.raw if key is not None else b"")


async def record_manager(store: ObjectStore, node_id: str, api_addr: str, raft_addr: str,
                         raft_id: int) -> None:
    """Mark the node a reachable manager at these addresses (retried on a write conflict)."""
    for _ in range(8):
        node = Reader(store).get(Node, node_id)
        if node is None:
            return
        node.role = MANAGER
        node.manager_status.CopyFrom(ManagerStatus(
            addr=api_addr, raft_addr=raft_addr, reachability=ManagerStatus.REACHABLE,
            raft_id=raft_id))
        try:
            await store.apply([typed.update(node)])
            return
        except ConflictError:
            continue
