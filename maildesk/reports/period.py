"""Report periods: ``--since``/``--until`` read in ``[desk] timezone``, and the period that just ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from maildesk.errors import UsageError


class PeriodError(UsageError, ValueError):
    """Bad report input (a date that does not parse, an empty or reversed period): a usage error."""


@dataclass(frozen=True)
class Period:
    """``[since, until)`` as UTC instants, with the zone its days are counted in."""

    since: datetime
    until: datetime
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_days(self) -> list[date]:
        """Every local date the period touches, in order (for volume per day)."""
        zone = self.zone
        first = self.since.astimezone(zone).date()
        last = (self.until - timedelta(microseconds=1)).astimezone(zone).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def day_starts(self) -> list[float]:
        """The UTC epoch second at which each day of :meth:`local_days` starts (the first: ``since``)."""
        zone = self.zone
        starts = [_start_of(day, zone).timestamp() for day in self.local_days()]
        starts[0] = self.since.timestamp()
        return starts


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def parse_moment(text: str, timezone: str, option: str) -> datetime:
    """An ISO date ("2026-11-01", midnight) or date-time, in ``timezone`` unless it names its own offset."""
    value = text.strip()
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time.min)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise PeriodError(
            f"{option} {text!r}: not an ISO date or date-time (2026-11-01, 2026-11-01T08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)


def previous_month(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The calendar month before the one ``now`` falls in, in ``timezone``, as UTC instants."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    first = today.replace(day=1)
    before = (first - timedelta(days=1)).replace(day=1)
    return _start_of(before, zone), _start_of(first, zone)


def previous_week(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """Monday to Monday: the week before the one ``now`` falls in."""
    zone = ZoneInfo(timezone)
    monday = now.astimezone(zone).date()
    monday -= timedelta(days=monday.weekday())
    return _start_of(monday - timedelta(days=7), zone), _start_of(monday, zone)


def previous_day(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    return _start_of(today - timedelta(days=1), zone), _start_of(today, zone)


def resolve_period(since: str | None, until: str | None, timezone: str, now: datetime) -> Period:
    """The period of ``maildesk report``: the previous calendar month unless given; raises PeriodError."""
    default_since, default_until = previous_month(now, timezone)
    start = parse_moment(since, timezone, "--since") if since is not None else None
    end = parse_moment(until, timezone, "--until") if until is not None else None
    if start is None and end is None:
        start, end = default_since, default_until
    elif start is None:
        assert end is not None
        start = _month_start_before(end, timezone)  # only --until: the month that ends there
    elif end is None:
        end = max(start, now)  # only --since: up to now
    assert start is not None and end is not None
    if start >= end:
        raise PeriodError(
            f"--since {since or start.isoformat()!r} is not before --until {until or end.isoformat()!r}"
        )
    return Period(since=start, until=end, timezone=timezone)


def _month_start_before(end: datetime, timezone: str) -> datetime:
    """Only --until given: from the start of the month of the last moment before it."""
    zone = ZoneInfo(timezone)
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return _start_of(last.replace(day=1), zone)
