"""Figures in business time of ``[desk] calendar``: office hours with a lunch break, a weekend, a holiday."""

from __future__ import annotations

import pytest

from tests.reports.helpers import ALICE, NOVEMBER, Timeline, by_key, duration

OFFICE = """
[calendars.office]
timezone = "Europe/Paris"
mon = ["08:30-12:30", "13:30-18:00"]
tue = ["08:30-12:30", "13:30-18:00"]
wed = ["08:30-12:30", "13:30-18:00"]
thu = ["08:30-12:30", "13:30-18:00"]
fri = ["08:30-12:30", "13:30-18:00"]
holidays = ["2026-11-11"]
"""


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    """Three ERP tickets of November 2026 in the office calendar (Paris is UTC+1 then)."""
    t = Timeline(tmp_path_factory.mktemp("office") / "desk", extra=OFFICE, desk='calendar = "office"')
    # A: Friday 17:00, answered Monday 09:00 (1h on Friday, 30m on Monday: the weekend counts nothing),
    # closed Monday 14:00 (1h + 4h before lunch + 30m after).
    a = t.at("2026-11-06T16:00:00+00:00").opens("ERP export fails")
    t.at("2026-11-09T08:00:00+00:00").tech(a, ALICE, body="Try the new export.\n")
    t.at("2026-11-09T13:00:00+00:00").tech(a, ALICE, "[close]", body="Fixed.\n")
    # B: Tuesday 11:00; a note on Thursday 09:00 (6h on Tuesday, none on the 11th, a holiday, 30m);
    # answered and pending at 10:00, the requester answers at 15:00 (4h pending, lunch left out);
    # closed on Friday 09:00: 15h in all, 11h less the pending time.
    b = t.at("2026-11-10T10:00:00+00:00").opens("ERP slow")
    t.at("2026-11-12T08:00:00+00:00").tech(b, ALICE, "[comment]", body="Looking.\n")
    t.at("2026-11-12T09:00:00+00:00").tech(b, ALICE, "[pending]", body="Which screen?\n")
    t.at("2026-11-12T14:00:00+00:00").requester(b, "ERP slow", body="The orders screen.\n")
    t.at("2026-11-13T08:00:00+00:00").tech(b, ALICE, "[close]", body="Done.\n")
    # C: Monday 12:00, answered and closed at 13:45: 30m before lunch and 15m after.
    c = t.at("2026-11-16T11:00:00+00:00").opens("ERP login")
    t.at("2026-11-16T12:45:00+00:00").tech(c, ALICE, "[close]", body="Reset.\n")
    yield t
    t.close()


def test_durations_count_only_office_hours(office):
    report = office.report(*NOVEMBER)
    assert report["calendar"] == "office"
    erp = by_key(report)["ERP"]
    assert (erp["received"], erp["closed"], erp["open"]) == (3, 3, 0)
    # taken into account: C 45m, A 1h30, B 6h30 (the holiday counts nothing).
    assert erp["taken_into_account"] == duration(3, 5400, 19800, 10500)
    # first response: C 45m, A 1h30, B 7h30.
    assert erp["first_response"] == duration(3, 5400, 22680, 11700)
    # resolution less pending: C 45m, A 5h30, B 15h - 4h = 11h.
    assert erp["resolution"] == duration(3, 19800, 35640, 20700)
    assert report["total"]["resolution"] == erp["resolution"]


def test_targets_are_met_or_missed_in_office_hours(office):
    """First response in 1h, resolution in 8h, both in the office calendar: C meets both; A answers
    after 1h30 but resolves in 5h30; B answers on Thursday and its 8h ran out on Thursday morning
    (pending stopped the clock with 30 minutes left, and it resumed at 15:00)."""
    erp = by_key(office.report(*NOVEMBER))["ERP"]
    assert erp["within_target"] == {"first_response": 0.3333, "resolve": 0.6667}


def test_the_table_says_which_calendar(office):
    from tests.support import run_cli

    code, out, err = run_cli(office.desk.config, "report", *NOVEMBER, "--format", "table")
    assert code == 0, err
    assert 'business time of the "office" calendar' in out.splitlines()[0]
