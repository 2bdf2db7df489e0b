"""The self-contained HTML report page: inline CSS, inline SVG charts, no script, no external resource."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from maildesk.config import Settings
from maildesk.reports import charts
from maildesk.reports.billing import COLUMNS
from maildesk.reports.period import Period
from maildesk.reports.shapes import DURATIONS, TABLE_HEADINGS, percent_text, seconds_text, table_cells
from maildesk.reports.types import Duration, Figures, Report

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
)


def local_text(moment: datetime, timezone: str) -> str:
    """A period's bound in the desk's zone: the date alone at midnight, else date and time."""
    local = moment.astimezone(ZoneInfo(timezone))
    return (
        local.strftime("%Y-%m-%d")
        if (local.hour, local.minute) == (0, 0)
        else local.strftime("%Y-%m-%d %H:%M")
    )


def period_text(since: datetime, until: datetime, timezone: str) -> str:
    return f"from {local_text(since, timezone)} to {local_text(until, timezone)}"


def _cards(report: Report) -> list[tuple[str, str]]:
    total = report.total
    cards = [
        ("received", str(total.received)),
        ("closed", str(total.closed)),
        ("open at the end", str(total.open)),
        ("reopened", str(total.reopened)),
        ("problems", str(total.problems)),
        ("first response (median)", seconds_text(total.first_response.median_s)),
        ("first response within target", percent_text(total.within_first_response)),
        ("resolved within target", percent_text(total.within_resolve)),
        ("self-care", str(total.self_care)),
        ("time spent", total.time_spent),
    ]
    if total.amount is not None:
        cards.append((f"amount ({report.currency})", f"{total.amount:.2f}"))
    return cards


def _duration_cells(figures: Figures) -> list[str]:
    cells = []
    for name in DURATIONS:
        value: Duration = getattr(figures, name)
        cells += [
            str(value.count),
            seconds_text(value.median_s),
            seconds_text(value.p90_s),
            seconds_text(value.mean_s),
        ]
    return cells


def _escalations(report: Report) -> list[tuple[str, int, int, int]]:
    rows = []
    for level, count in report.total.escalations.items():
        timer = report.escalations_by_timer.get(level, 0)
        rows.append((level, timer, count - timer, count))
    return rows


def report_page(report: Report, settings: Settings) -> str:
    """The whole page for ``report`` (built with ``charts=True``)."""
    svg = [
        ("Volume per day: received and closed", charts.volume_per_day(report)),
        (f"Tickets received per {report.by}", charts.tickets_per_group(report)),
        ("First response: how long the requesters waited", charts.first_response_spread(report)),
        ("Share within target per level (%)", charts.within_target_per_level(report)),
    ]
    return _ENV.get_template("page.html.j2").render(
        desk_name=settings.desk.name,
        period=period_text(report.since, report.until, report.timezone),
        report=report,
        cards=_cards(report),
        charts=[(caption, Markup(_inline(chart)) if chart else None) for caption, chart in svg],
        headings=TABLE_HEADINGS,
        rows=[(_label(group.key), table_cells(group)) for group in report.groups],
        total=table_cells(report.total),
        duration_names=[name.replace("_", " ") for name in DURATIONS],
        duration_rows=[(_label(g.key), _duration_cells(g)) for g in (*report.groups,)]
        + [("Total", _duration_cells(report.total))],
        escalations=_escalations(report),
        made_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _inline(svg: str) -> str:
    """An SVG document as an element of the page: no XML prolog; described for screen readers."""
    if svg.startswith("<?xml"):
        svg = svg[svg.index("?>") + 2 :].lstrip()
    return svg.replace("<svg ", '<svg role="img" ', 1)


def _label(key: object) -> str:
    return "(none)" if key is None else str(key)


_TICKETS_PAGE = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ desk_name }}: tickets {{ period }}</title>
<style>
body { font: 13px/1.4 Helvetica, Arial, sans-serif; margin: 24px; color: #111827; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 6px; text-align: left; }
thead th { border-bottom: 2px solid #9ca3af; }
@media print { body { margin: 0; } tr { break-inside: avoid; } }
</style></head><body>
<h1>{{ desk_name }}: tickets {{ period }}</h1>
<table id="tickets"><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for line in lines %}<tr>
{% for c in columns %}<td>{{ "" if line[c] is none else line[c] }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table></body></html>
""",
    autoescape=True,
)


def tickets_page(settings: Settings, period: Period, lines: Iterable[dict]) -> str:
    """The billing detail as one self-contained page."""
    return _TICKETS_PAGE.render(
        desk_name=settings.desk.name,
        period=period_text(period.since, period.until, period.timezone),
        columns=COLUMNS,
        lines=lines,
    )
