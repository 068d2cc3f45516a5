"""The one place where domain exceptions become gRPC status codes.

Design notes
------------
Domain packages must not import grpc, so they cannot name a ``grpc.StatusCode``. They name the
canonical code instead, as a string: the google.rpc.Code names (``"NOT_FOUND"``,
``"INVALID_ARGUMENT"`` ...), which are protocol neutral and are also the member names of
``grpc.StatusCode``. Two ways to attach one, looked up along the exception's MRO (most specific
class first, so a subclass can refine its base):

1. a class attribute ``code = "NOT_FOUND"`` on the exception class (the convention of
   ``swarm.ca.errors``, ``swarm.controlapi.errors``, ``swarm.daemon.errors`` and
   ``swarm.daemon.refusals``, ``swarm.dispatcher.dispatcher``);
2. an entry in :data:`REGISTRY`, keyed by the class's ``"module.QualName"`` string, for classes
   that carry no code (``swarm.store.errors`` today). A string key means this module never
   imports the domain packages; ``register()`` adds or overrides entries at start-up, and a unit
   test checks every default key still names a real class, so a rename cannot drift silently.

The interceptor (:class:`ErrorInterceptor`, installed on every server by ``swarm.rpc.server``) is
the only place an exception becomes a status: servicers never catch to abort, and a servicer that
must refuse a call raises a domain error. Three cases, in order:

* an ``grpc.RpcError`` with a code: a call this handler made upstream failed (the follower's log
  relay to the leader): its code and details pass through as they are;
* a mapped domain error: its code, with ``str(exc)`` as the details (the message users see);
* anything else is a bug, not a domain error: it is logged WITH its traceback and answered
  ``INTERNAL`` (details ``str(exc)``, or the class name when that is empty), never swallowed.

A call already aborted (``grpc.aio.AbortError``: the authorization interceptor's refusal, or an
abort done above) passes through untouched.

Defaults for the store follow the house list: not found → ``NOT_FOUND``, exists →
``ALREADY_EXISTS``, bad input → ``INVALID_ARGUMENT``, optimistic-concurrency conflict ("update out
of sequence") → ``ABORTED`` (the canonical code for "re-read and retry the read-modify-write"),
refused membership or not-the-leader → ``FAILED_PRECONDITION``, no leader / unknown outcome /
queue full → ``UNAVAILABLE`` (the message for no leader is the §1.1 text the store puts in it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import grpc
from grpc import aio

from swarm.rpc.handlers import wrap_handler

log = logging.getLogger(__name__)

REGISTRY: dict[str, str] = {
    "swarm.store.errors.NotFoundError": "NOT_FOUND",
    "swarm.store.errors.AlreadyExistsError": "ALREADY_EXISTS",
    "swarm.store.errors.NameConflictError": "ALREADY_EXISTS",
    "swarm.store.errors.ConflictError": "ABORTED",
    "swarm.store.errors.InvalidArgumentError": "INVALID_ARGUMENT",
    "swarm.store.errors.NotLeaderError": "FAILED_PRECONDITION",
    "swarm.store.errors.MembershipError": "FAILED_PRECONDITION",
    "swarm.store.errors.TemporaryStoreError": "UNAVAILABLE",
    "swarm.store.errors.StoreError": "INTERNAL",
    # the node's image store (swarm image pull/ls/rm/import)
    "node.images.errors.ImageNotFoundError": "NOT_FOUND",
    "node.images.errors.InvalidReferenceError": "INVALID_ARGUMENT",
    "node.images.errors.UnsupportedImageError": "INVALID_ARGUMENT",
    "node.images.errors.DigestMismatchError": "INVALID_ARGUMENT",
    "node.images.errors.ImageInUseError": "FAILED_PRECONDITION",
    "node.images.errors.RegistryUnavailableError": "UNAVAILABLE",
    "node.images.errors.AuthError": "UNAUTHENTICATED",
    "node.images.errors.AccessDeniedError": "PERMISSION_DENIED",
    "node.images.errors.ImageError": "UNKNOWN",
    # the node's local volumes (swarm volume create/ls/inspect/rm/prune)
    "node.volumes.errors.InvalidVolumeError": "INVALID_ARGUMENT",
    "node.volumes.errors.NoSuchVolumeError": "NOT_FOUND",
    "node.volumes.errors.VolumeInUseError": "FAILED_PRECONDITION",
    "node.volumes.errors.VolumeError": "UNKNOWN",
}


def _key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(exc_class: type[BaseException] | str, code: str) -> None:
    """Map ``exc_class`` (or its ``"module.QualName"``) and its subclasses to ``code``."""
    if not hasattr(grpc.StatusCode, code):
        raise ValueError(f"unknown status code name {code!r}")
    REGISTRY[exc_class if isinstance(exc_class, str) else _key(exc_class)] = code


def code_name_for(exc: BaseException, registry: Mapping[str, str] | None = None) -> str | None:
    """The status code name for ``exc``, or None when it is not a mapped domain error."""
    reg = REGISTRY if registry is None else registry
    for cls in type(exc).__mro__:
        if cls is Exception or cls is BaseException:
            break
        name = reg.get(_key(cls))
        if name is None:
            own = cls.__dict__.get("code")
            name = own if isinstance(own, str) and own.isupper() else None
        if name is not None and hasattr(grpc.StatusCode, name):
            return name
    return None


def status_for(exc: BaseException) -> grpc.StatusCode | None:
    """``grpc.StatusCode`` for a domain error, or None when ``exc`` is not one."""
    name = code_name_for(exc)
    return None if name is None else getattr(grpc.StatusCode, name)


async def abort_with(exc: Exception, context: aio.ServicerContext, method: str = "") -> None:
    """Abort the call with the status ``exc`` stands for (see the module notes)."""
    if isinstance(exc, aio.AbortError):
        return
    if isinstance(exc, grpc.RpcError) and callable(getattr(exc, "code", None)):
        details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
        await context.abort(exc.code(), details or "")
    code = status_for(exc)
    if code is None:
        log.error("bug in RPC %s: %s: %s", method or "(unknown method)", type(exc).__name__, exc,
                  exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, str(exc) or type(exc).__name__)
    await context.abort(code, str(exc))


class ErrorInterceptor(aio.ServerInterceptor):
    """Server interceptor: whatever a servicer raises becomes a status (see the module notes)."""

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        method = handler_call_details.method

        async def on_error(exc: Exception, context: aio.ServicerContext) -> None:
            await abort_with(exc, context, method)

        return wrap_handler(await continuation(handler_call_details), on_error=on_error)

