"""Billing amounts (hours x the organisation's rate, in [billing] currency), real teams as they were,
the application catalogue listed whole, organisations as stored on the tickets."""

from __future__ import annotations

import pytest

from maildesk.config import ConfigError, load_settings
from tests.reports.helpers import ALICE, DECEMBER, NOVEMBER, Timeline, by_key
from tests.support import Desk, run_cli
from tests.teams.desks import CAROL, FUNCTIONAL, TEAM_LEVELS

EXTRA = """
[calendars.office]
timezone = "Europe/Paris"
mon = ["08:30-18:00"]
tue = ["08:30-18:00"]
wed = ["08:30-18:00"]
thu = ["08:30-18:00"]
fri = ["08:30-18:00"]

[[applications]]
name = "ERP"

[[applications]]
name = "VPN"

[[applications]]
name = "Payroll"

[[organisations]]
name = "Client SA"
domains = ["client.com"]
rate = 90.0

[[organisations]]
name = "Other Ltd"
domains = ["other.com"]

[billing]
currency = "CHF"
"""


@pytest.fixture(scope="module")
def billed(tmp_path_factory):
    t = Timeline(tmp_path_factory.mktemp("billing") / "desk", levels=TEAM_LEVELS, extra=EXTRA)
    # X (Client SA, rate 90): 45 minutes in November, sent to level 2 (the functional team: an ERP
    # question is functional), moved to the technical team on 2 December, 20 more minutes then.
    x = t.at("2026-11-02T09:00:00+00:00").opens("ERP down")
    t.at("2026-11-02T10:00:00+00:00").tech(x, ALICE, "[time=45m]", body="Looking into it.\n")
    t.at("2026-11-03T10:00:00+00:00").tech(x, ALICE, "[level=2] [comment]", body="For level 2.\n")
    t.at("2026-12-02T10:00:00+00:00").tech(
        x, CAROL, "[team=technical] [time=20m] [comment]", body="Technical.\n", level_address=FUNCTIONAL
    )
    # Y (Other Ltd, no rate): an hour and a half, never billed.
    y = t.at("2026-11-04T09:00:00+00:00").opens("VPN down", sender="jo@other.com")
    t.at("2026-11-04T10:00:00+00:00").tech(y, ALICE, "[time=90m]", body="Reconfigured.\n")
    # Z: a domain no [[organisations]] lists, and no application.
    t.at("2026-11-05T09:00:00+00:00").opens("Printer jammed", sender="ann@example.net", body="It is stuck.\n")
    t.tickets_by_letter = {"x": x, "y": y}
    yield t
    t.close()


def test_amounts_are_hours_times_the_organisations_rate(billed):
    report = billed.report(*NOVEMBER, "--by", "organisation")
    assert report["currency"] == "CHF"
    groups = by_key(report)
    assert list(groups) == ["Client SA", "example.net", "Other Ltd"]
    assert (groups["Client SA"]["time_spent"], groups["Client SA"]["amount"]) == ("45m", 67.5)
    assert (groups["Other Ltd"]["time_spent"], groups["Other Ltd"]["amount"]) == ("1h30m", None)
    assert (groups["example.net"]["time_spent"], groups["example.net"]["amount"]) == ("0m", None)
    assert (report["total"]["time_spent"], report["total"]["amount"]) == ("2h15m", 67.5)
    december = by_key(billed.report(*DECEMBER, "--by", "organisation"))
    assert (december["Client SA"]["time_spent"], december["Client SA"]["amount"]) == ("20m", 30.0)


def test_the_billing_detail_has_each_tickets_amount(billed):
    code, out, err = run_cli(billed.desk.config, "report", *NOVEMBER, "--tickets", "--format", "json")
    assert code == 0, err
    import json

    lines = {line["number"]: line for line in json.loads(out)}
    x, y = billed.tickets_by_letter["x"], billed.tickets_by_letter["y"]
    assert (lines[x]["organisation"], lines[x]["time_spent"], lines[x]["amount"]) == (
        "Client SA",
        "45m",
        67.5,
    )
    assert (lines[x]["team"], lines[x]["level"]) == ("functional", 2)
    assert (lines[y]["organisation"], lines[y]["amount"]) == ("Other Ltd", None)


def test_by_application_lists_the_whole_catalogue_and_none(billed):
    groups = by_key(billed.report(*NOVEMBER))
    assert list(groups) == ["ERP", "VPN", "Payroll", "(none)"]
    assert [groups[name]["received"] for name in groups] == [1, 1, 0, 1]


def test_by_team_lists_every_team_as_the_tickets_were_at_the_end(billed):
    november = by_key(billed.report(*NOVEMBER, "--by", "team"))
    assert list(november) == ["Front desk", "functional", "technical", "erp-experts", "experts"]
    assert (november["functional"]["open"], november["Front desk"]["open"]) == (1, 2)
    assert november["functional"]["escalations"] == {"2": 1}
    december = by_key(billed.report(*DECEMBER, "--by", "team"))
    assert (december["functional"]["open"], december["technical"]["open"]) == (0, 1)


def test_the_currency_is_an_iso_code(tmp_path):
    desk = Desk(tmp_path / "desk", extra='\n[billing]\ncurrency = "euro"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(desk.config)
    assert "billing.currency: 'euro' is not an ISO 4217 currency code" in str(error.value)
    code, _out, err = run_cli(desk.config, "rules", "check")
    assert code == 78 and "billing.currency" in err
