"""ErrorInterceptor: the one place an exception raised by a servicer becomes a status."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import pytest

from swarm.rpc.errors import ErrorInterceptor

METHOD = "/swarm.api.Control/GetNode"


class Aborted(Exception):
    pass


class Ctx:
    """Just enough of a ServicerContext: ``abort`` records the status and raises."""

    def __init__(self) -> None:
        self.status: tuple[grpc.StatusCode, str] | None = None

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.status = (code, details)
        raise Aborted()


class Details:
    method = METHOD
    invocation_metadata = ()


class NotFound(Exception):
    code = "NOT_FOUND"


class Upstream(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "the leader went away"


def intercepted(behaviour: Any, streaming: bool = False) -> Any:
    make = grpc.unary_stream_rpc_method_handler if streaming else grpc.unary_unary_rpc_method_handler

    async def continuation(_details: Any) -> Any:
        return make(behaviour)

    return asyncio.run(ErrorInterceptor().intercept_service(continuation, Details()))


def call(behaviour: Any) -> Ctx:
    ctx = Ctx()
    handler = intercepted(behaviour)
    with pytest.raises(Aborted):
        asyncio.run(handler.unary_unary(None, ctx))
    return ctx


def test_a_codeless_exception_is_internal_and_its_traceback_is_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    async def buggy(request: Any, context: Any) -> Any:
        raise KeyError("no such thing")

    with caplog.at_level(logging.ERROR, logger="swarm.rpc.errors"):
        ctx = call(buggy)
    assert ctx.status == (grpc.StatusCode.INTERNAL, "'no such thing'")
    [record] = [r for r in caplog.records if r.name == "swarm.rpc.errors"]
    assert METHOD in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert "in buggy" in caplog.text        # the formatted traceback names the servicer's frame


def test_a_domain_error_gets_its_code_and_message_and_logs_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    async def refuses(request: Any, context: Any) -> Any:
        raise NotFound("node abc not found")

    with caplog.at_level(logging.ERROR, logger="swarm.rpc.errors"):
        ctx = call(refuses)
    assert ctx.status == (grpc.StatusCode.NOT_FOUND, "node abc not found")
    assert not [r for r in caplog.records if r.name == "swarm.rpc.errors"]


def test_an_upstream_rpc_error_passes_through() -> None:
    async def relays(request: Any, context: Any) -> Any:
        raise Upstream()

    assert call(relays).status == (grpc.StatusCode.UNAVAILABLE, "the leader went away")


def test_streaming_handlers_are_mapped_too() -> None:
    async def stream(request: Any, context: Any) -> Any:
        yield 1
        raise NotFound("session invalid")

    ctx = Ctx()
    handler = intercepted(stream, streaming=True)

    async def drain() -> list[int]:
        return [x async for x in handler.unary_stream(None, ctx)]

    with pytest.raises(Aborted):
        asyncio.run(drain())
    assert ctx.status == (grpc.StatusCode.NOT_FOUND, "session invalid")
