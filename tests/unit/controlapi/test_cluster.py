"""The cluster object through the control API's handlers: inspect (never the CA key or the Raft
secret), update with a version check and the reference's limits, join-token rotation."""

from __future__ import annotations

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Cluster
from swarm.api.specs_pb2 import ClusterSpec
from swarm.ca.tokens import parse_join_token, token_matches_ca
from swarm.controlapi import cluster
from swarm.controlapi.common import Context

from .conftest import Swarm
from .helpers import call, refused


def stored(swarm: Swarm) -> Cluster:
    cl = swarm.ctx.read.cluster()
    assert cl is not None
    return cl


def update_req(cl: Cluster, spec: ClusterSpec | None = None, *, worker: bool = False,
               manager: bool = False) -> c.UpdateClusterRequest:
    req = c.UpdateClusterRequest(cluster_id=cl.id, spec=spec if spec is not None else cl.spec)
    req.cluster_version.index = cl.meta.version.index
    req.rotation.worker_join_token = worker
    req.rotation.manager_join_token = manager
    return req


def test_get_is_redacted_and_answers_to_its_id_default_and_nothing(swarm: Swarm) -> None:
    cl = stored(swarm)
    for ref in (cl.id, "default", ""):
        got = call(cluster.get_cluster, swarm.ctx, c.GetClusterRequest(cluster_id=ref)).cluster
        assert got.root_ca.ca_key == b"" and got.raft_secret == b""
        assert got.root_ca.ca_cert == cl.root_ca.ca_cert
        assert got.root_ca.join_tokens == cl.root_ca.join_tokens
        assert got.spec == cl.spec and got.id == cl.id
    refused(cluster.get_cluster, swarm.ctx, c.GetClusterRequest(cluster_id="other"),
            "NOT_FOUND", "cluster other not found")


def test_list_is_redacted(swarm: Swarm) -> None:
    (got,) = call(cluster.list_clusters, swarm.ctx, c.ListClustersRequest()).clusters
    assert got.id == swarm.cluster_id and got.root_ca.ca_key == b"" and got.raft_secret == b""


def test_without_a_cluster_object(ctx: Context) -> None:
    refused(cluster.get_cluster, ctx, c.GetClusterRequest(), "NOT_FOUND", "cluster not found")
    refused(cluster.update_cluster, ctx, c.UpdateClusterRequest(), "NOT_FOUND", "cluster not found")
    assert not call(cluster.list_clusters, ctx, c.ListClustersRequest()).clusters


def test_update_changes_the_spec_and_keeps_the_secrets(swarm: Swarm) -> None:
    cl = stored(swarm)
    spec = ClusterSpec()
    spec.CopyFrom(cl.spec)
    spec.orchestration.task_history_retention_limit = 10
    spec.dispatcher.heartbeat_period.FromSeconds(10)
    spec.ca_config.node_cert_expiry.FromSeconds(3600)           # the minimum is allowed
    swarm.clock.now += 60
    out = call(cluster.update_cluster, swarm.ctx, update_req(cl, spec)).cluster
    assert out.spec == spec and out.root_ca.ca_key == b"" and out.raft_secret == b""
    after = stored(swarm)
    assert after.spec == spec and after.meta.updated_at.seconds == int(swarm.clock.now)
    assert after.root_ca.ca_key == cl.root_ca.ca_key and after.raft_secret == cl.raft_secret
    assert after.root_ca.join_tokens == cl.root_ca.join_tokens


def test_update_with_a_stale_version_is_refused(swarm: Swarm) -> None:
    cl = stored(swarm)
    call(cluster.update_cluster, swarm.ctx, update_req(cl))
    refused(cluster.update_cluster, swarm.ctx, update_req(cl, worker=True),
            "FAILED_PRECONDITION", "update out of sequence")


def test_update_refuses_a_certificate_expiry_under_one_hour(swarm: Swarm) -> None:
    cl = stored(swarm)
    spec = ClusterSpec()
    spec.CopyFrom(cl.spec)
    spec.ca_config.node_cert_expiry.FromSeconds(3599)
    refused(cluster.update_cluster, swarm.ctx, update_req(cl, spec), "INVALID_ARGUMENT",
            "minimum certificate expiry time is 1h0m0s")


def test_update_refuses_a_heartbeat_period_that_is_not_positive(swarm: Swarm) -> None:
    cl = stored(swarm)
    for seconds in (0, -5):
        spec = ClusterSpec()
        spec.CopyFrom(cl.spec)
        spec.dispatcher.heartbeat_period.FromSeconds(seconds)
        refused(cluster.update_cluster, swarm.ctx, update_req(cl, spec), "INVALID_ARGUMENT",
                "heartbeat period must be positive")


def test_rotation_replaces_only_the_asked_token_and_pins_the_ca(swarm: Swarm) -> None:
    cl = stored(swarm)
    old = cl.root_ca.join_tokens
    out = call(cluster.update_cluster, swarm.ctx, update_req(cl, worker=True)).cluster
    assert out.root_ca.join_tokens.manager == old.manager
    assert out.root_ca.join_tokens.worker != old.worker
    assert token_matches_ca(parse_join_token(out.root_ca.join_tokens.worker), cl.root_ca.ca_cert)
    cl = stored(swarm)
    out = call(cluster.update_cluster, swarm.ctx, update_req(cl, manager=True)).cluster
    assert out.root_ca.join_tokens.worker == cl.root_ca.join_tokens.worker
    assert out.root_ca.join_tokens.manager != old.manager
    assert stored(swarm).root_ca.join_tokens == out.root_ca.join_tokens


def test_rotation_without_a_spec_keeps_the_spec(swarm: Swarm) -> None:
    cl = stored(swarm)
    req = c.UpdateClusterRequest(cluster_id=cl.id)
    req.cluster_version.index = cl.meta.version.index
    req.rotation.worker_join_token = True
    call(cluster.update_cluster, swarm.ctx, req)
    assert stored(swarm).spec == cl.spec


def test_force_rotate_is_kept_and_a_change_refused_without_ca_rotation(swarm: Swarm) -> None:
    """swarmkit rotates the root CA when CAConfig.ForceRotate changes (`docker swarm ca --rotate`
    adds one); pyswarm has no root rotation, so a change is refused by name and nothing is
    stored, while the value given at init passes through every other update."""
    import asyncio

    from swarm.store import typed

    cl = stored(swarm)
    cl.spec.ca_config.force_rotate = 6_000_000_000_000          # docker-py's value, given at init
    asyncio.run(swarm.store.apply([typed.update(cl)]))
    cl = stored(swarm)
    same = ClusterSpec()
    same.CopyFrom(cl.spec)
    same.orchestration.task_history_retention_limit = 7
    out = call(cluster.update_cluster, swarm.ctx, update_req(cl, same)).cluster
    assert out.spec.ca_config.force_rotate == 6_000_000_000_000
    assert out.spec.orchestration.task_history_retention_limit == 7
    cl = stored(swarm)
    for value in (6_000_000_000_001, 0):
        spec = ClusterSpec()
        spec.CopyFrom(cl.spec)
        spec.ca_config.force_rotate = value
        refused(cluster.update_cluster, swarm.ctx, update_req(cl, spec), "FAILED_PRECONDITION",
                "root CA rotation is not supported by pyswarm (CAConfig.ForceRotate changed from "
                f"6000000000000 to {value})")
    assert stored(swarm).spec == cl.spec and stored(swarm).meta.version == cl.meta.version


def test_autolock_makes_rotates_and_drops_the_unlock_key_and_never_shows_it(swarm: Swarm) -> None:
    from swarm.ca.unlockkey import parse_key

    def unlock_key() -> str:
        return call(cluster.get_unlock_key, swarm.ctx, c.GetUnlockKeyRequest()).unlock_key

    cl = stored(swarm)
    assert unlock_key() == "" and not cl.manager_unlock_key
    req = update_req(cl, spec=None, manager=False)
    req.rotation.manager_unlock_key = True                      # autolock off: ignored
    call(cluster.update_cluster, swarm.ctx, req)
    assert unlock_key() == ""
    cl = stored(swarm)
    spec = ClusterSpec()
    spec.CopyFrom(cl.spec)
    spec.encryption_config.auto_lock_managers = True
    out = call(cluster.update_cluster, swarm.ctx, update_req(cl, spec)).cluster
    assert out.manager_unlock_key == b"" and out.spec.encryption_config.auto_lock_managers
    first = unlock_key()
    assert parse_key(first) == stored(swarm).manager_unlock_key
    got = call(cluster.get_cluster, swarm.ctx, c.GetClusterRequest()).cluster
    (listed,) = call(cluster.list_clusters, swarm.ctx, c.ListClustersRequest()).clusters
    assert got.manager_unlock_key == b"" and listed.manager_unlock_key == b""
    cl = stored(swarm)
    call(cluster.update_cluster, swarm.ctx, update_req(cl))      # another change keeps the key
    assert unlock_key() == first
    cl = stored(swarm)
    req = update_req(cl)
    req.rotation.manager_unlock_key = True
    call(cluster.update_cluster, swarm.ctx, req)
    second = unlock_key()
    assert second and second != first
    cl = stored(swarm)
    spec.CopyFrom(cl.spec)
    spec.encryption_config.auto_lock_managers = False
    call(cluster.update_cluster, swarm.ctx, update_req(cl, spec))
    assert unlock_key() == "" and not stored(swarm).manager_unlock_key
