"""Business-time arithmetic checked against a brute-force minute counter (weekends, lunch, holidays, DST)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.calendars import ALWAYS, BusinessCalendar, read_calendar
from maildesk.calendars.hours import parse_interval

OFFICE = ["08:30-12:30", "13:30-18:00"]
# Wednesday closed, Thursday open round the clock, Saturday morning, and Sunday hours that straddle the
# daylight-saving changes (02:00-03:00 is skipped on the last Sunday of March and lived twice in October).
TABLE = {
    "timezone": "Europe/Paris",
    "mon": OFFICE,
    "tue": OFFICE,
    "thu": ["00:00-24:00"],
    "fri": OFFICE,
    "sat": ["09:00-12:00"],
    "sun": ["01:30-02:30", "22:00-24:00"],
    "holidays": ["2026-03-31", "2026-10-27"],
    "country": "FR",
}
ZONE_TABLES = {
    "Europe/Paris": TABLE,
    # A zone whose daylight-saving shift is half an hour.
    "Australia/Lord_Howe": {**TABLE, "timezone": "Australia/Lord_Howe", "country": "AU-NSW"},
    "America/New_York": {**TABLE, "timezone": "America/New_York", "country": "US-NY"},
}


def make(table: dict) -> BusinessCalendar:
    calendar, problems = read_calendar("test", table)
    assert problems == [] and calendar is not None
    return calendar


class BruteForce:
    """An independent definition of "open", asked once per minute."""

    def __init__(self, table: dict) -> None:
        self.zone = ZoneInfo(table["timezone"])
        names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        self.days = [[parse_interval(text) for text in table.get(name, [])] for name in names]
        country, _dash, subdivision = table["country"].partition("-")
        self.public = holidays.country_holidays(country, subdiv=subdivision or None, years=range(2025, 2029))
        self.listed = {date.fromisoformat(text) for text in table["holidays"]}

    def is_open(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        if local.date() in self.listed or local.date() in self.public:
            return False
        second = (local.hour * 60 + local.minute) * 60 * 1_000_000
        return any(start <= second < end for start, end in self.days[local.weekday()])

    def open_minutes(self, start: datetime, end: datetime) -> int:
        count, instant = 0, start
        while instant < end:
            count += self.is_open(instant)
            instant += timedelta(minutes=1)
        return count

    def due(self, start: datetime, minutes: int) -> datetime:
        """The end of the ``minutes``-th open minute from ``start``."""
        instant = start
        while minutes:
            if self.is_open(instant):
                minutes -= 1
            instant += timedelta(minutes=1)
        return instant


# Windows that hold the spring and autumn changes, Easter, Christmas and New Year.
WINDOWS = [
    datetime(2026, 3, 20, tzinfo=UTC),
    datetime(2026, 10, 18, tzinfo=UTC),
    datetime(2026, 12, 20, tzinfo=UTC),
]
CALENDARS = {zone: (make(table), BruteForce(table)) for zone, table in ZONE_TABLES.items()}


@settings(max_examples=120, deadline=None)
@given(
    zone=st.sampled_from(sorted(ZONE_TABLES)),
    window=st.sampled_from(WINDOWS),
    start=st.integers(0, 14 * 24 * 60),
    length=st.integers(0, 10 * 24 * 60),
)
def test_business_seconds_between_counts_the_open_minutes(zone, window, start, length) -> None:
    calendar, brute = CALENDARS[zone]
    a = window + timedelta(minutes=start)
    b = a + timedelta(minutes=length)
    assert calendar.business_seconds_between(a, b) == brute.open_minutes(a, b) * 60
    assert calendar.business_seconds_between(b, a) == -brute.open_minutes(a, b) * 60


@settings(max_examples=120, deadline=None)
@given(
    zone=st.sampled_from(sorted(ZONE_TABLES)),
    window=st.sampled_from(WINDOWS),
    start=st.integers(0, 14 * 24 * 60),
    minutes=st.integers(1, 60 * 60),
)
def test_add_business_time_lands_on_the_last_open_minute(zone, window, start, minutes) -> None:
    calendar, brute = CALENDARS[zone]
    a = window + timedelta(minutes=start)
    due = calendar.add_business_time(a, minutes * 60)
    assert due == brute.due(a, minutes)
    assert calendar.business_seconds_between(a, due) == minutes * 60


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 365 * 24 * 3600),
    micros=st.integers(0, 999_999),
    seconds=st.integers(1, 60 * 24 * 3600),
)
def test_add_and_between_are_inverse_over_long_spans(start, micros, seconds) -> None:
    """Weeks are skipped whole: long targets must agree with the day-by-day count."""
    calendar, _brute = CALENDARS["Europe/Paris"]
    a = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=start, microseconds=micros)
    due = calendar.add_business_time(a, seconds)
    assert calendar.business_seconds_between(a, due) == seconds
    assert calendar.is_open(due - timedelta(microseconds=1))


PARIS = ZoneInfo("Europe/Paris")
OFFICE_FR = {"timezone": "Europe/Paris", **{day: OFFICE for day in ("mon", "tue", "wed", "thu", "fri")}}


def test_spec_example_friday_five_pm_plus_four_hours_is_monday_half_past_eleven() -> None:
    office = make(OFFICE_FR)
    due = office.add_business_time(datetime(2026, 11, 27, 17, 0, tzinfo=PARIS), timedelta(hours=4))
    assert due == datetime(2026, 11, 30, 11, 30, tzinfo=PARIS)
    assert due.tzinfo is UTC


def test_a_holiday_pushes_the_due_time_to_the_next_open_day() -> None:
    office = make({**OFFICE_FR, "country": "FR"})
    # Friday 2026-05-01 (Labour Day) is closed: Thursday 17:00 + 4h is Monday 11:30.
    due = office.add_business_time(datetime(2026, 4, 30, 17, 0, tzinfo=PARIS), 4 * 3600)
    assert due == datetime(2026, 5, 4, 11, 30, tzinfo=PARIS)
    listed = make({**OFFICE_FR, "holidays": ["2026-11-30"]})
    due = listed.add_business_time(datetime(2026, 11, 27, 17, 0, tzinfo=PARIS), 4 * 3600)
    assert due == datetime(2026, 12, 1, 11, 30, tzinfo=PARIS)


def test_a_subdivision_has_its_own_holidays() -> None:
    # Good Friday (2026-04-03) is a holiday in Moselle (FR-57), not in the rest of France.
    start = datetime(2026, 4, 2, 17, 0, tzinfo=PARIS)
    france = make({**OFFICE_FR, "country": "FR"}).add_business_time(start, 4 * 3600)
    moselle = make({**OFFICE_FR, "country": "FR-57"}).add_business_time(start, 4 * 3600)
    assert france == datetime(2026, 4, 3, 11, 30, tzinfo=PARIS)
    assert moselle == datetime(2026, 4, 7, 11, 30, tzinfo=PARIS)  # Monday 6th is Easter Monday


def test_a_target_met_at_closing_time_is_due_at_closing_time() -> None:
    office = make(OFFICE_FR)
    due = office.add_business_time(datetime(2026, 11, 27, 17, 0, tzinfo=PARIS), 3600)
    assert due == datetime(2026, 11, 27, 18, 0, tzinfo=PARIS)


def test_a_whole_day_in_spring_has_23_hours_and_in_autumn_25() -> None:
    sundays = make({"timezone": "Europe/Paris", "sun": ["00:00-24:00"]})
    spring = datetime(2026, 3, 29, tzinfo=PARIS)
    autumn = datetime(2026, 10, 25, tzinfo=PARIS)
    assert sundays.business_seconds_between(spring, spring + timedelta(days=1)) == 23 * 3600
    assert sundays.business_seconds_between(autumn, autumn + timedelta(days=2)) == 25 * 3600


def test_always_is_plain_elapsed_time() -> None:
    start = datetime(2026, 11, 27, 17, 0, 12, 345, tzinfo=UTC)
    assert ALWAYS.add_business_time(start, 4 * 3600) == start + timedelta(hours=4)
    assert ALWAYS.add_business_time(start, timedelta(days=1)) == start + timedelta(days=1)
    assert ALWAYS.business_seconds_between(start, start + timedelta(minutes=90)) == 5400


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make(OFFICE_FR).add_business_time(datetime(2026, 1, 1), 60)


def test_exactly_one_week_of_business_time_ends_at_the_week_last_closing() -> None:
    office = make(OFFICE_FR)
    week = 5 * 8.5 * 3600
    monday = datetime(2026, 11, 23, tzinfo=PARIS)
    assert office.add_business_time(monday, week) == datetime(2026, 11, 27, 18, 0, tzinfo=PARIS)
    assert office.add_business_time(monday, 3 * week) == datetime(2026, 12, 11, 18, 0, tzinfo=PARIS)
