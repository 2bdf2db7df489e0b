"""Weekly opening hours: "08:30-12:30" intervals per weekday, parsed and checked, kept as day offsets.

Times are wall-clock times in the calendar's time zone. Each day's intervals
are stored as (start, end) microseconds from local midnight, sorted, so the
arithmetic in ``maildesk.calendars.business`` never parses text again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The day keys of a calendar table, Monday first (``datetime.weekday()`` order).
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

US = 1_000_000  # microseconds per second: the unit of all calendar arithmetic (exact, integer)
DAY_US = 86_400 * US

_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# What an admin may have meant by a key that is not a day name, for a helpful message.
_LONG_DAY_NAMES = {
    "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu", "friday": "fri",
    "saturday": "sat", "sunday": "sun", "lun": "mon", "mar": "tue", "mer": "wed", "jeu": "thu",
    "ven": "fri", "sam": "sat", "dim": "sun", "tues": "tue", "thur": "thu", "thurs": "thu",
}  # fmt: skip

Interval = tuple[int, int]  # (start, end) in microseconds from local midnight; end may be DAY_US


@dataclass(frozen=True)
class HoursProblem:
    """One mistake in a day's hours: the key under the calendar table (``("mon", 1)``) and what is wrong."""

    key: tuple[str | int, ...]
    message: str


def day_name_hint(key: str) -> str | None:
    """The day name an unknown key probably meant ("monday" -> "mon"), or None."""
    return _LONG_DAY_NAMES.get(key.strip().lower())


def parse_interval(text: str) -> Interval:
    """ "08:30-12:30" -> microseconds from midnight; "00:00-24:00" is the whole day. Raises ValueError."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(f'{text!r} is not a time interval like "08:30-12:30"')
    start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
    for hour, minute in ((start_h, start_m), (end_h, end_m)):
        if minute > 59 or hour > 24 or (hour == 24 and minute):
            raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day (00:00 to 24:00)")
    if start_h == 24:
        raise ValueError(f"{text!r}: an interval cannot start at 24:00")
    start, end = (start_h * 60 + start_m) * 60 * US, (end_h * 60 + end_m) * 60 * US
    if end <= start:
        raise ValueError(f"{text!r}: ends before it starts (an interval cannot run past midnight)")
    return start, end


def format_offset(offset: int) -> str:
    minutes = offset // (60 * US)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_day(day: str, value: object) -> tuple[tuple[Interval, ...], list[HoursProblem]]:
    """One day's list of intervals, sorted, with a problem for each bad item and each overlap."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return (), [HoursProblem((day,), f'must be a list of intervals like ["08:30-12:30"], not {value!r}')]
    problems: list[HoursProblem] = []
    parsed: list[tuple[Interval, int]] = []
    for index, text in enumerate(value):
        try:
            parsed.append((parse_interval(text), index))
        except ValueError as exc:
            problems.append(HoursProblem((day, index), str(exc)))
    parsed.sort()
    reach: Interval | None = None  # the interval seen so far that ends last
    for current, index in parsed:
        if reach is not None and current[0] < reach[1]:
            problems.append(
                HoursProblem(
                    (day, index),
                    f"{value[index]!r} overlaps {format_offset(reach[0])}-{format_offset(reach[1])}",
                )
            )
        if reach is None or current[1] > reach[1]:
            reach = current
    return tuple(interval for interval, _ in parsed), problems


@dataclass(frozen=True)
class WeeklyHours:
    """Open intervals for each weekday (Monday first); a day with none is closed."""

    days: tuple[tuple[Interval, ...], ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError("WeeklyHours needs seven days")

    @classmethod
    def always_open(cls) -> WeeklyHours:
        return cls(days=(((0, DAY_US),),) * 7)

    def day_total(self, weekday: int) -> int:
        """Microseconds open on a normal ``weekday``."""
        return sum(end - start for start, end in self.days[weekday])

    @property
    def week_total(self) -> int:
        return sum(self.day_total(weekday) for weekday in range(7))
