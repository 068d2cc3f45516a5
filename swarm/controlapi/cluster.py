"""The cluster object: inspect, update (spec fields the CLI may change), token rotation."""

from __future__ import annotations

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Cluster
from swarm.ca.rootca import MIN_NODE_CERT_EXPIRY
from swarm.ca.tokens import generate_join_token
from swarm.controlapi.common import Context
from swarm.controlapi.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError


def the_cluster(ctx: Context) -> Cluster:
    cl = ctx.read.cluster()
    if cl is None:
        raise NotFoundError("cluster not found")
    return cl


def redacted(cl: Cluster) -> Cluster:
    """The cluster as clients see it: never the CA key or the Raft secret."""
    out = Cluster()
    out.CopyFrom(cl)
    out.root_ca.ca_key = b""
    out.raft_secret = b""
    out.raft_secret_next = b""
    out.manager_unlock_key = b""
    return out


def get_cluster(ctx: Context, req: c.GetClusterRequest) -> c.GetClusterResponse:
    cl = the_cluster(ctx)
    if req.cluster_id and req.cluster_id not in (cl.id, "default"):
        raise NotFoundError(f"cluster {req.cluster_id} not found")
    return c.GetClusterResponse(cluster=redacted(cl))


def list_clusters(ctx: Context, req: c.ListClustersRequest) -> c.ListClustersResponse:
    cl = ctx.read.cluster()
    return c.ListClustersResponse(clusters=[redacted(cl)] if cl else [])


async def update_cluster(ctx: Context, req: c.UpdateClusterRequest) -> c.UpdateClusterResponse:
    from swarm.store import typed

    cl = the_cluster(ctx)
    if req.cluster_version.index and req.cluster_version.index != cl.meta.version.index:
        raise FailedPreconditionError("update out of sequence")
    if req.HasField("spec"):
        spec = req.spec
        if spec.ca_config.HasField("node_cert_expiry") and \
                spec.ca_config.node_cert_expiry.ToSeconds() < MIN_NODE_CERT_EXPIRY.total_seconds():
            raise InvalidArgumentError("minimum certificate expiry time is 1h0m0s")
        if spec.dispatcher.HasField("heartbeat_period") and \
                spec.dispatcher.heartbeat_period.ToNanoseconds() <= 0:
            raise InvalidArgumentError("heartbeat period must be positive")
        if spec.ca_config.force_rotate != cl.spec.ca_config.force_rotate:
            # swarmkit starts a root CA rotation when the counter changes; pyswarm has none
            raise FailedPreconditionError(
                "root CA rotation is not supported by pyswarm (CAConfig.ForceRotate changed from "
                f"{cl.spec.ca_config.force_rotate} to {spec.ca_config.force_rotate})")
        cl.spec.CopyFrom(spec)
    _unlock_key(cl, req.rotation.manager_unlock_key)
    if req.rotation.worker_join_token:
        cl.root_ca.join_tokens.worker = generate_join_token(cl.root_ca.ca_cert)
    if req.rotation.manager_join_token:
        cl.root_ca.join_tokens.manager = generate_join_token(cl.root_ca.ca_cert)
    cl.meta.updated_at.CopyFrom(ctx.now())
    await ctx.apply([typed.update(cl)])
    return c.UpdateClusterResponse(cluster=redacted(the_cluster(ctx)))


def _unlock_key(cl: Cluster, rotate: bool) -> None:
    """Autolock on: a key (a new one when asked to rotate); off: none (swarmkit's UpdateCluster;
    a rotation with autolock off is ignored, as there)."""
    from swarm.ca.unlockkey import generate

    if not cl.spec.encryption_config.auto_lock_managers:
        cl.manager_unlock_key = b""
    elif rotate or not cl.manager_unlock_key:
        cl.manager_unlock_key = generate()


def get_unlock_key(ctx: Context, req: c.GetUnlockKeyRequest) -> c.GetUnlockKeyResponse:
    from swarm.ca.unlockkey import format_key

    cl = the_cluster(ctx)
    out = c.GetUnlockKeyResponse()
    out.version.CopyFrom(cl.meta.version)
    if cl.manager_unlock_key:
        out.unlock_key = format_key(bytes(cl.manager_unlock_key))
    return out
