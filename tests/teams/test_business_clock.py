"""Clocks count business time: nothing fires over the weekend, and it fires on Monday at the right minute."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import maildesk.runtime.processor
from maildesk.runtime.sweep import sweep
from tests.levels.helpers import Local, requester_mail
from tests.teams.desks import ALICE, team_desk

PARIS = ZoneInfo("Europe/Paris")
FRIDAY_4PM = datetime(2026, 11, 27, 16, 0, tzinfo=PARIS)


@pytest.fixture
def clock(monkeypatch):
    """The instant the desk takes as "now" while it processes mail; tests move it."""
    state = {"now": FRIDAY_4PM}
    monkeypatch.setattr(maildesk.runtime.processor, "_utcnow", lambda: state["now"])
    return state


def _sweep(local: Local, at: datetime) -> int:
    return sweep(local.app.db, local.app.pipeline, at)


def test_a_timer_that_must_not_fire_on_saturday_fires_on_monday_at_the_right_minute(local, clock):
    number = local.new_ticket("Printer jammed")  # Friday 16:00 in the office calendar: 2h left that day
    ticket = local.ticket(number)
    monday_1030 = datetime(2026, 11, 30, 10, 30, tzinfo=PARIS)  # 4h of business: 16:00-18:00, 08:30-10:30
    assert ticket.escalate_due_at == monday_1030
    friday_closing = datetime(2026, 11, 27, 18, 0, tzinfo=PARIS)
    for hours in range(0, 64):  # every hour from Friday's closing to Monday 10:00: all weekend long, nothing
        assert _sweep(local, friday_closing + timedelta(hours=hours)) == 0
    assert _sweep(local, monday_1030 - timedelta(seconds=1)) == 0
    assert _sweep(local, monday_1030) == 1
    assert local.ticket(number).level == 2


def test_pending_keeps_the_business_time_left(local, clock):
    number = local.new_ticket("Printer jammed")
    clock["now"] = FRIDAY_4PM + timedelta(hours=1)  # 17:00: one business hour used, three left
    local.technician(number, ALICE, "[pending]", body="Which printer?\n")
    assert local.ticket(number).escalate_due_at is None
    clock["now"] = datetime(
        2026, 12, 1, 9, 0, tzinfo=PARIS
    )  # back on Tuesday 09:00: the level clock restarts
    local.deliver(requester_mail(number, body="The one in B2\n"), mail_from="user@client.com")
    ticket = local.ticket(number)
    assert ticket.status == "open"
    assert ticket.escalate_due_at == datetime(2026, 12, 1, 14, 0, tzinfo=PARIS)  # 4h from 09:00 with lunch


def test_urgency_targets_count_in_the_urgency_calendar_and_carry_over(tmp_path, sink, clock):
    desk = team_desk(tmp_path / "desk", sink=sink)
    text = desk.config.read_text()
    text = text.replace('resolve = "4h"\n', 'resolve = "4h"\ncalendar = "office"\n', 1).replace(
        "[timers]",
        '[urgency.high]\nfirst_response = "1h"\nresolve = "8h"\ncalendar = "office"\n\n[timers]',
        1,
    )
    desk.config.write_text(text)
    local = Local(desk)
    try:
        number = local.new_ticket("Printer jammed")  # Friday 16:00, normal urgency: no targets
        clock["now"] = FRIDAY_4PM + timedelta(hours=1)
        local.technician(number, ALICE, "[urgency=critical] [comment]", body="critical\n")
        ticket = local.ticket(number)
        # A target the old urgency did not have counts from creation: 4h of office time from Friday 16:00.
        assert ticket.resolve_due_at == datetime(2026, 11, 30, 10, 30, tzinfo=PARIS)
        assert ticket.first_response_due_at == FRIDAY_4PM + timedelta(minutes=30)
        clock["now"] = datetime(2026, 11, 30, 9, 30, tzinfo=PARIS)
        local.technician(number, ALICE, "[urgency=high] [comment]", body="high\n")
        # 3 business hours of the 4h were used; 5h of the 8h are left from Monday 09:30: 15:30 after lunch.
        assert local.ticket(number).resolve_due_at == datetime(2026, 11, 30, 15, 30, tzinfo=PARIS)
    finally:
        local.close()
