"""Output formatting shared by every command: tables, `--format json`, `-q`, durations.

Tables follow Docker's Go tabwriter settings (min width 10, padding 3, space padding, headers
upper case). `--format json` prints one JSON object per line with Docker's field names; `-q`
prints IDs only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from swarm.cli.client import CLIError
from swarm.gotemplate import Template, TemplateError
from swarm.shapes.units import human_duration

MIN_WIDTH = 10
PADDING = 3


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Render like text/tabwriter.NewWriter(out, 10, 1, 3, ' ', 0): every cell but the last
    in a row is padded to max(column width + 3, 10)."""
    rows = [list(map(str, r)) for r in rows]
    cols = len(headers)
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r[:cols]):
            widths[i] = max(widths[i], len(cell))
    widths = [max(w + PADDING, MIN_WIDTH) for w in widths]
    out = []
    for r in [list(headers), *(list(x) for x in rows)]:
        r = r + [""] * (cols - len(r))
        cells = [c.ljust(widths[i]) if i < cols - 1 else c for i, c in enumerate(r[:cols])]
        out.append("".join(cells).rstrip())
    return "\n".join(out)


def emit_listing(
    fmt: str | None,
    quiet: bool,
    headers: Sequence[str],
    keys: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    id_key: str = "ID",
) -> None:
    """Print records as a table (default), JSON lines (`--format json`) or IDs (`-q`).

    `headers` are the table headers; `keys` the record keys shown in each column, in order.
    Records may carry more keys than are shown (all of them go to JSON output).
    """
    if quiet:
        for rec in records:
            click.echo(rec[id_key])
        return
    if fmt == "json":
        for rec in records:
            click.echo(json.dumps({k: v for k, v in rec.items() if not k.startswith("_")},
                                  separators=(",", ":"), ensure_ascii=False))
        return
    if fmt not in (None, "", "table"):
        if fmt.startswith("table"):
            click.echo(template_table(fmt[len("table"):].lstrip(" "), headers, keys, records))
            return
        tpl = _compile(fmt)
        for rec in records:
            click.echo(_execute(tpl, rec))
        return
    rows = [[_cell(rec.get("_table_" + k, rec.get(k, ""))) for k in keys] for rec in records]
    click.echo(table(headers, rows))


def _cell(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return "" if v is None else str(v)


def _compile(fmt: str) -> Template:
    try:
        return Template(fmt.replace("\\t", "\t").replace("\\n", "\n"))
    except TemplateError as e:
        raise CLIError(f"template parsing error: {e}") from None


def _execute(tpl: Template, data: Any) -> str:
    try:
        return tpl.execute(data)
    except TemplateError as e:
        raise CLIError(f"template parsing error: {e}") from None


def render_template(fmt: str, rec: Any) -> str:
    """``--format`` as a Go template (:mod:`swarm.gotemplate`) against Docker's JSON shape;
    ``\\t`` and ``\\n`` typed literally in a shell are the tab and newline, as in Docker."""
    return _execute(_compile(fmt), rec)


def _header(key: str) -> str:
    """Docker's column header for a field nobody named: ``CreatedAt`` -> ``CREATED AT``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).upper()


class _Headers(Mapping[str, Any]):
    """The data a ``table`` template's header row is rendered from: every field is its header."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = names

    def __getitem__(self, key: str) -> str:
        return self.names.get(key, _header(key))

    def __iter__(self) -> Any:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def template_table(body: str, headers: Sequence[str], keys: Sequence[str],
                   records: Sequence[Mapping[str, Any]]) -> str:
    """``--format 'table {{.ID}}\\t{{.Name}}'``: a header row, then one row per record, columns
    split on tabs and aligned as Docker's tabwriter does."""
    tpl = _compile(body or "\t".join("{{." + k + "}}" for k in keys))
    head = _execute(tpl, _Headers(dict(zip(keys, headers, strict=False)))).split("\t")
    rows = [_execute(tpl, rec).split("\t") for rec in records]
    width = max([len(head), *(len(r) for r in rows)])
    return table([*head, *[""] * (width - len(head))], rows)


def truncate_id(i: str, no_trunc: bool = False) -> str:
    return i if no_trunc else i[:12]


def ago(ts: datetime | None, now: datetime | None = None) -> str:
    if ts is None:
        return ""
    now = now or datetime.now(UTC)
    return human_duration((now - ts).total_seconds()).lower() + " ago"


def capitalize(s: str) -> str:
    return s[:1].upper() + s[1:].lower() if s else s


def bytes_human(n: float) -> str:
    """go-units BytesSize (binary units, 3 significant digits)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


def human_size(n: float) -> str:
    """go-units HumanSize (decimal units, 4 significant digits): ``0B``, ``1.5kB``, ``12.3MB``."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.4g}{units[i]}"
