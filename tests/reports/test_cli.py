"""``maildesk report`` input: bad values are one-line usage errors (64); an empty period is zeros, said so."""

from __future__ import annotations

import json

import pytest

from tests.support import Desk, run_cli


@pytest.fixture
def config(tmp_path):
    return Desk(tmp_path / "desk").config


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--since", "2026-13-01"), "'2026-13-01'"),
        (("--until", "yesterday"), "'yesterday'"),
        (("--since", "2026-11-10", "--until", "2026-11-01"), "'2026-11-10'"),
        (("--since", "2026-11-01", "--until", "2026-11-01"), "'2026-11-01'"),
        (("--by", "colour"), "'colour'"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_value(config, args, named):
    code, out, err = run_cli(config, "report", *args)
    assert code == 64
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and named in err, err
    assert "Traceback" not in err


def test_an_empty_period_gives_zeros_and_says_so(config):
    code, out, err = run_cli(
        config, "report", "--since", "2026-11-01", "--until", "2026-12-01", "--format", "json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["groups"] == []
    total = report["total"]
    assert (total["received"], total["closed"], total["open"], total["time_spent"]) == (0, 0, 0, "0m")
    assert total["first_response"] == {"count": 0, "median_s": None, "p90_s": None, "mean_s": None}
    assert total["within_target"] == {"first_response": None, "resolve": None}
    code, out, err = run_cli(config, "report", "--since", "2026-11-01", "--until", "2026-12-01")
    assert code == 0, err
    assert "No tickets in this period" in out


def test_dates_are_read_in_the_desk_timezone(tmp_path):
    desk = Desk(tmp_path / "desk")
    desk.config.write_text(desk.config.read_text().replace('timezone = "UTC"', 'timezone = "Europe/Paris"'))
    code, out, err = run_cli(
        desk.config, "report", "--since", "2026-11-01", "--until", "2026-11-02T08:30", "--format", "json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["since"], report["until"]) == ("2026-10-31T23:00:00Z", "2026-11-02T07:30:00Z")


def test_output_file_is_written_whole(config, tmp_path):
    target = tmp_path / "november.csv"
    code, out, err = run_cli(
        config,
        "report",
        "--since",
        "2026-11-01",
        "--until",
        "2026-12-01",
        "--format",
        "csv",
        "--output",
        str(target),
    )
    assert (code, out) == (0, "")
    assert target.read_text().startswith("application,received,closed,open")


def test_self_service_mails_count_as_self_care(tmp_path):
    """The knowledge base's self-service address records each mail it answers without a ticket."""
    from datetime import UTC, datetime

    from maildesk.storage.db import Database
    from maildesk.tickets.figures import note_self_service

    desk = Desk(tmp_path / "desk")
    code, _out, err = run_cli(desk.config, "db", "upgrade")
    assert code == 0, err
    db = Database(desk.db_url)
    with db.session() as session:
        for day in (3, 4, 20):
            note_self_service(
                session.connection(), datetime(2026, 11, day, tzinfo=UTC), "jo@client.com", "client.com"
            )
        note_self_service(
            session.connection(), datetime(2026, 12, 1, tzinfo=UTC), "jo@client.com", "client.com"
        )
    db.dispose()
    code, out, err = run_cli(
        desk.config,
        "report",
        "--since",
        "2026-11-01",
        "--until",
        "2026-12-01",
        "--by",
        "organisation",
        "--format",
        "json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["total"]["self_care"] == 3
    assert [(g["key"], g["self_care"]) for g in report["groups"]] == [("client.com", 3)]
