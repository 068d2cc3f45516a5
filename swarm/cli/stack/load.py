"""Reading Compose files: YAML (safe loader), ``.env``, interpolation, merging.

* ``-c -`` reads standard input. Paths inside the files (``env_file``, bind sources, ``file:``
  of secrets and configs) are relative to the *project directory*, the directory of the first
  file (the current directory for stdin), as Compose reads them in every file.
* Interpolation (the Compose Specification's rules, compose-go ``template``): ``$VAR``,
  ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}`` (unset),
  ``${VAR:?err}``/``${VAR?err}`` (a required variable), ``${VAR:+alt}``/``${VAR+alt}``, defaults
  themselves interpolated, ``$$`` for a literal ``$``. Values come from the environment, then
  from ``.env`` in the project directory. An unset variable without a default is the empty
  string and a warning. Only values are interpolated, never keys.
* After interpolation, values at the paths the schema wants as numbers or booleans
  (``deploy.replicas: ${N}``) are cast, as compose-go does, so ``"3"`` from a variable counts.
* Several files merge as Compose merges them (compose-spec ``merge.md``): mappings key by key;
  ``environment``/``labels``/``sysctls``/``ulimits`` as mappings (list forms read as
  ``KEY=VALUE``); ``volumes`` by container path, ``secrets``/``configs`` by source, service
  ``networks`` by name; ``command``, ``entrypoint`` and ``healthcheck.test`` replaced; other
  sequences appended without duplicates; any other value replaced.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from swarm.cli.client import CLIError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", re.S)


@dataclass
class Loaded:
    """The merged, interpolated Compose document and where its relative paths start."""

    config: dict[str, Any]
    project_dir: Path
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------- reading
def read_text(path: str, stdin: TextIO | None = None) -> str:
    if path == "-":
        return (stdin or sys.stdin).read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CLIError(f"open {path}: no such file or directory") from None
    except IsADirectoryError:
        raise CLIError(f"read {path}: is a directory") from None
    except OSError as e:
        raise CLIError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    except UnicodeDecodeError:
        raise CLIError(f"{path}: not UTF-8 text") from None


def parse_yaml(text: str, name: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise CLIError(f"{name}: invalid YAML: {' '.join(str(e).split())}") from None
    if doc is None:
        raise CLIError(f"{name}: empty Compose file")
    if not isinstance(doc, dict):
        raise CLIError(f"{name}: top-level object must be a mapping")
    return doc


def read_env_file(path: Path) -> dict[str, str]:
    """``.env``: ``KEY=VALUE`` lines (``export`` allowed), ``#`` comments, quotes stripped."""
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return out
    except (OSError, UnicodeDecodeError) as e:
        raise CLIError(f"{path}: cannot read: {e}") from None
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not _NAME.fullmatch(key):
            raise CLIError(f"{path}:{n}: invalid variable name {key!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value if sep else ""
    return out


# --------------------------------------------------------------------------- interpolation
def dotted(path: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in path)


class _Interpolator:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.unset: list[str] = []

    def value(self, obj: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(obj, dict):
            return {k: self.value(v, (*path, str(k))) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.value(v, (*path, i)) for i, v in enumerate(obj)]
        if isinstance(obj, str) and "$" in obj:
            return self.string(obj, path)
        return obj

    def string(self, s: str, path: tuple[str | int, ...]) -> str:
        out: list[str] = []
        i = 0
        while i < len(s):
            c = s[i]
            if c != "$":
                out.append(c)
                i += 1
                continue
            nxt = s[i + 1:i + 2]
            if nxt == "$":
                out.append("$")
                i += 2
            elif nxt == "{":
                end = self._closing(s, i + 2)
                if end < 0:
                    raise self._invalid(s, path)
                out.append(self._braced(s[i + 2:end], s, path))
                i = end + 1
            else:
                m = _NAME.match(s, i + 1)
                if not m:
                    raise self._invalid(s, path)
                out.append(self._lookup(m.group(0)))
                i = m.end()
        return "".join(out)

    @staticmethod
    def _closing(s: str, j: int) -> int:
        depth = 1
        while j < len(s):
            if s.startswith("${", j):
                depth += 1
                j += 2
                continue
            if s[j] == "}":
                depth -= 1
                if depth == 0:
                    return j
            j += 1
        return -1

    def _braced(self, inner: str, whole: str, path: tuple[str | int, ...]) -> str:
        m = _BRACED.fullmatch(inner)
        if not m:
            raise self._invalid(whole, path)
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        val = self.env.get(name)
        if op is None:
            return self._lookup(name)
        empty_counts = op.startswith(":")
        missing = val is None or (empty_counts and val == "")
        kind = op[-1]
        if kind == "-":
            return self.string(arg, path) if missing else str(val)
        if kind == "+":
            return "" if missing else self.string(arg, path)
        if missing:                                   # "?": required
            raise CLIError(f"required variable {name} is missing a value: {self.string(arg, path)}"
                           if arg else f"required variable {name} is missing a value")
        return str(val)

    def _lookup(self, name: str) -> str:
        val = self.env.get(name)
        if val is None:
            if name not in self.unset:
                self.unset.append(name)
            return ""
        return val

    @staticmethod
    def _invalid(value: str, path: tuple[str | int, ...]) -> CLIError:
        return CLIError(f'invalid interpolation format for {dotted(path)}: "{value}". '
                        "You may need to escape any $ with another $.")


def interpolate(doc: dict[str, Any], env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """``doc`` with every value interpolated from ``env``, and the warnings (unset variables)."""
    it = _Interpolator(env)
    out = it.value(doc, ())
    warnings = [f'The "{n}" variable is not set. Defaulting to a blank string.' for n in it.unset]
    return cast_types(out), warnings


# ------------------------------------------------------------------------------ type casts
_TRUE = {"y", "yes", "true", "on"}
_FALSE = {"n", "no", "false", "off"}


def _to_int(v: str) -> Any:
    return int(v) if re.fullmatch(r"[+-]?\d+", v.strip()) else v


def _to_float(v: str) -> Any:
    try:
        return float(v)
    except ValueError:
        return v


def _to_bool(v: str) -> Any:
    low = v.strip().lower()
    return True if low in _TRUE else False if low in _FALSE else v


_SVC = ("services", "*")
_CASTS: dict[tuple[str, ...], Callable[[str], Any]] = {
    (*_SVC, "deploy", "replicas"): _to_int,
    (*_SVC, "deploy", "placement", "max_replicas_per_node"): _to_int,
    (*_SVC, "deploy", "update_config", "parallelism"): _to_int,
    (*_SVC, "deploy", "rollback_config", "parallelism"): _to_int,
    (*_SVC, "deploy", "update_config", "max_failure_ratio"): _to_float,
    (*_SVC, "deploy", "rollback_config", "max_failure_ratio"): _to_float,
    (*_SVC, "deploy", "restart_policy", "max_attempts"): _to_int,
    (*_SVC, "deploy", "resources", "limits", "pids"): _to_int,
    (*_SVC, "ports", "*", "target"): _to_int,
    (*_SVC, "ports", "*", "published"): _to_int,
    (*_SVC, "healthcheck", "retries"): _to_int,
    (*_SVC, "healthcheck", "disable"): _to_bool,
    (*_SVC, "read_only"): _to_bool,
    (*_SVC, "init"): _to_bool,
    (*_SVC, "tty"): _to_bool,
    (*_SVC, "privileged"): _to_bool,
    (*_SVC, "stdin_open"): _to_bool,
    (*_SVC, "oom_score_adj"): _to_int,
    (*_SVC, "secrets", "*", "mode"): _to_int,
    (*_SVC, "configs", "*", "mode"): _to_int,
    (*_SVC, "volumes", "*", "read_only"): _to_bool,
    (*_SVC, "volumes", "*", "tmpfs", "size"): _to_int,
    (*_SVC, "ulimits", "*"): _to_int,
    (*_SVC, "ulimits", "*", "soft"): _to_int,
    (*_SVC, "ulimits", "*", "hard"): _to_int,
    ("networks", "*", "external"): _to_bool,
    ("networks", "*", "attachable"): _to_bool,
    ("networks", "*", "internal"): _to_bool,
    ("volumes", "*", "external"): _to_bool,
    ("secrets", "*", "external"): _to_bool,
    ("configs", "*", "external"): _to_bool,
}


def cast_types(doc: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(doc, dict):
        return {k: cast_types(v, (*path, str(k))) for k, v in doc.items()}
    if isinstance(doc, list):
        return [cast_types(v, (*path, "*")) for v in doc]
    if isinstance(doc, str):
        for pattern, fn in _CASTS.items():
            if len(pattern) == len(path) and all(p in ("*", q) for p, q in zip(pattern, path, strict=True)):
                return fn(doc)
    return doc


# ---------------------------------------------------------------------------------- merging
_AS_MAPPING = ("environment", "labels", "sysctls", "ulimits")
_REPLACED = ("command", "entrypoint")


def kv_mapping(value: Any, sep: str = "=") -> dict[str, Any]:
    """A ``KEY=VALUE`` list (``KEY`` alone: no value) or a mapping, as a mapping."""
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    for item in value or []:
        k, s, v = str(item).partition(sep)
        out[k] = v if s else None
    return out


def _volume_key(v: Any) -> Any:
    if isinstance(v, dict):
        return v.get("target")
    parts = str(v).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _ref_key(v: Any) -> Any:
    return v.get("source") if isinstance(v, dict) else v


def _merge_by(base: list[Any], over: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    out = {key(v): v for v in base}
    for v in over:
        out[key(v)] = v
    return list(out.values())


def networks_mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {n: None for n in value or []}


def _merge_service(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if k not in out:
            out[k] = v
        elif k in _AS_MAPPING:
            out[k] = {**kv_mapping(out[k]), **kv_mapping(v)}
        elif k == "volumes":
            out[k] = _merge_by(out[k] or [], v or [], _volume_key)
        elif k in ("secrets", "configs"):
            out[k] = _merge_by(out[k] or [], v or [], _ref_key)
        elif k == "networks":
            out[k] = merge_values(networks_mapping(out[k]), networks_mapping(v))
        elif k in _REPLACED:
            out[k] = v
        elif k == "healthcheck" and isinstance(v, dict) and isinstance(out[k], dict):
            out[k] = {**out[k], **v}
        elif k == "deploy" and isinstance(v, dict) and isinstance(out[k], dict):
            d = merge_values(out[k], {x: y for x, y in v.items() if x != "labels"})
            if "labels" in v:
                d["labels"] = {**kv_mapping(out[k].get("labels")), **kv_mapping(v["labels"])}
            out[k] = d
        else:
            out[k] = merge_values(out[k], v)
    return out


def merge_values(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge_values(out[k], v) if k in out else v
        return out
    if isinstance(base, list) and isinstance(over, list):
        return base + [v for v in over if v not in base]
    return over


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` (a later ``-c`` file) merged onto ``base``."""
    out = dict(base)
    for k, v in over.items():
        if k == "services" and isinstance(v, dict) and isinstance(out.get(k), dict):
            services = dict(out[k])
            for name, svc in v.items():
                old = services.get(name)
                services[name] = _merge_service(old, svc) if isinstance(old, dict) and isinstance(svc, dict) \
                    else svc
            out[k] = services
        elif k in out:
            out[k] = merge_values(out[k], v)
        else:
            out[k] = v
    return out


# ------------------------------------------------------------------------------------- load
def load(paths: Sequence[str], environ: Mapping[str, str] | None = None, stdin: TextIO | None = None,
         validate: Callable[[dict[str, Any], str], None] | None = None) -> Loaded:
    """Read, interpolate, validate (each file, with ``validate(doc, file_name)``) and merge."""
    if not paths:
        raise CLIError("Please specify a Compose file (with --compose-file)")
    if list(paths).count("-") > 1:
        raise CLIError("only one Compose file may be read from standard input")
    first = paths[0]
    project_dir = Path.cwd() if first == "-" else Path(first).resolve().parent
    env: dict[str, str] = {**read_env_file(project_dir / ".env"),
                           **(os.environ if environ is None else environ)}
    merged: dict[str, Any] | None = None
    warnings: list[str] = []
    for p in paths:
        name = "standard input" if p == "-" else p
        doc, warns = interpolate(parse_yaml(read_text(p, stdin), name), env)
        warnings += [w for w in warns if w not in warnings]
        if validate is not None:
            validate(doc, name)
        merged = doc if merged is None else merge(merged, doc)
    assert merged is not None
    return Loaded(merged, project_dir, warnings)
