"""Translation tables, Docker JSON -> protobuf, for networks, secrets and configs (moby
api/swagger.yaml NetworkCreateRequest, SecretSpec, ConfigSpec)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from google.protobuf.message import Message

from swarm.api import specs_pb2 as s
from swarm.api import types_pb2 as t
from swarm.engineapi.errors import BadRequest
from swarm.engineapi.tables import (
    DRIVER,
    LABELS,
    NAME,
    F,
    Table,
    assign,
    boolean,
    message,
    messages,
    string,
    string_map,
)
from swarm.engineapi.tables import ignore as _ignore

IPAM_CONFIG = Table(
    t.IPAMConfig,
    {"Subnet": F("subnet", string), "IPRange": F("range", string), "Gateway": F("gateway", string)},
    unsupported={"AuxiliaryAddresses": ()},
)


def _ipam(v: Any, path: str) -> Message:
    if not isinstance(v, dict):
        raise BadRequest(f"invalid {path}: expected an object")
    if v.get("Driver") not in (None, "", "default"):
        raise BadRequest(
            f"{path}.Driver {v['Driver']!r} is not supported by pyswarm (only the default IPAM driver)"
        )
    configs = messages(IPAM_CONFIG)(v.get("Config") or [], f"{path}.Config")
    return t.IPAMOptions(configs=configs)


def _driver(v: Any, path: str) -> None:
    name = string(v, path)
    if name not in ("", "overlay"):
        raise BadRequest(
            f"network driver {name!r} is not supported by pyswarm: only overlay (swarm scope) networks"
        )


def _set_options(msg: Message, v: dict[str, str]) -> None:
    assign(msg.driver_config, "options", v)  # type: ignore[attr-defined]


def _scope(v: Any, path: str) -> None:
    if string(v, path) not in ("", "swarm"):
        raise BadRequest(f"network scope {v!r} is not supported by pyswarm: only swarm")


NETWORK = Table(
    s.NetworkSpec,
    {
        "Name": NAME,
        "Labels": LABELS,
        "Driver": F("", _driver, setter=_ignore),
        "Internal": F("internal", boolean),
        "Attachable": F("attachable", boolean),
        "Ingress": F("ingress", boolean),
        "IPAM": F("ipam", _ipam),
        "Scope": F("", _scope, setter=_ignore),
        "CheckDuplicate": F("", boolean, setter=_ignore),  # names are always checked
        "Options": F("", string_map, setter=_set_options),
    },
    unsupported={"EnableIPv6": (), "ConfigOnly": (), "ConfigFrom": ()},
)


def network_spec(body: Any) -> s.NetworkSpec:
    if isinstance(body, dict) and body.get("EnableIPv4") is False:
        raise BadRequest("EnableIPv4=false is not supported by pyswarm")
    body = {k: v for k, v in body.items() if k != "EnableIPv4"} if isinstance(body, dict) else body
    spec = NETWORK.decode(body, "NetworkCreateRequest")
    assert isinstance(spec, s.NetworkSpec)
    if not spec.annotations.name:
        raise BadRequest("network name must not be empty")
    spec.driver_config.name = "overlay"
    return spec


def _data(v: Any, path: str) -> bytes:
    try:
        return base64.b64decode(string(v, path), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"invalid {path}: expected base64-encoded data") from None


SECRET = Table(
    s.SecretSpec,
    {
        "Name": NAME,
        "Labels": LABELS,
        "Data": F("data", _data),
        "Driver": F("driver", message(DRIVER)),
        "Templating": F("templating", message(DRIVER)),
    },
)
CONFIG = Table(
    s.ConfigSpec,
    {
        "Name": NAME,
        "Labels": LABELS,
        "Data": F("data", _data),
        "Templating": F("templating", message(DRIVER)),
    },
)


def secret_spec(body: Any) -> s.SecretSpec:
    spec = SECRET.decode(body, "SecretSpec")
    assert isinstance(spec, s.SecretSpec)
    return spec


def config_spec(body: Any) -> s.ConfigSpec:
    spec = CONFIG.decode(body, "ConfigSpec")
    assert isinstance(spec, s.ConfigSpec)
    return spec
