"""The report's output shapes: JSON (SPEC section 12), flat CSV rows, and a terminal table."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from maildesk.reports.types import Duration, Figures, Report

TOTAL_LABEL = "(total)"
DURATIONS = ("taken_into_account", "first_response", "resolution")
EMPTY_NOTE = "No tickets in this period: every figure is zero."


def report_json(report: Report) -> str:
    return json.dumps(report.as_json(), indent=2, ensure_ascii=False)


def csv_columns(report: Report) -> list[str]:
    """One flat column per figure; escalations one column per level that appears."""
    columns = [report.by, "received", "closed", "open", "reopened", "problems"]
    for name in DURATIONS:
        columns += [f"{name}_count", f"{name}_median_s", f"{name}_p90_s", f"{name}_mean_s"]
    columns += ["within_target_first_response", "within_target_resolve"]
    columns += [f"escalations_{level}" for level in report.total.escalations]
    columns += ["self_care", "time_spent", "amount"]
    return columns


def csv_row(report: Report, figures: Figures, key: object) -> list[object]:
    row: list[object] = [
        key,
        figures.received,
        figures.closed,
        figures.open,
        figures.reopened,
        figures.problems,
    ]
    for name in DURATIONS:
        value: Duration = getattr(figures, name)
        row += [value.count, _blank(value.median_s), _blank(value.p90_s), _blank(value.mean_s)]
    row += [_blank(figures.within_first_response), _blank(figures.within_resolve)]
    row += [figures.escalations.get(level, 0) for level in report.total.escalations]
    row += [figures.self_care, figures.time_spent, _blank(figures.amount)]
    return row


def report_csv(report: Report) -> str:
    """The groups then the total as one CSV table (the same figures as the JSON, flat)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_columns(report))
    for group in report.groups:
        writer.writerow(csv_row(report, group, group.key))
    writer.writerow(csv_row(report, report.total, TOTAL_LABEL))
    return out.getvalue()


def _blank(value: object) -> object:
    return "" if value is None else value


def seconds_text(value: float | None) -> str:
    """Seconds as "45s", "20m", "1h20m", "2d3h"; None as "-"."""
    if value is None:
        return "-"
    seconds = int(round(value))
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds // 60, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def percent_text(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


TABLE_HEADINGS = (
    "received",
    "closed",
    "open",
    "reopened",
    "problems",
    "taken (median)",
    "1st response (median)",
    "resolution (median)",
    "in target: 1st resp.",
    "in target: resolve",
    "escalations",
    "self-care",
    "time",
    "amount",
)


def table_cells(figures: Figures) -> list[str]:
    escalations = ", ".join(f"L{level}: {count}" for level, count in figures.escalations.items()) or "0"
    return [
        str(figures.received),
        str(figures.closed),
        str(figures.open),
        str(figures.reopened),
        str(figures.problems),
        seconds_text(figures.taken_into_account.median_s),
        seconds_text(figures.first_response.median_s),
        seconds_text(figures.resolution.median_s),
        percent_text(figures.within_first_response),
        percent_text(figures.within_resolve),
        escalations,
        str(figures.self_care),
        figures.time_spent,
        "-" if figures.amount is None else f"{figures.amount:.2f}",
    ]


def report_table(report: Report) -> str:
    """A readable terminal table: one line per group, the total last, the period above."""
    head = [report.by, *TABLE_HEADINGS]
    rows = [[str(group.key), *table_cells(group)] for group in report.groups]
    rows.append(["Total", *table_cells(report.total)])
    widths = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(len(head))]
    lines = [
        f"Report {_day(report.since)} to {_day(report.until)} ({report.timezone}), by {report.by}; "
        f'durations in business time of the "{report.calendar}" calendar; amounts in {report.currency}',
    ]
    if report.empty:
        lines.append(EMPTY_NOTE)
    lines.append("")
    lines.append(_line(head, widths))
    lines.append("  ".join("-" * width for width in widths))
    lines += [_line(row, widths) for row in rows]
    return "\n".join(lines) + "\n"


def _line(cells: list[str], widths: list[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
    return "  ".join([first, *rest]).rstrip()


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
