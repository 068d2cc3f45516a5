"""Secrets: create, inspect, list, update (labels only), remove (refused while in use).

The value is sealed with the managers' secrets key (:mod:`swarm.ca.sealing`) before the write:
the Raft log and snapshots hold ``Secret.sealed`` only, and no answer carries the value or the
sealed bytes. Only the leader's dispatcher opens it, for a node that runs a task using it.
Messages are swarmkit's (``manager/controlapi/secret.go``).
"""

from __future__ import annotations

import hmac

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Secret, Service
from swarm.api.specs_pb2 import SecretSpec
from swarm.ca.ids import new_id
from swarm.ca.sealing import SealingError, SecretsKey
from swarm.controlapi.common import Context
from swarm.controlapi.errors import AlreadyExistsError, FailedPreconditionError, InvalidArgumentError
from swarm.controlapi.payloads import (
    MAX_SECRET,
    filtered,
    in_use_message,
    services_using,
    validate_labels,
    validate_name,
    validate_payload,
    validate_templating,
)
from swarm.controlapi.resolve import resolve
from swarm.store import NameConflictError, typed


def public(s: Secret) -> Secret:
    """What leaves the manager: neither the value nor its sealed form."""
    out = Secret()
    out.CopyFrom(s)
    out.spec.data = b""
    out.sealed = b""
    return out


def find_secret(ctx: Context, ref: str) -> Secret:
    return resolve(ref, ctx.read.list(Secret), "secret", lambda s: s.spec.annotations.name)


def _key(ctx: Context) -> SecretsKey:
    if ctx.secrets_key is None:
        raise FailedPreconditionError("this manager has no secrets key (it joined before secrets existed); "
                                      "promote another manager or rejoin it")
    return ctx.secrets_key


def secret_ids(svc: Service) -> list[str]:
    return [r.secret_id for r in svc.spec.task.container.secrets]


async def create_secret(ctx: Context, req: c.CreateSecretRequest) -> c.CreateSecretResponse:
    spec = SecretSpec()
    spec.CopyFrom(req.spec)
    validate_name(spec.annotations.name)
    validate_labels(spec.annotations.labels)
    if spec.driver.name:
        raise InvalidArgumentError(f"secret driver {spec.driver.name!r} is not supported: give the value")
    validate_templating("secret", spec.templating.name)
    validate_payload("secret", spec.data, MAX_SECRET)
    key = _key(ctx)
    if any(s.spec.annotations.name == spec.annotations.name for s in ctx.read.list(Secret)):
        raise AlreadyExistsError(f"secret {spec.annotations.name} already exists")
    sid = new_id()
    secret = Secret(id=sid, sealed=key.seal(sid, spec.data))
    spec.data = b""
    secret.spec.CopyFrom(spec)
    now = ctx.now()
    secret.meta.created_at.CopyFrom(now)
    secret.meta.updated_at.CopyFrom(now)
    try:
        await ctx.apply([typed.create(secret)])
    except NameConflictError:
        raise AlreadyExistsError(f"secret {spec.annotations.name} already exists") from None
    stored = ctx.read.get(Secret, sid)
    assert stored is not None
    return c.CreateSecretResponse(secret=public(stored))


def get_secret(ctx: Context, req: c.GetSecretRequest) -> c.GetSecretResponse:
    return c.GetSecretResponse(secret=public(find_secret(ctx, req.secret_id)))


def list_secrets(ctx: Context, req: c.ListSecretsRequest) -> c.ListSecretsResponse:
    return c.ListSecretsResponse(secrets=[public(s) for s in filtered(ctx.read.list(Secret), req.filters)])


async def update_secret(ctx: Context, req: c.UpdateSecretRequest) -> c.UpdateSecretResponse:
    secret = find_secret(ctx, req.secret_id)
    new = req.spec
    if new.annotations.name != secret.spec.annotations.name:
        raise InvalidArgumentError("only updates to Labels are allowed")
    if new.data:
        try:
            same = hmac.compare_digest(_key(ctx).unseal(secret.id, secret.sealed), new.data)
        except SealingError:
            same = False
        if not same:
            raise InvalidArgumentError("only updates to Labels are allowed")
    validate_labels(new.annotations.labels)
    secret.spec.annotations.labels.clear()
    secret.spec.annotations.labels.update(new.annotations.labels)
    secret.meta.updated_at.CopyFrom(ctx.now())
    if req.HasField("secret_version"):
        secret.meta.version.index = req.secret_version.index
    await ctx.apply([typed.update(secret)])
    stored = ctx.read.get(Secret, secret.id)
    assert stored is not None
    return c.UpdateSecretResponse(secret=public(stored))


async def remove_secret(ctx: Context, req: c.RemoveSecretRequest) -> c.RemoveSecretResponse:
    secret = find_secret(ctx, req.secret_id)
    users = services_using(ctx, secret_ids, secret.id)
    if users:
        raise InvalidArgumentError(in_use_message("secret", secret.spec.annotations.name, users))
    await ctx.apply([typed.delete(secret, expected_version=secret.meta.version.index)])
    return c.RemoveSecretResponse()
