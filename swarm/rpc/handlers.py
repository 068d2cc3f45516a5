"""Wrapping grpc.aio method handlers, so interceptors can act with the call's ``context``.

Design notes
------------
A grpc.aio ``ServerInterceptor`` sees only ``HandlerCallDetails`` (method name and metadata): no
``context``, hence no ``auth_context()`` and no way to abort a call with a status. What it *can*
do is return a different ``RpcMethodHandler``. :func:`wrap_handler` rebuilds the handler around the
original behaviour with an ``around`` hook that runs in the call's own task, with the request and
the ``ServicerContext``: it may check and ``await context.abort(...)``, set a context variable
(each RPC runs in its own asyncio task, so a ``ContextVar`` set here is private to the call and
visible to the servicer), or translate exceptions.

All four call shapes are handled; the servicer method may be a coroutine function, an async
generator function (streaming responses), or a plain function (run as is).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

#: ``before(request_or_iterator, context)``: runs before the servicer; may abort.
Before = Callable[[Any, aio.ServicerContext], Awaitable[None]]
#: ``on_error(exc, context)``: runs when the servicer raises; may abort, or return to re-raise.
OnError = Callable[[Exception, aio.ServicerContext], Awaitable[None]]


async def _result(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _wrap_unary_response(behavior: Callable[..., Any], before: Before | None, on_error: OnError | None):
    async def wrapped(request: Any, context: aio.ServicerContext) -> Any:
        if before is not None:
            await before(request, context)
        try:
            return await _result(behavior(request, context))
        except Exception as exc:
            if on_error is None:
                raise
            await on_error(exc, context)
            raise

    return wrapped


def _wrap_stream_response(behavior: Callable[..., Any], before: Before | None, on_error: OnError | None):
    if inspect.isasyncgenfunction(behavior) or not inspect.iscoroutinefunction(behavior):

        async def wrapped_gen(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            if before is not None:
                await before(request, context)
            try:
                responses = behavior(request, context)
                if hasattr(responses, "__aiter__"):
                    async for item in responses:
                        yield item
                else:
                    for item in responses:
                        yield item
            except Exception as exc:
                if on_error is None:
                    raise
                await on_error(exc, context)
                raise

        return wrapped_gen

    # A coroutine that streams with ``await context.write(...)``.
    return _wrap_unary_response(behavior, before, on_error)


def wrap_handler(
    handler: grpc.RpcMethodHandler | None,
    *,
    before: Before | None = None,
    on_error: OnError | None = None,
) -> grpc.RpcMethodHandler | None:
    """Return ``handler`` with ``before``/``on_error`` hooks around its behaviour."""
    if handler is None:
        return None
    kw = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary_response(handler.unary_unary, before, on_error), **kw
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _wrap_stream_response(handler.unary_stream, before, on_error), **kw
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _wrap_unary_response(handler.stream_unary, before, on_error), **kw
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _wrap_stream_response(handler.stream_stream, before, on_error), **kw
        )
    return handler
