"""Build calendars from ``[calendars.NAME]`` tables, reporting each mistake with its key.

The config loader turns each ``CalendarProblem`` into ``FILE:LINE: key``:
the key is given under the calendar's table, e.g. ``("mon", 1)`` for the
second interval of Monday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from maildesk.calendars.business import ALWAYS, BusinessCalendar, Calendar
from maildesk.calendars.days_off import DaysOff, check_country
from maildesk.calendars.hours import DAY_NAMES, HoursProblem, WeeklyHours, day_name_hint, parse_day

CALENDAR_KEYS = (*DAY_NAMES, "timezone", "holidays", "country")

CalendarProblem = HoursProblem  # same shape: a key under the calendar's table and a message


def read_calendar(
    name: str, table: object, default_timezone: str = "UTC"
) -> tuple[BusinessCalendar | None, list[CalendarProblem]]:
    """One ``[calendars.NAME]`` table: the calendar, or None with every problem found."""
    if not isinstance(table, dict):
        return None, [CalendarProblem((), "must be a table")]
    problems: list[CalendarProblem] = []
    if name == ALWAYS.name:
        problems.append(CalendarProblem((), '"always" is built in (open 24/7) and cannot be redefined'))
    for key in table:
        if key not in CALENDAR_KEYS:
            hint = day_name_hint(key)
            message = (
                f"unknown day name (write {hint!r})"
                if hint
                else f"unknown key (expected a day name {', '.join(DAY_NAMES)}; timezone, holidays, country)"
            )
            problems.append(CalendarProblem((key,), message))
    days = []
    for day in DAY_NAMES:
        intervals, day_problems = parse_day(day, table.get(day, []))
        days.append(intervals)
        problems.extend(day_problems)
    timezone = table.get("timezone", default_timezone)
    if not _is_zone(timezone):
        problems.append(CalendarProblem(("timezone",), f"{timezone!r} is not a known IANA time zone"))
    listed = _holidays(table.get("holidays", []), problems)
    country = table.get("country")
    if country is not None:
        why = check_country(country) if isinstance(country, str) else f"must be a string, not {country!r}"
        if why is not None:
            problems.append(CalendarProblem(("country",), why))
    hours = WeeklyHours(days=tuple(days))
    if not problems and hours.week_total == 0:
        problems.append(CalendarProblem((), "open no hour of the week: give at least one day's hours"))
    if problems:
        return None, problems
    days_off = DaysOff(listed=frozenset(listed), country=country)
    return BusinessCalendar(name=name, timezone=timezone, hours=hours, days_off=days_off), []


def _is_zone(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _holidays(value: object, problems: list[CalendarProblem]) -> list[date]:
    items = [value] if isinstance(value, str | date) else value
    if not isinstance(items, list):
        problems.append(
            CalendarProblem(("holidays",), f'must be a list of dates like "2026-12-25", not {value!r}')
        )
        return []
    found: list[date] = []
    for index, item in enumerate(items):
        if isinstance(item, date):  # a bare TOML date (2026-12-25) is a date already
            found.append(item)
            continue
        try:
            found.append(date.fromisoformat(item))
        except (TypeError, ValueError):
            problems.append(CalendarProblem(("holidays", index), f'{item!r} is not a date like "2026-12-25"'))
    return found


@dataclass(frozen=True)
class Calendars:
    """The named calendars of a desk, "always" included; ``default`` is ``[desk] calendar``."""

    named: tuple[tuple[str, Calendar], ...] = ()
    default: str = ALWAYS.name

    def get(self, name: str | None) -> Calendar:
        """The calendar called ``name`` (None: the desk's default). Raises KeyError for an unknown name."""
        wanted = name or self.default
        if wanted == ALWAYS.name:
            return ALWAYS
        for known, calendar in self.named:
            if known == wanted:
                return calendar
        raise KeyError(wanted)

    def __contains__(self, name: object) -> bool:
        return name == ALWAYS.name or any(known == name for known, _ in self.named)

    @property
    def names(self) -> tuple[str, ...]:
        return (ALWAYS.name, *(known for known, _ in self.named))
