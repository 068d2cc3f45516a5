"""A validated Compose document -> the stack's objects (docker/cli ``cli/compose/convert``).

One function per object kind: :func:`convert_network`, :func:`convert_secret`,
:func:`convert_config`, :func:`volume_entry` (named volumes are made by each node's driver on
first use, so they become mount options, not objects), and ``servicemap.convert_service``;
:func:`convert_stack` runs them all and returns a :class:`StackObjects`, or refuses with the
first problem found. Nothing here talks to the daemon.

Names: ``<stack>_<key>`` unless ``name:`` is given (then as written) or the object is
``external`` (its ``name:`` or its key). Every object made gets the label
``com.docker.stack.namespace=<stack>``. Only networks some service uses are made (Docker's
``getServicesDeclaredNetworks``); ``default`` is an overlay unless the file declares it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm.api.specs_pb2 import ConfigSpec, NetworkSpec, SecretSpec, ServiceSpec
from swarm.api.types_pb2 import IPAMConfig
from swarm.cli.client import CLIError
from swarm.cli.stack.context import NAMESPACE_LABEL, StackContext
from swarm.cli.stack.load import kv_mapping, networks_mapping
from swarm.cli.stack.servicemap import DEPRECATED, classify_keys, convert_service

_STACK_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
SECRET_MAX = 500 * 1024
CONFIG_MAX = 1000 * 1024


@dataclass
class StackObjects:
    namespace: str
    networks: list[NetworkSpec] = field(default_factory=list)         # made by the stack
    external_networks: list[str] = field(default_factory=list)
    secrets: list[SecretSpec] = field(default_factory=list)
    external_secrets: list[str] = field(default_factory=list)
    configs: list[ConfigSpec] = field(default_factory=list)
    external_configs: list[str] = field(default_factory=list)
    services: list[ServiceSpec] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)                   # keys Swarm does not use
    deprecated: list[str] = field(default_factory=list)


def validate_stack_name(namespace: str) -> None:
    if not _STACK_NAME.fullmatch(namespace):
        raise CLIError(f"invalid stack name {namespace!r}: it must start with a letter or a digit and hold "
                       "only letters, digits, '_', '.' and '-'")


def _external(path: str, obj: Mapping[str, Any], key: str) -> str | None:
    """The real name of an external object, or None when it is the stack's own."""
    ext = obj.get("external")
    if not ext:
        return None
    if isinstance(ext, dict) and ext.get("name"):
        if obj.get("name") and obj["name"] != ext["name"]:
            raise CLIError(f"{path}: external.name and name conflict")
        return str(ext["name"])
    return str(obj.get("name") or key)


def _labels(obj: Mapping[str, Any], namespace: str) -> dict[str, str]:
    out = {k: "" if v is None else str(v) for k, v in kv_mapping(obj.get("labels")).items()}
    out[NAMESPACE_LABEL] = namespace
    return out


def _only_external(path: str, obj: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    extra = [k for k in obj if k not in allowed and not k.startswith("x-")]
    if extra:
        raise CLIError(f"{path}: conflicting parameters \"external\" and \"{extra[0]}\" specified")


# ---------------------------------------------------------------------------------- objects
def convert_network(ctx: StackContext, key: str, net: Mapping[str, Any]) -> NetworkSpec:
    path = f"networks.{key}"
    driver = net.get("driver") or "overlay"
    if driver != "overlay":
        raise CLIError(f"{path}.driver: network driver {driver!r} is not supported (overlay only)")
    if net.get("enable_ipv6"):
        raise CLIError(f"{path}.enable_ipv6: not supported yet")
    spec = NetworkSpec(attachable=bool(net.get("attachable")), internal=bool(net.get("internal")))
    spec.annotations.name = str(net.get("name") or ctx.scoped(key))
    spec.annotations.labels.update(_labels(net, ctx.namespace))
    spec.driver_config.name = "overlay"
    spec.driver_config.options.update({k: str(v) for k, v in (net.get("driver_opts") or {}).items()})
    ipam = net.get("ipam") or {}
    if ipam.get("driver") not in (None, "default"):
        raise CLIError(f"{path}.ipam.driver: IPAM driver {ipam['driver']!r} is not supported (default only)")
    for i, c in enumerate(ipam.get("config") or []):
        extra = [k for k in c if k not in ("subnet", "gateway")]
        if extra:
            raise CLIError(f"{path}.ipam.config.{i}.{extra[0]}: not supported (subnet and gateway only)")
        if not c.get("subnet"):
            raise CLIError(f"{path}.ipam.config.{i}.subnet: is required")
        spec.ipam.configs.append(IPAMConfig(subnet=str(c["subnet"]), gateway=str(c.get("gateway") or "")))
    return spec


def _payload(ctx: StackContext, path: str, obj: Mapping[str, Any], limit: int) -> bytes:
    if obj.get("file") is None:
        raise CLIError(f"{path}: file is required (or external: true)")
    p = Path(os.path.expanduser(str(obj["file"])))
    p = p if p.is_absolute() else ctx.project_dir / p
    try:
        data = p.read_bytes()
    except OSError as e:
        raise CLIError(f"{path}.file: cannot read {p}: {(e.strerror or str(e)).lower()}") from None
    if len(data) >= limit:
        raise CLIError(f"{path}.file: {p} is {len(data)} bytes, more than the limit of {limit // 1024} KiB")
    return data


def convert_secret(ctx: StackContext, key: str, obj: Mapping[str, Any]) -> SecretSpec:
    path = f"secrets.{key}"
    for k in ("driver", "driver_opts"):
        if obj.get(k):
            raise CLIError(f"{path}.{k}: not supported yet")
    spec = SecretSpec(data=_payload(ctx, path, obj, SECRET_MAX))
    if obj.get("template_driver"):                   # Docker's Templating: {Name: driver}
        spec.templating.name = str(obj["template_driver"])
    spec.annotations.name = str(obj.get("name") or ctx.scoped(key))
    spec.annotations.labels.update(_labels(obj, ctx.namespace))
    return spec


def convert_config(ctx: StackContext, key: str, obj: Mapping[str, Any]) -> ConfigSpec:
    path = f"configs.{key}"
    spec = ConfigSpec(data=_payload(ctx, path, obj, CONFIG_MAX))
    if obj.get("template_driver"):                   # Docker's Templating: {Name: driver}
        spec.templating.name = str(obj["template_driver"])
    spec.annotations.name = str(obj.get("name") or ctx.scoped(key))
    spec.annotations.labels.update(_labels(obj, ctx.namespace))
    return spec


def volume_entry(ctx: StackContext, key: str, vol: Mapping[str, Any]) -> dict[str, Any]:
    """What a mount of named volume ``key`` needs: its real name and driver options."""
    path = f"volumes.{key}"
    ext = _external(path, vol, key)
    if ext is not None:
        _only_external(path, vol, ("external", "name"))
        return {"name": ext, "external": True}
    driver = vol.get("driver") or "local"
    if driver != "local":
        raise CLIError(f"{path}.driver: volume driver {driver!r} is not supported (local only)")
    return {"name": str(vol.get("name") or ctx.scoped(key)), "driver": vol.get("driver"),
            "driver_opts": {k: str(v) for k, v in (vol.get("driver_opts") or {}).items()},
            "labels": {k: v for k, v in _labels(vol, ctx.namespace).items() if k != NAMESPACE_LABEL}}


# ------------------------------------------------------------------------------ the stack
def convert_stack(namespace: str, config: Mapping[str, Any], project_dir: Path,
                  environ: Mapping[str, str] | None = None) -> StackObjects:
    validate_stack_name(namespace)
    ctx = StackContext(namespace, project_dir, environ=dict(os.environ) if environ is None else environ)
    out = StackObjects(namespace)
    services: Mapping[str, Any] = config.get("services") or {}
    if not services:
        raise CLIError("services: a stack needs at least one service")
    for name, svc in services.items():
        ignored, deprecated = classify_keys(name, svc or {})
        out.ignored += [k for k in ignored if k not in out.ignored]
        out.deprecated += [k for k in deprecated if k not in out.deprecated]

    declared_nets: dict[str, Any] = dict(config.get("networks") or {})
    used = {n for svc in services.values()
            for n in (networks_mapping((svc or {}).get("networks")) if (svc or {}).get("networks")
                      else {"default": None})}
    for key in sorted(used):
        net = declared_nets.get(key)
        if net is None and key != "default":
            continue                                  # convert_service names the undefined one
        net = net or {}
        ext = _external(f"networks.{key}", net, key)
        if ext is not None:
            _only_external(f"networks.{key}", net, ("external", "name"))
            ctx.networks[key] = ext
            out.external_networks.append(ext)
        else:
            spec = convert_network(ctx, key, net)
            ctx.networks[key] = spec.annotations.name
            out.networks.append(spec)

    for key, vol in (config.get("volumes") or {}).items():
        ctx.volumes[key] = volume_entry(ctx, key, vol or {})
    for key, obj in (config.get("secrets") or {}).items():
        ext = _external(f"secrets.{key}", obj or {}, key)
        if ext is not None:
            _only_external(f"secrets.{key}", obj or {}, ("external", "name"))
            ctx.secrets[key] = ext
            out.external_secrets.append(ext)
        else:
            sspec = convert_secret(ctx, key, obj or {})
            ctx.secrets[key] = sspec.annotations.name
            out.secrets.append(sspec)
    for key, obj in (config.get("configs") or {}).items():
        ext = _external(f"configs.{key}", obj or {}, key)
        if ext is not None:
            _only_external(f"configs.{key}", obj or {}, ("external", "name"))
            ctx.configs[key] = ext
            out.external_configs.append(ext)
        else:
            cspec = convert_config(ctx, key, obj or {})
            ctx.configs[key] = cspec.annotations.name
            out.configs.append(cspec)

    for name, svc in services.items():
        out.services.append(convert_service(name, svc or {}, ctx))
    return out


def warning_lines(objs: StackObjects) -> list[str]:
    """What Docker's CLI prints about keys it does not use."""
    lines = []
    if objs.ignored:
        lines.append(f"Ignoring unsupported options: {', '.join(sorted(objs.ignored))}")
        lines.append("")
    if objs.deprecated:
        lines.append("Ignoring deprecated options:")
        lines.append("")
        lines += [f"{k}: {DEPRECATED[k]}" for k in sorted(objs.deprecated)]
        lines.append("")
    return lines
