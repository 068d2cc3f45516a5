"""handlers.wrap_handler on every call shape, and the deadline interceptor's defaults."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from grpc import aio

from swarm.rpc.deadlines import DeadlineInterceptor, _with_timeout
from swarm.rpc.handlers import wrap_handler


class Ctx:
    pass


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def unary(req: Any, ctx: Any) -> Any:
    return req * 2


async def agen(req: Any, ctx: Any) -> Any:
    for i in range(req):
        yield i


def sync_gen(req: Any, ctx: Any) -> Any:
    yield from range(req)


async def boom(req: Any, ctx: Any) -> Any:
    raise KeyError("boom")


def test_unary_before_runs_first() -> None:
    order: list[str] = []

    async def before(req: Any, ctx: Any) -> None:
        order.append("before")

    async def behaviour(req: Any, ctx: Any) -> Any:
        order.append("handler")
        return req

    h = wrap_handler(grpc.unary_unary_rpc_method_handler(behaviour), before=before)
    assert h is not None
    assert run(h.unary_unary(5, Ctx())) == 5
    assert order == ["before", "handler"]


def test_stream_shapes() -> None:
    for inner in (agen, sync_gen):
        h = wrap_handler(grpc.unary_stream_rpc_method_handler(inner))
        assert h is not None

        async def collect(handler: Any = h) -> list[int]:
            return [x async for x in handler.unary_stream(3, Ctx())]

        assert run(collect()) == [0, 1, 2]
    h = wrap_handler(grpc.stream_stream_rpc_method_handler(agen))
    assert h is not None and h.stream_stream is not None


def test_on_error_sees_the_exception_and_before_can_stop_the_call() -> None:
    seen: list[BaseException] = []

    async def on_error(exc: Exception, ctx: Any) -> None:
        seen.append(exc)

    h = wrap_handler(grpc.unary_unary_rpc_method_handler(boom), on_error=on_error)
    assert h is not None
    with pytest.raises(KeyError):
        run(h.unary_unary(1, Ctx()))
    assert isinstance(seen[0], KeyError)

    async def refuse(req: Any, ctx: Any) -> None:
        raise PermissionError("no")

    called: list[int] = []

    async def behaviour(req: Any, ctx: Any) -> Any:
        called.append(1)

    # A streaming handler written as a coroutine (``await context.write``) stays a coroutine.
    h = wrap_handler(grpc.unary_stream_rpc_method_handler(behaviour), before=refuse)
    assert h is not None
    with pytest.raises(PermissionError):
        run(h.unary_stream(1, Ctx()))

    async def gen_behaviour(req: Any, ctx: Any) -> Any:
        called.append(1)
        yield 1

    h = wrap_handler(grpc.unary_stream_rpc_method_handler(gen_behaviour), before=refuse)
    assert h is not None

    async def drain() -> None:
        async for _ in h.unary_stream(1, Ctx()):
            pass

    with pytest.raises(PermissionError):
        run(drain())
    assert called == []


def test_none_handler_passes_through() -> None:
    assert wrap_handler(None) is None


def details(timeout: float | None) -> aio.ClientCallDetails:
    return aio.ClientCallDetails("/x/y", timeout, None, None, None)


def test_with_timeout() -> None:
    assert _with_timeout(details(None), 10).timeout == 10
    assert _with_timeout(details(2), 10).timeout == 2
    assert _with_timeout(details(None), None).timeout is None


def test_interceptor_defaults_by_shape() -> None:
    seen: list[float | None] = []

    async def continuation(d: aio.ClientCallDetails, req: Any) -> None:
        seen.append(d.timeout)

    i = DeadlineInterceptor(call_timeout=7, stream_timeout=None)
    run(i.intercept_unary_unary(continuation, details(None), 1))
    run(i.intercept_stream_unary(continuation, details(None), iter([])))
    run(i.intercept_unary_stream(continuation, details(None), 1))
    run(i.intercept_unary_unary(continuation, details(3), 1))
    assert seen == [7, 7, None, 3]
