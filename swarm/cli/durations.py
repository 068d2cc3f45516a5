"""Go-style durations (`5s`, `1m30s`, `2160h0m0s`, `300ms`) as the CLI flags take them."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(s: str) -> float:
    """Seconds in a Go duration string; a bare `0` is allowed. Raises ValueError."""
    s = s.strip()
    if s in ("0", "+0", "-0"):
        return 0.0
    neg = s.startswith("-")
    body = s.lstrip("+-")
    if not body:
        raise ValueError(f"time: invalid duration \"{s}\"")
    pos, total = 0, 0.0
    while pos < len(body):
        m = _PART.match(body, pos)
        if m is None:
            if re.match(r"\d", body[pos:]):
                raise ValueError(f"time: missing unit in duration \"{s}\"")
            raise ValueError(f"time: invalid duration \"{s}\"")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return -total if neg else total


def format_duration(seconds: float) -> str:
    """Go's Duration.String(): 5s, 1m30s, 2160h0m0s, 500ms, 0s."""
    if seconds == 0:
        return "0s"
    neg = seconds < 0
    seconds = abs(seconds)
    if seconds < 1:
        ms = seconds * 1000
        out = f"{ms:g}ms" if ms >= 1 else f"{seconds * 1e6:g}µs"
        return ("-" if neg else "") + out
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    s_str = f"{s:.9f}".rstrip("0").rstrip(".")
    if h:
        out = f"{int(h)}h{int(m)}m{s_str}s"
    elif m:
        out = f"{int(m)}m{s_str}s"
    else:
        out = f"{s_str}s"
    return ("-" if neg else "") + out
