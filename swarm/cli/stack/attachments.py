"""A Compose service's attachments -> ContainerSpec / EndpointSpec / TaskSpec fields
(docker/cli ``cli/compose/convert/volume.go``, ``service.go``): mounts (named volumes scoped
to the stack, binds resolved against the project directory, tmpfs), secret and config
references (targets default to the Compose key, ``/<key>`` for configs; uid/gid ``0``, mode
0444), published ports (short and long syntax, ranges) and network attachments (the short
service name as an alias on each). Refusals name their key path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swarm.api.specs_pb2 import EndpointSpec, NetworkAttachmentConfig
from swarm.api.types_pb2 import ConfigReference, FileTarget, Mount, PortConfig, SecretReference
from swarm.cli.client import CLIError
from swarm.cli.stack.context import NAMESPACE_LABEL, StackContext
from swarm.cli.stack.load import networks_mapping

# ----------------------------------------------------------------------------------- mounts
_MODES = {"ro", "rw", "nocopy", "z", "Z", "rprivate", "private", "rshared", "shared", "rslave", "slave"}


def mounts(path: str, svc: Mapping[str, Any], ctx: StackContext) -> list[Mount]:
    out = []
    for i, v in enumerate(svc.get("volumes") or []):
        out.append(_mount(f"{path}.volumes.{i}", v, ctx))
    tmpfs = svc.get("tmpfs")
    for t in [tmpfs] if isinstance(tmpfs, str) else tmpfs or []:
        out.append(Mount(type=Mount.TMPFS, target=str(t)))
    return out


def _is_path(src: str) -> bool:
    return src.startswith(("/", ".", "~"))


def _mount(path: str, v: Any, ctx: StackContext) -> Mount:
    if isinstance(v, str):
        parts = v.split(":")
        if len(parts) > 3 or not all(parts):
            raise CLIError(f"{path}: invalid volume specification {v!r}")
        if len(parts) == 1:
            return Mount(type=Mount.VOLUME, target=parts[0])
        src, target = parts[0], parts[1]
        opts = parts[2].split(",") if len(parts) == 3 else []
        bad = [o for o in opts if o not in _MODES]
        if bad:
            raise CLIError(f"{path}: invalid mode {bad[0]!r} in {v!r}")
        m = Mount(type=Mount.BIND if _is_path(src) else Mount.VOLUME, source=src, target=target,
                  readonly="ro" in opts)
        if m.type == Mount.VOLUME and "nocopy" in opts:
            m.volume_options.nocopy = True
        prop = [o for o in opts if o.endswith(("private", "shared", "slave"))]
        if prop:
            if m.type != Mount.BIND:
                raise CLIError(f"{path}: propagation {prop[0]!r} is for bind mounts only")
            m.bind_options.propagation = prop[0]
    else:
        kinds = {"volume": Mount.VOLUME, "bind": Mount.BIND, "tmpfs": Mount.TMPFS}
        if v["type"] not in kinds:
            raise CLIError(f"{path}.type: mount type {v['type']!r} is not supported (volume, bind or tmpfs)")
        if not v.get("target"):
            raise CLIError(f"{path}.target: is required")
        m = Mount(type=kinds[v["type"]], source=str(v.get("source") or ""), target=str(v["target"]),
                  readonly=bool(v.get("read_only")))
        for opt, kind in (("volume", Mount.VOLUME), ("bind", Mount.BIND), ("tmpfs", Mount.TMPFS)):
            if opt in v and m.type != kind:
                raise CLIError(f"{path}.{opt}: options for {opt} mounts on a {v['type']} mount")
        if (v.get("volume") or {}).get("nocopy"):
            m.volume_options.nocopy = True
        if (v.get("bind") or {}).get("propagation"):
            m.bind_options.propagation = v["bind"]["propagation"]
        if (v.get("tmpfs") or {}).get("size") is not None:
            m.tmpfs_options.size_bytes = int(v["tmpfs"]["size"])
        if m.type == Mount.TMPFS and m.source:
            raise CLIError(f"{path}.source: a tmpfs mount has no source")
    if m.type == Mount.BIND:
        if not m.source:
            raise CLIError(f"{path}.source: a bind mount needs a source")
        src_path = Path(os.path.expanduser(m.source))
        m.source = os.path.normpath(src_path if src_path.is_absolute() else ctx.project_dir / src_path)
    elif m.type == Mount.VOLUME and m.source:
        vol = ctx.volumes.get(m.source)
        if vol is None:
            raise CLIError(f'{path}: undefined volume "{m.source}"')
        m.source = vol["name"]
        if not vol.get("external"):
            m.volume_options.labels.update(vol.get("labels") or {})
            m.volume_options.labels[NAMESPACE_LABEL] = ctx.namespace
            if vol.get("driver"):
                m.volume_options.driver_config.name = vol["driver"]
            m.volume_options.driver_config.options.update(vol.get("driver_opts") or {})
    return m


# ------------------------------------------------------------------------- secrets, configs
def _file_ref(path: str, v: Any, declared: Mapping[str, str], kind: str, default_target: str) -> tuple[str, FileTarget]:
    if isinstance(v, str):
        v = {"source": v}
    src = v.get("source")
    if not src:
        raise CLIError(f"{path}.source: is required")
    if src not in declared:
        raise CLIError(f'{path}: undefined {kind} "{src}"')
    target = FileTarget(name=str(v.get("target") or default_target.format(src)),
                        uid=str(v.get("uid", "0")), gid=str(v.get("gid", "0")),
                        mode=int(v["mode"]) if v.get("mode") is not None else 0o444)
    return declared[src], target


def secret_refs(path: str, refs: list[Any], ctx: StackContext) -> list[SecretReference]:
    out = []
    for i, v in enumerate(refs):
        name, target = _file_ref(f"{path}.secrets.{i}", v, ctx.secrets, "secret", "{}")
        out.append(SecretReference(secret_name=name, file=target))
    return out


def config_refs(path: str, refs: list[Any], ctx: StackContext) -> list[ConfigReference]:
    out = []
    for i, v in enumerate(refs):
        name, target = _file_ref(f"{path}.configs.{i}", v, ctx.configs, "config", "/{}")
        out.append(ConfigReference(config_name=name, file=target))
    return out


# ------------------------------------------------------------------------ ports and networks
def endpoint(ep: EndpointSpec, path: str, svc: Mapping[str, Any], deploy: Mapping[str, Any]) -> None:
    mode = deploy.get("endpoint_mode")
    if mode is not None:
        if mode not in ("vip", "dnsrr"):
            raise CLIError(f"{path}.deploy.endpoint_mode: must be vip or dnsrr")
        ep.mode = EndpointSpec.DNSRR if mode == "dnsrr" else EndpointSpec.VIP
    for i, p in enumerate(svc.get("ports") or []):
        ep.ports.extend(parse_port(f"{path}.ports.{i}", p))


_PROTOCOLS = {"tcp": PortConfig.TCP, "udp": PortConfig.UDP, "sctp": PortConfig.SCTP}


def _range(path: str, s: str) -> list[int]:
    lo, sep, hi = s.partition("-")
    try:
        a, b = int(lo), int(hi) if sep else int(lo)
    except ValueError:
        raise CLIError(f"{path}: invalid port {s!r}") from None
    if not (0 < a <= b < 65536):
        raise CLIError(f"{path}: invalid port {s!r}")
    return list(range(a, b + 1))


def parse_port(path: str, v: Any) -> list[PortConfig]:
    """Short (``"8080:80"``, ``"80"``, ``"8000-8001:80-81/udp"``, ``80``) or long syntax."""
    if isinstance(v, dict):
        proto = str(v.get("protocol") or "tcp").lower()
        if proto not in _PROTOCOLS:
            raise CLIError(f"{path}.protocol: must be tcp, udp or sctp")
        mode = v.get("mode") or "ingress"
        if mode not in ("ingress", "host"):
            raise CLIError(f"{path}.mode: must be ingress or host")
        if not v.get("target"):
            raise CLIError(f"{path}.target: is required")
        return [PortConfig(target_port=v["target"], published_port=v.get("published") or 0,
                           protocol=_PROTOCOLS[proto],  # type: ignore[arg-type]
                           publish_mode=PortConfig.HOST if mode == "host" else PortConfig.INGRESS)]
    body, _, proto = str(v).partition("/")
    proto = (proto or "tcp").lower()
    if proto not in _PROTOCOLS:
        raise CLIError(f"{path}: invalid protocol {proto!r} in {v!r}")
    parts = body.split(":")
    if len(parts) > 2:
        raise CLIError(f"{path}: a host IP ({parts[0]}) cannot be given for a swarm port: {v!r}")
    targets = _range(path, parts[-1])
    published = _range(path, parts[0]) if len(parts) == 2 else []
    if published and len(published) != len(targets):
        if len(published) == 1:
            published = published * len(targets)
        else:
            raise CLIError(f"{path}: port ranges do not match in {v!r}")
    return [PortConfig(target_port=t, published_port=published[i] if published else 0,
                       protocol=_PROTOCOLS[proto],  # type: ignore[arg-type]
                       publish_mode=PortConfig.INGRESS) for i, t in enumerate(targets)]


def networks(name: str, path: str, svc: Mapping[str, Any], ctx: StackContext) -> list[NetworkAttachmentConfig]:
    nets = networks_mapping(svc.get("networks")) if svc.get("networks") else {"default": None}
    out = []
    for key, opts in nets.items():
        if key not in ctx.networks:
            raise CLIError(f'{path}.networks: service "{name}" refers to undefined network {key}: '
                           "invalid compose project")
        opts = opts or {}
        for unsupported in ("ipv4_address", "ipv6_address", "link_local_ips", "priority"):
            if unsupported in opts:
                raise CLIError(f"{path}.networks.{key}.{unsupported}: not supported in a swarm stack")
        aliases = [str(a) for a in opts.get("aliases") or []]
        out.append(NetworkAttachmentConfig(target=ctx.networks[key], aliases=[*aliases, name]))
    return sorted(out, key=lambda n: n.target)
