"""How commands print: JSON, tables and CSV of the SPEC section 8 shapes (each group builds its own)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime


def iso(moment: datetime | None) -> str | None:
    """UTC, ISO 8601 with Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return " ".join(str(value).split())


def render_table(rows: Sequence[dict], columns: Sequence[str], *, max_width: int = 50) -> str:
    if not rows:
        return "(none)"
    cells = [[_cell(row.get(c))[:max_width] for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def render_csv(rows: Sequence[dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue().rstrip("\n")


def print_rows(rows: list[dict], columns: tuple[str, ...], fmt: str) -> None:
    """A list command's rows as JSON, CSV or a table."""
    if fmt == "json":
        print(dumps(rows))
    elif fmt == "csv":
        print(render_csv(rows, columns))
    else:
        print(render_table(rows, columns))
