"""Each mistake in a [calendars.NAME] table is reported with its key."""

from __future__ import annotations

import pytest

from maildesk.calendars import ALWAYS, Calendars, read_calendar


def problems(table: dict, name: str = "office") -> list[tuple[tuple, str]]:
    calendar, found = read_calendar(name, table)
    assert (calendar is None) == bool(found)
    return [(problem.key, problem.message) for problem in found]


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"monday": ["08:00-12:00"]}, ("monday",), "unknown day name (write 'mon')"),
        ({"mon": ["08:00-12:00"], "holiday": []}, ("holiday",), "unknown key"),
        ({"mon": ["08:00-12:00", "11:00-13:00"]}, ("mon", 1), "overlaps 08:00-12:00"),
        ({"mon": ["08:00-18:00", "09:00-10:00", "11:00-12:00"]}, ("mon", 2), "overlaps 08:00-18:00"),
        ({"mon": ["8h-12h"]}, ("mon", 0), "not a time interval"),
        ({"mon": ["08:00-24:30"]}, ("mon", 0), "not a time of day"),
        ({"mon": ["08:61-12:00"]}, ("mon", 0), "not a time of day"),
        ({"mon": ["12:00-08:00"]}, ("mon", 0), "ends before it starts"),
        ({"mon": "08:00-12:00", "tue": 8}, ("tue",), "must be a list of intervals"),
        ({"mon": ["08:00-12:00"], "timezone": "Europe/Lutece"}, ("timezone",), "not a known IANA time zone"),
        ({"mon": ["08:00-12:00"], "country": "XX"}, ("country",), "not a country"),
        ({"mon": ["08:00-12:00"], "country": "FR-99"}, ("country",), "FR has no subdivision '99'"),
        ({"mon": ["08:00-12:00"], "holidays": ["2026-02-30"]}, ("holidays", 0), "not a date"),
        ({"holidays": ["2026-12-25"]}, (), "open no hour of the week"),
    ],
)
def test_each_mistake_is_reported_with_its_key(table: dict, key: tuple, words: str) -> None:
    found = problems(table)
    assert any(k == key and words in message for k, message in found), found


def test_always_cannot_be_redefined() -> None:
    assert problems({"mon": ["08:00-12:00"]}, name="always") == [
        ((), '"always" is built in (open 24/7) and cannot be redefined')
    ]


def test_a_good_calendar_reads_whole_days_single_strings_and_toml_dates() -> None:
    import datetime

    calendar, found = read_calendar(
        "office",
        {
            "mon": "00:00-24:00",
            "tue": ["08:00-12:00", "12:00-13:00"],
            "holidays": [datetime.date(2026, 12, 25)],
        },
        default_timezone="Europe/Paris",
    )
    assert found == [] and calendar is not None
    assert calendar.timezone == "Europe/Paris"
    assert calendar.hours.week_total == (24 + 5) * 3600 * 1_000_000


def test_calendars_registry_knows_always_and_the_default() -> None:
    office, _ = read_calendar("office", {"mon": ["08:00-12:00"]})
    calendars = Calendars(named=(("office", office),), default="office")
    assert calendars.get(None) is office and calendars.get("always") is ALWAYS
    assert "office" in calendars and "always" in calendars and "night" not in calendars
    assert calendars.names == ("always", "office")
    with pytest.raises(KeyError):
        calendars.get("night")
