"""The November 2026 timeline every report test reads: tickets A to I, each step at a set time."""

from __future__ import annotations

import pytest

from tests.reports.helpers import ALICE, BOB, CAROL, Timeline


@pytest.fixture(scope="package")
def november(tmp_path_factory):
    """Tickets A to I of November 2026 (times in UTC, the desk's zone), described at each step."""
    t = Timeline(tmp_path_factory.mktemp("figures") / "desk")
    # F: October, answered and waiting on its requester since: open at the end of November (the backlog).
    f = t.at("2026-10-20T09:00:00+00:00").opens("ERP legacy screen")
    t.at("2026-10-20T09:05:00+00:00").tech(f, ALICE, "[pending]", body="Which screen?\n")
    # G: October, pending from 09:10 until it is closed on 3 November: 10 minutes of resolution.
    g = t.at("2026-10-25T09:00:00+00:00").opens("ERP old export")
    t.at("2026-10-25T09:10:00+00:00").tech(g, ALICE, "[pending]", body="Which export?\n")
    # A: taken into account after 10 minutes (a note), answered after 30, pending one hour, closed at 2h.
    a = t.at("2026-11-02T09:00:00+00:00").opens("ERP down")
    t.at("2026-11-02T09:10:00+00:00").tech(a, ALICE, "[problem=erp-outage] [comment]", body="Looking.\n")
    t.at("2026-11-02T09:30:00+00:00").tech(a, ALICE)
    t.at("2026-11-02T09:40:00+00:00").tech(a, ALICE, "[pending]", body="Send a screenshot, please.\n")
    t.at("2026-11-02T10:40:00+00:00").requester(a, "ERP down", body="Here it is.\n")
    # B: nobody answers; the first-response target (1h) escalates it by timer, then Carol by hand.
    b = t.at("2026-11-02T10:00:00+00:00").opens("ERP slow")
    t.at("2026-11-02T11:00:00+00:00").tech(a, ALICE, "[close] [time=45m]", body="Fixed.\n")
    # C: a level-0 answer (rule `answer`): answered and closed at once.
    c = t.at("2026-11-02T10:30:00+00:00").opens("password forgotten")
    assert t.at("2026-11-02T11:00:01+00:00").sweep() == 1
    # D: the acknowledgement suggests an article; the requester closes it an hour later: self-care.
    d = t.at("2026-11-02T11:00:02+00:00").opens("VPN disconnects again")
    t.at("2026-11-02T12:00:00+00:00").tech(
        b,
        CAROL,
        "[level=3] [problem=erp-outage] [comment]",
        body="For the experts.\n",
        level_address="support-l2@example.org",
    )
    t.at("2026-11-02T12:00:02+00:00").requester(d, "VPN disconnects again", "[close]", body="Works now.\n")
    # E: answered, closed, reopened by the requester, closed again; 75 minutes billed.
    e = t.at("2026-11-02T13:00:00+00:00").opens("ERP question")
    t.at("2026-11-02T13:50:00+00:00").tech(e, ALICE, "[problem=erp-question]")
    t.at("2026-11-02T14:00:00+00:00").tech(e, ALICE, "[close]", body="Done.\n")
    t.at("2026-11-02T15:00:00+00:00").requester(e, "ERP question", body="Not quite.\n")
    t.at("2026-11-02T16:00:00+00:00").tech(e, ALICE, "[close] [time=75m]", body="Done now.\n")
    t.at("2026-11-03T09:00:00+00:00").tech(g, ALICE, "[close]", body="Exported.\n")
    # I: answered and closed after a day; reopened in December (after the period).
    i = t.at("2026-11-24T09:00:00+00:00").opens("ERP export")
    t.at("2026-11-25T09:00:00+00:00").tech(i, BOB, "[close]", body="Done.\n")
    # H: arrives on 30 November; requalified (application) on 2 December.
    h = t.at("2026-11-30T10:00:00+00:00").opens("ERP month end")
    t.at("2026-12-02T09:00:00+00:00").tech(h, ALICE, "[application=Billing] [comment]", body="Billing.\n")
    t.at("2026-12-03T09:00:00+00:00").requester(i, "ERP export", body="It fails again.\n")
    t.tickets_by_letter = dict(a=a, b=b, c=c, d=d, e=e, f=f, g=g, h=h, i=i)
    yield t
    t.close()
