"""Business-time arithmetic: when a clock of N business seconds started at an instant falls due,
and how many business seconds lie between two instants.

An instant is open when its wall-clock time in the calendar's zone falls in
one of that weekday's intervals and its date is not a day off. Everything
else follows from that one definition: lunch breaks, weekends and holidays
are simply closed; across a daylight-saving change the real time the office
is open is counted (23 real hours in a spring "00:00-24:00" day, 25 in an
autumn one). The arithmetic runs on integer microseconds, one stretch of
constant UTC offset at a time (``zone.ZoneOffsets``), and inside one stretch
on wall time: day by day, skipping whole weeks without a day off at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from maildesk.calendars.days_off import DaysOff
from maildesk.calendars.hours import DAY_US, US, WeeklyHours
from maildesk.calendars.zone import ZoneOffsets

WEEK_US = 7 * DAY_US
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday is 0)
#: A calendar open so little that a due time lies this far away is a mistake, not a deadline.
MAX_SPAN_DAYS = 20 * 366


class Calendar(Protocol):
    """What clocks and reports use; ``AlwaysCalendar`` and ``BusinessCalendar`` both provide it.

    Instants are timezone-aware datetimes (any zone; results are in UTC).
    """

    @property
    def name(self) -> str: ...

    def add_business_time(self, start: datetime, seconds: float | timedelta) -> datetime:
        """The instant at which ``seconds`` of business time counted from ``start`` have passed."""
        ...

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Business seconds in [start, end); negative when ``end`` comes first."""
        ...

    def is_open(self, instant: datetime) -> bool: ...


def _micros(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError("business-time arithmetic needs timezone-aware datetimes")
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _as_micros(seconds: float | timedelta) -> int:
    if isinstance(seconds, timedelta):
        return (seconds.days * 86_400 + seconds.seconds) * US + seconds.microseconds
    return round(seconds * US)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AlwaysCalendar:
    """The built-in "always" calendar: open 24/7, so business time is plain elapsed time."""

    name: str = "always"

    def add_business_time(self, start: datetime, seconds: float | timedelta) -> datetime:
        delta = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        return start + delta

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        return (end - start).total_seconds()

    def is_open(self, instant: datetime) -> bool:
        return True


ALWAYS = AlwaysCalendar()


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours per weekday in a time zone, less whole days off."""

    name: str
    timezone: str
    hours: WeeklyHours
    days_off: DaysOff = field(default_factory=DaysOff, compare=False)
    _offsets: ZoneOffsets = field(init=False, repr=False, compare=False)
    _day_totals: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _week_total: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.hours.week_total <= 0:
            raise ValueError(f"calendar {self.name!r} is open no hour of the week")
        object.__setattr__(self, "_offsets", ZoneOffsets(ZoneInfo(self.timezone)))
        object.__setattr__(self, "_day_totals", tuple(self.hours.day_total(day) for day in range(7)))
        object.__setattr__(self, "_week_total", self.hours.week_total)

    # -- the public API: datetimes in, datetimes or seconds out -------------------------------

    def add_business_time(self, start: datetime, seconds: float | timedelta) -> datetime:
        return _instant(self.add_micros(_micros(start), _as_micros(seconds)))

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        return self.micros_between(_micros(start), _micros(end)) / US

    def is_open(self, instant: datetime) -> bool:
        micros = _micros(instant)
        offset, _end = self._offsets.offset_at(micros)
        wall = micros + offset
        day, in_day = divmod(wall, DAY_US)
        if self.days_off.is_closed(day):
            return False
        return any(start <= in_day < end for start, end in self.hours.days[(day + _EPOCH_WEEKDAY) % 7])

    # -- the same on integer microseconds since the epoch (UTC), for callers in bulk -----------

    def add_micros(self, start: int, amount: int) -> int:
        """The instant (µs) at which ``amount`` business µs counted from ``start`` have passed."""
        if amount <= 0:
            return start
        instant, remaining = start, amount
        limit = start + MAX_SPAN_DAYS * DAY_US
        while instant < limit:
            offset, segment_end = self._offsets.offset_at(instant)
            wall, remaining = self._advance_wall(instant + offset, remaining, segment_end + offset)
            if remaining == 0:
                return wall - offset
            instant = segment_end
        raise ValueError(
            f"calendar {self.name!r}: no {amount / US / 3600:.1f} business hours within 20 years"
        )

    def micros_between(self, start: int, end: int) -> int:
        """Business µs in [start, end); negative when ``end`` comes first."""
        if end < start:
            return -self.micros_between(end, start)
        total, instant = 0, start
        while instant < end:
            offset, segment_end = self._offsets.offset_at(instant)
            stop = min(end, segment_end)
            total += self._open_wall(instant + offset, stop + offset)
            instant = stop
        return total

    # -- wall time inside one stretch of constant offset --------------------------------------

    def _advance_wall(self, wall: int, remaining: int, limit: int) -> tuple[int, int]:
        """Use up to ``remaining`` open µs from ``wall``, not past ``limit``: (stopped where, µs left)."""
        days, closed, totals = self.hours.days, self.days_off.is_closed, self._day_totals
        day = wall // DAY_US
        while wall < limit:
            day_start = day * DAY_US
            if wall == day_start and remaining > self._week_total // 2 and limit - wall >= WEEK_US:
                week = self._week_open(day)
                if remaining > week:
                    remaining -= week  # the whole week is used: no need to walk its days
                    wall += WEEK_US
                    day += 7
                    continue
            weekday = (day + _EPOCH_WEEKDAY) % 7
            if totals[weekday] and not closed(day):
                for start, end in days[weekday]:
                    begin, finish = max(wall, day_start + start), min(day_start + end, limit)
                    if finish <= begin:
                        if begin >= limit:
                            return limit, remaining
                        continue
                    if remaining <= finish - begin:
                        return begin + remaining, 0
                    remaining -= finish - begin
            day += 1
            wall = day * DAY_US
        return limit, remaining

    def _week_open(self, day: int) -> int:
        """Open µs in the seven days from day number ``day``, its days off taken out."""
        closed = self.days_off.closed_in(day, 7)
        if not closed:
            return self._week_total
        return self._week_total - sum(self._day_totals[(d + _EPOCH_WEEKDAY) % 7] for d in closed)

    def _open_wall(self, start: int, end: int) -> int:
        """Open µs between two wall times (of one stretch of constant offset)."""
        days, closed, totals = self.hours.days, self.days_off.is_closed, self._day_totals
        total, wall, day = 0, start, start // DAY_US
        while wall < end:
            day_start = day * DAY_US
            if wall == day_start and end - wall >= WEEK_US:
                total += self._week_open(day)
                wall += WEEK_US
                day += 7
                continue
            weekday = (day + _EPOCH_WEEKDAY) % 7
            if totals[weekday] and not closed(day):
                if wall == day_start and end >= day_start + DAY_US:
                    total += totals[weekday]
                else:
                    for open_at, close_at in days[weekday]:
                        begin, finish = max(wall, day_start + open_at), min(day_start + close_at, end)
                        if finish > begin:
                            total += finish - begin
            day += 1
            wall = day * DAY_US
        return total
