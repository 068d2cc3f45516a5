"""`/secrets` and `/configs`: list (filters), inspect, create, update (labels, with version),
delete. The two are the same five calls on two tables, so one set of handlers serves both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from swarm.api import control_pb2 as c
from swarm.api import types_pb2
from swarm.engineapi.filters import Filters
from swarm.engineapi.http import Handler, Route, backend, body, empty, reply, version_param
from swarm.engineapi.resources import config_spec, secret_spec
from swarm.shapes.engine import config_doc, secret_doc

FILTERS = ("id", "label", "name", "names")


@dataclass(frozen=True)
class Kind:
    """One of the two: the RPC names, request types and shapes that differ between them."""

    noun: str  # "secret" | "config"
    spec: Callable[[Any], Any]  # Docker JSON -> SecretSpec | ConfigSpec
    doc: Callable[[Any], dict[str, Any]]
    list_req: Any
    get_req: Any
    create_req: Any
    update_req: Any
    remove_req: Any

    @property
    def title(self) -> str:
        return self.noun.capitalize()

    def rpc(self, request: web.Request, verb: str, plural: bool = False) -> Any:
        return getattr(backend(request).control, f"{verb}{self.title}{'s' if plural else ''}")

    def one(self, resp: Any) -> Any:
        return getattr(resp, self.noun)


SECRET = Kind(
    "secret",
    secret_spec,
    secret_doc,
    c.ListSecretsRequest,
    c.GetSecretRequest,
    c.CreateSecretRequest,
    c.UpdateSecretRequest,
    c.RemoveSecretRequest,
)
CONFIG = Kind(
    "config",
    config_spec,
    config_doc,
    c.ListConfigsRequest,
    c.GetConfigRequest,
    c.CreateConfigRequest,
    c.UpdateConfigRequest,
    c.RemoveConfigRequest,
)


def handlers(k: Kind) -> list[Route]:
    async def get(request: web.Request, ref: str) -> Any:
        r = await backend(request).call(k.rpc(request, "Get"), k.get_req(**{f"{k.noun}_id": ref}))
        return k.one(r)

    async def list_(request: web.Request) -> web.StreamResponse:
        f = Filters.parse(request.query.get("filters"), FILTERS)
        lf = k.list_req.Filters(names=f.get("names"), name_prefixes=f.get("name"), id_prefixes=f.get("id"))
        lf.labels.update(f.labels())
        r = await backend(request).call(k.rpc(request, "List", plural=True), k.list_req(filters=lf))
        return reply([k.doc(x) for x in getattr(r, k.noun + "s")])

    async def inspect(request: web.Request) -> web.StreamResponse:
        return reply(k.doc(await get(request, request.match_info["id"])))

    async def create(request: web.Request) -> web.StreamResponse:
        spec = k.spec(await body(request, f"{k.title}Spec"))
        r = await backend(request).call(k.rpc(request, "Create"), k.create_req(spec=spec))
        return reply({"ID": k.one(r).id}, status=201)

    async def update(request: web.Request) -> web.StreamResponse:
        version = version_param(request)
        spec = k.spec(await body(request, f"{k.title}Spec"))
        cur = await get(request, request.match_info["id"])
        await backend(request).call(
            k.rpc(request, "Update"),
            k.update_req(
                **{
                    f"{k.noun}_id": cur.id,
                    f"{k.noun}_version": types_pb2.Version(index=version),
                    "spec": spec,
                }
            ),
        )
        return empty()

    async def delete(request: web.Request) -> web.StreamResponse:
        cur = await get(request, request.match_info["id"])
        await backend(request).call(k.rpc(request, "Remove"), k.remove_req(**{f"{k.noun}_id": cur.id}))
        return empty(204)

    base = f"/{k.noun}s"
    routes: list[tuple[str, str, Handler]] = [
        ("GET", base, list_),
        ("POST", f"{base}/create", create),
        ("GET", base + "/{id}", inspect),
        ("POST", base + "/{id}/update", update),
        ("DELETE", base + "/{id}", delete),
    ]
    return routes


ROUTES: list[Route] = handlers(SECRET) + handlers(CONFIG)
