"""Every figure of SPEC section 12, exact, from tickets whose every step happens at a set time ("always")."""

from __future__ import annotations

import csv
import io

from tests.reports.helpers import ALICE, BOB, DECEMBER, NO_DURATION, NOVEMBER, by_key, duration
from tests.support import run_cli


def test_each_figure_by_application_is_exact(november):
    desk = november
    report = desk.report(*NOVEMBER)
    assert (report["since"], report["until"], report["by"]) == (
        "2026-11-01T00:00:00Z",
        "2026-12-01T00:00:00Z",
        "application",
    )
    assert report["calendar"] == "always"
    groups = by_key(report)
    assert list(groups) == ["ERP", "Mail", "VPN"]
    erp = groups["ERP"]
    # received A B E H I; closed A E G I (I reopened only in December); open B F H; E reopened.
    assert (erp["received"], erp["closed"], erp["open"], erp["reopened"], erp["problems"]) == (5, 4, 3, 1, 2)
    # taken into account: A 10m, E 50m, B 2h, I 1d, H 1d23h (in December, still counted for its month).
    assert erp["taken_into_account"] == duration(5, 7200, 136080, 53280)
    # first response: A 30m, E 50m, I 1d; B never answered, H not yet.
    assert erp["first_response"] == duration(3, 3000, 69720, 30400)
    # resolution less pending: A 2h - 1h pending, E 3h (its last closing), I 1d, G 9d - 8d23h50m pending.
    assert erp["resolution"] == duration(4, 7200, 63720, 25350)
    # A and E answered within 1h; B (fired by the sweep) and I missed; H undecided. Resolve: only I missed.
    assert erp["within_target"] == {"first_response": 0.5, "resolve": 0.75}
    assert erp["escalations"] == {"2": 1, "3": 1}  # B: by the timer into 2, by hand into 3
    assert (erp["self_care"], erp["time_spent"], erp["amount"]) == (0, "2h", None)

    mail = groups["Mail"]  # C, answered at level 0 by the rule
    assert (mail["received"], mail["closed"], mail["open"], mail["problems"]) == (1, 1, 0, 0)
    assert mail["taken_into_account"] == NO_DURATION  # no technician ever acted on it
    assert mail["first_response"] == duration(1, 0, 0, 0)
    assert mail["resolution"] == duration(1, 0, 0, 0)
    assert mail["within_target"] == {"first_response": 1.0, "resolve": 1.0}

    vpn = groups["VPN"]  # D, closed by its requester after the suggestions
    assert (vpn["received"], vpn["closed"], vpn["open"], vpn["self_care"]) == (1, 1, 0, 1)
    assert vpn["first_response"] == NO_DURATION
    assert vpn["resolution"] == duration(1, 3600, 3600, 3600)
    assert vpn["within_target"] == {"first_response": None, "resolve": 1.0}

    total = report["total"]
    assert (total["received"], total["closed"], total["open"], total["reopened"]) == (7, 6, 3, 1)
    assert (total["problems"], total["self_care"], total["time_spent"]) == (2, 1, "2h")
    assert total["taken_into_account"] == erp["taken_into_account"]
    assert total["first_response"] == duration(4, 2400, 61380, 22800)
    assert total["resolution"] == duration(6, 3600, 48600, 17500)
    assert total["within_target"] == {"first_response": 0.6, "resolve": 0.8333}
    assert total["escalations"] == {"2": 1, "3": 1}


def test_a_later_period_sees_the_reopening_and_the_requalification(november):
    desk = november
    groups = by_key(desk.report(*DECEMBER))
    # H moved to Billing on 2 December; I reopened on 3 December; B and F still open.
    assert set(groups) == {"ERP", "Billing"}
    assert (groups["ERP"]["received"], groups["ERP"]["open"], groups["ERP"]["reopened"]) == (0, 3, 1)
    assert (groups["Billing"]["open"], groups["Billing"]["received"]) == (1, 0)


def test_by_level_lists_every_level_and_groups_as_at_the_end(november):
    desk = november
    report = desk.report(*NOVEMBER, "--by", "level")
    groups = by_key(report)
    assert list(groups) == [1, 2, 3]
    assert (groups[2]["received"], groups[2]["open"]) == (0, 0)
    assert (groups[3]["received"], groups[3]["open"], groups[3]["escalations"]) == (1, 1, {"2": 1, "3": 1})
    assert groups[1]["received"] == 6


def test_by_technician_is_who_answered_or_closed(november):
    desk = november
    groups = by_key(desk.report(*NOVEMBER, "--by", "technician"))
    assert set(groups) == {ALICE, BOB, "(none)"}
    assert (groups[ALICE]["closed"], groups[BOB]["closed"]) == (3, 1)  # A E G; I
    assert groups[ALICE]["open"] == 1  # F, answered by Alice in October
    assert groups["(none)"]["received"] == 4  # B (only noted), C (the rule), D (self-care), H


def test_csv_parses_and_matches_the_json(november):
    desk = november
    report = desk.report(*NOVEMBER)
    code, out, err = run_cli(desk.desk.config, "report", *NOVEMBER, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["application"] for row in rows] == ["ERP", "Mail", "VPN", "(total)"]
    for row, group in zip(rows, [*report["groups"], report["total"]], strict=True):
        assert int(row["received"]) == group["received"]
        assert int(row["closed"]) == group["closed"]
        assert int(row["open"]) == group["open"]
        assert row["resolution_median_s"] == (
            "" if group["resolution"]["median_s"] is None else str(group["resolution"]["median_s"])
        )
        assert row["within_target_resolve"] == str(group["within_target"]["resolve"] or "")
        assert int(row["escalations_3"]) == group["escalations"].get("3", 0)
        assert row["time_spent"] == group["time_spent"]


def test_table_names_each_group(november):
    desk = november
    code, out, err = run_cli(desk.desk.config, "report", *NOVEMBER, "--format", "table")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Report 2026-11-01 00:00 UTC to 2026-12-01 00:00 UTC")
    for name in ("ERP", "Mail", "VPN", "Total"):
        assert any(line.startswith(name + " ") for line in lines), name
