"""Old configs keep working unchanged, and a database made by the previous version is carried over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from maildesk.storage.db import MIGRATIONS_DIR, Database
from tests.levels.helpers import ALICE, CAROL, Local
from tests.support import Desk, run_cli
from tests.teams.desks import team_desk

PREVIOUS_REVISION = "outbox_storm_bounce"


def test_an_old_config_is_one_team_per_level_named_after_it(tmp_path, sink):
    desk = Desk(tmp_path / "desk", sink=sink)  # [[levels]] with address and members, no teams, no calendars
    local = Local(desk)
    try:
        before = datetime.now(UTC)
        number = local.new_ticket("VPN down")
        ticket = local.ticket(number)
        assert (ticket.team, ticket.organisation) == ("Front desk", "client.com")
        # "always": plain arithmetic, as before calendars
        assert ticket.escalate_due_at - ticket.level_since == timedelta(hours=4)
        assert ticket.level_since >= before
        since = local.last_outbox_id()
        local.technician(number, ALICE, "[escalate]", body="For level 2.\n")
        assert (local.ticket(number).level, local.ticket(number).team) == (2, "Back desk")
        assert {row.to_addr for row in local.outbox("notify_level", since=since)} == {CAROL}
        (shown,) = desk.tickets("--team", "back desk")
        assert (shown["number"], shown["team"]) == (number, "Back desk")
    finally:
        local.close()


def _previous_version_database(url: str) -> None:
    """The schema of the version before teams, with tickets as that version wrote them."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_engine(url)
    config.attributes["connection_engine"] = engine
    command.upgrade(config, PREVIOUS_REVISION)
    now = datetime(2026, 11, 2, 9, 0)
    with engine.begin() as conn:
        for number, (level, requester, organisation) in enumerate(
            [
                (1, "jo@client.fr", "client.fr"),
                (2, "max@other.org", None),
                (2, "ann@client.com", "client.com"),
            ],
            1,
        ):
            conn.execute(
                text(
                    "INSERT INTO tickets (number, subject, status, level, urgency, kind, requester,"
                    " requester_name, organisation, tags, language, created_at, updated_at, time_spent_s,"
                    " resolve_breached) VALUES (:n, 'old', 'open', :level, 'normal', 'request', :requester,"
                    " '', :org, '[]', 'en', :now, :now, 0, false)"
                ),
                {"n": number, "level": level, "requester": requester, "org": organisation, "now": now},
            )
    engine.dispose()


def test_db_upgrade_carries_existing_tickets_over(tmp_path, db_url):
    desk = team_desk(tmp_path / "desk", db_url=db_url)
    _previous_version_database(desk.db_url)
    code, _out, err = run_cli(desk.config, "tickets", "list")
    assert code == 78 and "run 'maildesk db upgrade'" in err
    code, _out, err = run_cli(desk.config, "db", "upgrade")
    assert code == 0, err
    db = Database(desk.db_url)
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT number, team, organisation FROM tickets ORDER BY number")).all()
    db.dispose()
    # Level 1's team is "Front desk" (its one team), level 2's first team "functional";
    # organisations: [[organisations]] by domain, else the domain.
    assert [tuple(row) for row in rows] == [
        (1, "Front desk", "Client SA"),
        (2, "functional", "other.org"),
        (3, "functional", "Client SA"),
    ]
    listed = desk.tickets("--team", "functional")
    assert sorted(t["number"] for t in listed) == [2, 3]
