"""Registry credentials in service specs (`--with-registry-auth`): checked and sealed before the
write, never answered.

A create or update may carry ``ContainerSpec.pull_options.registry_auth`` (Docker's
X-Registry-Auth: base64url JSON with ``username``/``password``/``serveraddress`` or an
``identitytoken``). It is sealed with the managers' secrets key under the service id
(:mod:`swarm.ca.sealing`) and only ``pull_options.sealed`` is stored, in the service and in the
task specs copied from it. An update without credentials keeps the service's current ones
(Docker's ``RegistryAuthFromSpec``); the same credentials again keep the same sealed bytes, so a
spec does not change (nor its tasks restart) just because they were sent again. Answers never
carry either form (:func:`public_service`, :func:`public_task`); the dispatcher opens them for
the node whose task pulls the image.
"""

from __future__ import annotations

import base64
import binascii
import json

from swarm.api.objects_pb2 import Service, Task
from swarm.api.specs_pb2 import ServiceSpec
from swarm.ca.sealing import SealingError
from swarm.controlapi.common import Context
from swarm.controlapi.errors import FailedPreconditionError, InvalidArgumentError

MAX_AUTH = 64 * 1024


def _check(encoded: str) -> None:
    if len(encoded) > MAX_AUTH:
        raise InvalidArgumentError("registry auth: too long")
    try:
        doc = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgumentError("registry auth: not base64url-encoded JSON (Docker's "
                                   "X-Registry-Auth)") from None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise InvalidArgumentError("registry auth: want a JSON object of strings")


def seal_into(ctx: Context, spec: ServiceSpec, service_id: str, current: ServiceSpec | None) -> None:
    """Replace ``spec``'s clear credentials by their sealed form (or keep ``current``'s)."""
    po = spec.task.container.pull_options
    clear = po.registry_auth
    po.sealed = b""                       # a client can never plant sealed bytes of its own
    po.registry_auth = ""
    old = current.task.container.pull_options.sealed if current is not None else b""
    if not clear:
        if old:
            po.sealed = old
        else:
            spec.task.container.ClearField("pull_options")
        return
    _check(clear)
    key = ctx.secrets_key
    if key is None:
        raise FailedPreconditionError("this manager has no secrets key: registry credentials cannot be "
                                      "stored (promote another manager or rejoin it)")
    if old:
        try:
            if key.unseal(service_id, old) == clear.encode():
                po.sealed = old
                return
        except SealingError:
            pass
    po.sealed = key.seal(service_id, clear.encode())


def _strip(spec: ServiceSpec) -> None:
    spec.task.container.ClearField("pull_options")


def public_service(svc: Service) -> Service:
    """What leaves the manager: no credentials, sealed or not."""
    if not (svc.spec.task.container.HasField("pull_options")
            or svc.previous_spec.task.container.HasField("pull_options")):
        return svc
    out = Service()
    out.CopyFrom(svc)
    _strip(out.spec)
    if out.HasField("previous_spec"):
        _strip(out.previous_spec)
    return out


def public_task(t: Task) -> Task:
    if not t.spec.container.HasField("pull_options"):
        return t
    out = Task()
    out.CopyFrom(t)
    out.spec.container.ClearField("pull_options")
    return out
