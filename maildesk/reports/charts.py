"""The report page's charts as inline SVG, drawn by leather (plain SVG, no script, no external resource)."""

from __future__ import annotations

from datetime import datetime, time

import leather

from maildesk.reports.types import Report

# leather's look is module-wide settings (its documented way to theme); these suit a printed page.
for _name in ("title_font_family", "legend_font_family", "axis_title_font_family", "tick_font_family"):
    setattr(leather.theme, _name, "Helvetica, Arial, sans-serif")
leather.theme.background_color = "#ffffff"
leather.theme.margin = 0.02  # of the width: the default 5% leaves a short chart no room for its bars
leather.theme.title_font_size = 15
leather.theme.tick_font_size = 12
leather.theme.tick_font_char_width = 7
leather.theme.tick_color = "#e5e7eb"
leather.theme.label_color = "#4b5563"
leather.theme.default_series_colors = ["#1d4ed8", "#059669", "#d97706", "#7c3aed", "#dc2626"]

WIDTH = 720
LABEL_CHARACTERS = 22  # group names longer than this are cut on the chart (the tables show them whole)


def _svg(chart: leather.Chart, height: int) -> str:
    return chart.to_svg(width=WIDTH, height=height)


def volume_per_day(report: Report, received: str = "received", closed: str = "closed") -> str | None:
    """Requests received and closed each day of the period (None when the period has no day to draw)."""
    if len(report.days) < 2:
        return None
    chart = leather.Chart()
    received_points = [(datetime.combine(d.day, time.min), d.received) for d in report.days]
    closed_points = [(datetime.combine(d.day, time.min), d.closed) for d in report.days]
    chart.add_line(received_points, name=received)
    chart.add_line(closed_points, name=closed)
    top = max(max(d.received, d.closed) for d in report.days)
    chart.add_y_scale(0, max(top, 1))
    return _svg(chart, 260)


def tickets_per_group(report: Report) -> str | None:
    """Requests received per group, largest first."""
    rows = sorted(((g.received, _short(g.key)) for g in report.groups), key=lambda row: -row[0])
    if not rows:
        return None
    chart = leather.Chart()
    chart.add_bars(rows[:20])
    chart.add_x_scale(0, max(1, max(count for count, _ in rows)))
    return _svg(chart, 70 + 30 * min(len(rows), 20))


def first_response_spread(report: Report) -> str | None:
    """How many first responses fell in each band of time."""
    if not any(count for _, count in report.first_response_spread):
        return None
    chart = leather.Chart()
    chart.add_columns(list(report.first_response_spread))
    return _svg(chart, 240)


def within_target_per_level(
    report: Report, first: str = "first response", resolve: str = "resolve"
) -> str | None:
    """The share of tickets within target at each level (first response and resolution), in percent."""
    rows = []
    for level in report.levels:
        for name, share in ((first, level.first_response), (resolve, level.resolve)):
            if share is not None:
                rows.append((round(share * 100, 1), _short(f"{level.level} {level.name}: {name}", 34)))
    if not rows:
        return None
    chart = leather.Chart()
    chart.add_bars(rows)
    chart.add_x_scale(0, 100)
    return _svg(chart, 70 + 30 * len(rows))


def _short(key: object, limit: int = LABEL_CHARACTERS) -> str:
    text = "(none)" if key is None else str(key)
    return text if len(text) <= limit else text[: limit - 1] + "…"
