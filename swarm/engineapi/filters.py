"""Docker's ``filters`` query parameter: a JSON object of ``key -> {value: true}`` (or, from
old clients, ``key -> [value]``), checked against the keys each endpoint accepts (moby's
``filters.Args.Validate``: an unknown key is ``invalid filter 'KEY'``, a 400)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from swarm.engineapi.errors import BadRequest


class Filters:
    def __init__(self, values: Mapping[str, list[str]]) -> None:
        self._values = dict(values)

    @classmethod
    def parse(cls, raw: str | None, accepted: Iterable[str]) -> Filters:
        if not raw:
            return cls({})
        try:
            doc = json.loads(raw)
        except ValueError:
            raise BadRequest(f"invalid filter: {raw!r} is not JSON") from None
        if not isinstance(doc, dict):
            raise BadRequest("invalid filter: expected a JSON object")
        ok = set(accepted)
        values: dict[str, list[str]] = {}
        for k, v in doc.items():
            if k not in ok:
                raise BadRequest(f"invalid filter '{k}'")
            if isinstance(v, dict):
                values[k] = [str(x) for x, on in v.items() if on]
            elif isinstance(v, list):
                values[k] = [str(x) for x in v]
            else:
                raise BadRequest(f"invalid filter '{k}': expected an object or an array of values")
        return cls(values)

    def get(self, key: str) -> list[str]:
        return list(self._values.get(key, []))

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def pairs(self) -> list[str]:
        """Every value as ``key=value`` (the daemon's own filter syntax for volumes)."""
        return [f"{k}={v}" for k, vs in self._values.items() for v in vs]

    def labels(self, key: str = "label") -> dict[str, str]:
        """``label=k`` and ``label=k=v`` values as a map (an empty value matches any)."""
        out = {}
        for x in self.get(key):
            k, _, v = x.partition("=")
            out[k] = v
        return out

    def boolean(self, key: str) -> bool | None:
        vals = self.get(key)
        if not vals:
            return None
        v = vals[0].lower()
        if v not in ("true", "false", "1", "0"):
            raise BadRequest(f"invalid filter '{key}={vals[0]}': expected true or false")
        return v in ("true", "1")


def labels_match(want: Mapping[str, str], have: Mapping[str, str]) -> bool:
    return all(k in have and (not v or have[k] == v) for k, v in want.items())


def prefix_match(values: list[str], *candidates: str) -> bool:
    """Empty ``values``: everything matches; else one value prefixes one candidate."""
    return not values or any(c.startswith(v) for v in values for c in candidates if c)
