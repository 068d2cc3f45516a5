"""Helpers of the control API's unit tests: call a handler, build specs and nodes, and assert
that a refused call changed nothing in the store."""

from __future__ import annotations

import asyncio
import inspect
import re
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import IssuedCertificate, ManagerStatus, Node, NodeStatus, Service
from swarm.api.specs_pb2 import NetworkAttachmentConfig, NodeSpec, ServiceSpec
from swarm.api.types_pb2 import MANAGER, WORKER, PortConfig
from swarm.controlapi import services
from swarm.controlapi.common import Context
from swarm.rpc.errors import code_name_for
from swarm.store.types import ALL_TABLES

Snapshot = tuple[int, dict[str, list[tuple[str, int, bytes]]]]


def call(handler: Callable[..., Any], ctx: Context, req: Any) -> Any:
    """Run a handler the way the control API does, whether it is a coroutine or not."""
    out = handler(ctx, req)
    if inspect.isawaitable(out):
        return asyncio.run(_wait(out))
    return out


async def _wait(aw: Any) -> Any:
    return await aw


def snapshot(store: Any) -> Snapshot:
    """The store index and every stored object (id, version, bytes) of every table."""
    return store.index, {t: sorted((o.id, o.version, o.data) for o in store.list(t))
                         for t in sorted(ALL_TABLES)}


def refused(handler: Callable[..., Any], ctx: Context, req: Any, code: str,
            message: str | re.Pattern[str]) -> BaseException:
    """Assert that the call fails with status ``code`` (what the RPC edge sends) and exactly
    ``message`` (a pattern must match all of it), and that nothing in the store changed."""
    before = snapshot(ctx.store)
    with pytest.raises(Exception) as info:
        call(handler, ctx, req)
    err = info.value
    assert code_name_for(err) == code, f"{type(err).__name__}: {err}"
    if isinstance(message, re.Pattern):
        assert message.fullmatch(str(err)), str(err)
    else:
        assert str(err) == message
    assert snapshot(ctx.store) == before
    return err


def service_spec(name: str = "web", image: str = "busybox:latest", *, replicas: int | None = 1,
                 mode_global: bool = False, ports: Iterable[PortConfig] = (),
                 networks: Iterable[str] = (), labels: dict[str, str] | None = None) -> ServiceSpec:
    s = ServiceSpec()
    s.annotations.name = name
    s.annotations.labels.update(labels or {})
    s.task.container.image = image
    if mode_global:
        getattr(s, "global").SetInParent()
    elif replicas is not None:
        s.replicated.replicas = replicas
    s.endpoint.ports.extend(ports)
    s.task.networks.extend(NetworkAttachmentConfig(target=n) for n in networks)
    return s


def port(target: int, published: int = 0, *, udp: bool = False, host: bool = False) -> PortConfig:
    return PortConfig(target_port=target, published_port=published,
                      protocol=PortConfig.UDP if udp else PortConfig.TCP,
                      publish_mode=PortConfig.HOST if host else PortConfig.INGRESS)


def create(ctx: Context, spec: ServiceSpec) -> Service:
    svc: Service = call(services.create_service, ctx, c.CreateServiceRequest(spec=spec)).service
    return svc


FAR_FUTURE = 4_102_444_800  # 2100-01-01


def make_node(nid: str, *, hostname: str | None = None, manager: bool = False, leader: bool = False,
              state: int = NodeStatus.READY, serials: Iterable[str] = ()) -> Node:
    n = Node(id=nid, role=MANAGER if manager else WORKER)
    n.description.hostname = hostname or nid
    n.spec.desired_role = MANAGER if manager else WORKER
    n.spec.membership = NodeSpec.ACCEPTED
    n.spec.availability = NodeSpec.ACTIVE
    n.status.state = state  # type: ignore[assignment]
    if manager:
        n.manager_status.CopyFrom(ManagerStatus(raft_id=zlib.crc32(nid.encode()), addr=f"{nid}:2377",
                                                leader=leader, reachability=ManagerStatus.REACHABLE))
    for serial in serials:
        cert = IssuedCertificate(serial=serial, role=MANAGER if manager else WORKER)
        cert.not_after.FromSeconds(FAR_FUTURE)
        n.certificates.append(cert)
    return n
