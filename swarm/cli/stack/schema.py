"""Validation of a Compose document against the Compose Specification's JSON Schema.

The schema is ``compose-spec/compose_spec.json`` beside this module, as the ``docker-compose``
1.29.2 package ships it (Apache-2.0, its licence kept next to it); the validator is
``jsonschema``'s for the draft the schema names (2019-09). Nothing here checks keys by hand: what
the schema accepts and Swarm cannot do is refused later, key by key, in ``convert.py``.

Errors name the key path, one line each, in document order:
``services.web.deploy.replicas: must be an integer``,
``services.web: additional property 'foo' is not allowed``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from swarm.cli.client import CLIError

SCHEMA_PATH = Path(__file__).with_name("compose-spec") / "compose_spec.json"
MAX_ERRORS = 10

_TYPE_WORDS = {"integer": "an integer", "object": "a mapping", "array": "a list", "string": "a string",
               "boolean": "a boolean", "number": "a number", "null": "null"}


@lru_cache(maxsize=1)
def validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # the file's "$schema" (http://json-schema.org/draft/2019-09/schema#) is not the draft's
    # exact URI, so the draft it names is chosen here rather than looked up
    cls = jsonschema.Draft201909Validator
    cls.check_schema(schema)
    return cls(schema)


def _path(e: ValidationError) -> str:
    return ".".join(str(p) for p in e.absolute_path) or "(top level)"


def _types(t: Any) -> str:
    ts = t if isinstance(t, list) else [t]
    return " or ".join(_TYPE_WORDS.get(str(x), str(x)) for x in ts)


def _unexpected(e: ValidationError) -> list[str]:
    props = set(e.schema.get("properties", {}))
    patterns = list(e.schema.get("patternProperties", {}))
    import re

    return sorted(str(k) for k in e.instance
                  if k not in props and not any(re.search(p, str(k)) for p in patterns))


def message(e: ValidationError) -> str:
    """One line for one schema error: ``<key path>: <what is wrong>``."""
    if e.validator in ("oneOf", "anyOf") and e.context:
        same_place = [c for c in e.context if not c.relative_path]
        if same_place and all(c.validator == "type" for c in same_place) and len(same_place) == len(e.context):
            kinds: list[str] = []
            for c in same_place:
                for t in c.validator_value if isinstance(c.validator_value, list) else [c.validator_value]:
                    if t not in kinds:
                        kinds.append(t)
            return f"{_path(e)}: must be {_types(kinds)}"
        # the branch that got past the type check is the one the author meant
        deeper = [c for c in e.context if c.relative_path or c.validator != "type"]
        return message(best_match(deeper or e.context))
    if e.validator == "type":
        return f"{_path(e)}: must be {_types(e.validator_value)}"
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        extra = _unexpected(e)
        if len(extra) == 1:
            return f"{_path(e)}: additional property '{extra[0]}' is not allowed"
        return f"{_path(e)}: additional properties {', '.join(repr(x) for x in extra)} are not allowed"
    if e.validator == "required":
        missing = [r for r in e.validator_value if isinstance(e.instance, dict) and r not in e.instance]
        return f"{_path(e)}: {', '.join(missing)} is required"
    if e.validator == "enum":
        return f"{_path(e)}: must be one of {', '.join(str(v) for v in e.validator_value)}"
    if e.validator == "uniqueItems":
        return f"{_path(e)}: contains duplicate items"
    return f"{_path(e)}: {e.message}"


def validate(doc: dict[str, Any], name: str = "") -> None:
    """Refuse ``doc`` (of file ``name``) with every schema error, key paths in document order."""
    errors = sorted(validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    lines = [message(e) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        lines.append(f"... and {len(errors) - MAX_ERRORS} more")
    where = f"{name}: " if name else ""
    raise CLIError(f"{where}invalid Compose file:\n" + "\n".join(lines) if len(lines) > 1
                   else f"{where}{lines[0]}")
