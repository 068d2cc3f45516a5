"""Joining a swarm from this node (see swarm.daemon.membership for the protocol notes)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc

from swarm.api import ca_pb2, ca_pb2_grpc, daemon_pb2, raft_pb2, raft_pb2_grpc
from swarm.api.types_pb2 import MANAGER
from swarm.ca import make_key_and_csr, parse_identity
from swarm.ca.storage import NodeTLS, save_node_tls
from swarm.ca.tokens import parse_join_token
from swarm.daemon import sysinfo
from swarm.daemon.errors import DaemonError, InvalidRequestError
from swarm.daemon.manager import save_raft_secret, save_secrets_key
from swarm.daemon.membership import addresses
from swarm.daemon.netutil import local_ip_towards, split_addr
from swarm.daemon.state import NodeState, raft_addr_for

log = logging.getLogger(__name__)
JOIN_TIMEOUT = 20.0


class JoinError(DaemonError):
    code = "INVALID_ARGUMENT"


class JoinUnavailableError(DaemonError):
    code = "UNAVAILABLE"


async def join_swarm(data_root: Path, req: daemon_pb2.JoinRequest) -> tuple[NodeState, NodeTLS]:
    from swarm.ca.errors import CAError
    from swarm.rpc.join import fetch_root_ca
    from swarm.rpc.tls import ca_channel

    if not req.remote_addrs:
        raise InvalidRequestError("a manager address (HOST:PORT) is required")
    remote_host, remote_port = split_addr(req.remote_addrs[0])
    remote = f"{remote_host}:{remote_port}"
    try:
        token = parse_join_token(req.join_token)
    except CAError as e:
        raise JoinError(str(e)) from None
    try:
        root_pem = await fetch_root_ca(remote, token.ca_digest, 10.0)
    except CAError as e:
        raise JoinError(str(e)) from None
    except OSError as e:
        raise JoinUnavailableError(f"could not reach the manager at {remote}: {e.strerror or e}") from None

    if req.advertise_addr:
        advertise, listen = addresses(req.listen_addr, req.advertise_addr)
    else:
        ip = local_ip_towards(remote)
        lport = split_addr(req.listen_addr)[1] if req.listen_addr else 2377
        advertise, listen = addresses(req.listen_addr, f"{ip}:{lport}")
    data_path = split_addr(req.data_path_addr)[0] if req.data_path_addr else advertise.rsplit(":", 1)[0]

    key_pem, csr_pem = make_key_and_csr()
    async with ca_channel(remote, root_pem) as ch:
        try:
            resp = await ca_pb2_grpc.NodeCAStub(ch).IssueNodeCertificate(
                ca_pb2.IssueNodeCertificateRequest(
                    csr=csr_pem, token=req.join_token, availability=req.availability,
                    advertise_addr=advertise, data_path_addr=data_path,
                    hostname=sysinfo.hostname()),
                timeout=JOIN_TIMEOUT)
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.UNAVAILABLE:
                raise JoinUnavailableError(e.details() or "manager unavailable") from None
            raise JoinError(e.details() or str(e)) from None
    tls = NodeTLS(root_ca_pem=root_pem, cert_pem=resp.certificate, key_pem=key_pem)
    ident = parse_identity(resp.certificate)
    role = "manager" if resp.role == MANAGER else "worker"
    state = NodeState(node_id=resp.node_id, cluster_id=ident.cluster_id, role=role,
                      advertise_addr=advertise, listen_addr=listen, data_path_addr=data_path,
                      remote_managers=[remote], data_path_port=resp.data_path_port or 4789)
    save_node_tls(data_root, tls)
    if role == "manager":
        members, secret, secrets_key = await raft_join(remote, tls, advertise)
        save_raft_secret(data_root, secret)
        save_secrets_key(data_root, secrets_key)
        state.raft_members = members
    return state, tls


async def raft_join(remote: str, tls: NodeTLS, advertise: str) -> tuple[list[str], bytes, bytes]:
    """Ask the leader (following `leader=` redirects) to add us to Raft; returns the members,
    the Raft secret and the managers' secrets key."""
    from swarm.rpc.tls import manager_channel

    target = remote
    for _ in range(5):
        async with manager_channel(target, tls) as ch:
            try:
                r = await raft_pb2_grpc.RaftMembershipStub(ch).Join(
                    raft_pb2.RaftJoinRequest(raft_addr=raft_addr_for(advertise), api_addr=advertise),
                    timeout=JOIN_TIMEOUT)
                return [m.addr for m in r.members], r.raft_secret, r.secrets_key
            except grpc.aio.AioRpcError as e:
                details = e.details() or ""
                if e.code() == grpc.StatusCode.UNAVAILABLE and "leader=" in details:
                    nxt = details.split("leader=", 1)[1].strip()
                    if nxt:
                        target = nxt
                        continue
                    await asyncio.sleep(1.0)
                    continue
                raise JoinError(details or str(e)) from None
    raise JoinUnavailableError("could not reach the swarm leader to join Raft")


async def renew_certificate(state: NodeState, tls: NodeTLS) -> NodeTLS:
    """A new certificate over mTLS (no token): the CA gives the role our spec asks for."""
    from swarm.rpc.tls import manager_channel

    key_pem, csr_pem = make_key_and_csr()
    last: Exception | None = None
    for addr in state.remote_managers or [state.advertise_addr]:
        try:
            async with manager_channel(addr, tls) as ch:
                r = await ca_pb2_grpc.NodeCAStub(ch).IssueNodeCertificate(
                    ca_pb2.IssueNodeCertificateRequest(csr=csr_pem), timeout=JOIN_TIMEOUT)
            return NodeTLS(root_ca_pem=tls.root_ca_pem, cert_pem=r.certificate, key_pem=key_pem)
        except grpc.aio.AioRpcError as e:
            last = e
    raise JoinUnavailableError(f"could not renew the node certificate: {last}")
