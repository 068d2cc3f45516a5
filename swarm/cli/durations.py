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


def parse_timestamp(value: str, now: float | None = None) -> float:
    """``--since``'s value as Unix seconds (docker/api/types/time GetTimestamp): a Go duration
    before now (``10m``, ``1h30m``), Unix seconds (``1700000000``, ``1700000000.5``), or an
    RFC 3339 / ISO date-time (``2026-12-03T06:00:00Z``, ``2026-12-03T06:00:00.123+01:00``,
    ``2026-12-03T06:00:00`` and ``2026-12-03`` read as UTC, as Docker reads them). Raises ValueError."""
    import time
    from datetime import UTC, datetime

    v = value.strip()
    if re.fullmatch(r"\d+(\.\d{1,9})?", v):
        return float(v)
    if re.fullmatch(r"[+-]?[\d.]+(ns|us|µs|ms|s|m|h).*", v):
        return (time.time() if now is None else now) - parse_duration(v)
    iso = v[:-1] + "+00:00" if v.endswith("Z") else v
    frac = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", iso)
    if frac:                                   # Python takes at most 6 fraction digits
        iso = f"{frac.group(1)}.{frac.group(2)[:6].ljust(6, '0')}{frac.group(3)}"
    try:
        d = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f'failed to parse value as time or duration: "{value}"') from None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()
