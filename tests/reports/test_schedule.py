"""The scheduled report: the period that just ended, mailed once per period (several daemons, restarts)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import time
from datetime import UTC, datetime

import pytest

from maildesk.config import ConfigError, load_settings
from maildesk.reports.schedule import latest_fire, parse_schedule, period_for, run_schedule
from tests.reports.helpers import Timeline
from tests.support import Desk, db_rows, postgres_url, run_cli, wait_until

MANAGERS = 'recipients = ["it-management@example.org", "cio@example.org"]'
UTC_NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("schedule", "since", "until"),
    [
        (
            "0 8 * * mon",
            "2026-11-22T23:00:00+00:00",
            "2026-11-29T23:00:00+00:00",
        ),  # the previous week, in Paris
        ("0 8 * * 1", "2026-11-22T23:00:00+00:00", "2026-11-29T23:00:00+00:00"),  # crontab: 1 is Monday
        ("30 7 1 * *", "2026-10-31T23:00:00+00:00", "2026-11-30T23:00:00+00:00"),  # the previous month
        ("0 6 * * *", "2026-11-30T23:00:00+00:00", "2026-12-01T23:00:00+00:00"),  # the previous day
        ("*/15 * * * *", "2026-12-02T09:45:00+00:00", "2026-12-02T10:00:00+00:00"),  # since the previous run
    ],
)
def test_the_period_follows_from_the_cron(schedule, since, until):
    fire = latest_fire(parse_schedule(schedule, "Europe/Paris"), UTC_NOW)
    period = period_for(schedule, fire, "Europe/Paris")
    assert (period.since.isoformat(), period.until.isoformat()) == (since, until)


def test_a_bad_schedule_is_a_config_error_naming_the_key(tmp_path):
    desk = Desk(tmp_path / "desk", extra=f'\n[reports]\nschedule = "0 25 * * *"\n{MANAGERS}\n')
    with pytest.raises(ConfigError) as error:
        load_settings(desk.config)
    assert "reports.schedule: '0 25 * * *': hour field '25'" in str(error.value)
    code, _out, err = run_cli(desk.config, "rules", "check")
    assert code == 78 and "reports.schedule" in err


def _mails(db_url: str) -> list[tuple[str, bytes]]:
    return [
        (to, bytes(raw))
        for to, raw in db_rows(
            db_url, "SELECT to_addr, raw FROM outbox WHERE template = 'report' ORDER BY id"
        )
    ]


def test_the_report_mail_has_bars_the_page_and_the_csv_and_goes_once(tmp_path):
    t = Timeline(tmp_path / "desk", extra=f'\n[reports]\nschedule = "0 8 1 * *"\n{MANAGERS}\n')
    try:
        settings = t.app.settings
        fired = datetime(2026, 12, 1, 8, 0, 5, tzinfo=UTC)
        assert run_schedule(t.app.db, settings, t.app.pipeline.renderer, fired) == 2
        assert run_schedule(t.app.db, settings, t.app.pipeline.renderer, fired) == 0  # claimed already
        mails = _mails(t.desk.db_url)
        assert [to for to, _ in mails] == ["it-management@example.org", "cio@example.org"]
        message = email.message_from_bytes(mails[0][1], policy=email.policy.default)
        assert message["Subject"] == "[Support] Activity report from 2026-11-01 to 2026-12-01 by application"
        assert message["Auto-Submitted"] == "auto-generated" and message["X-Loop"] == "support@example.org"
        html = message.get_body(preferencelist=("html",)).get_content()
        assert "width:" in html and "background:" in html and "<svg" not in html  # CSS bars, no SVG
        attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
        assert set(attachments) == {"report-2026-11-01.html", "report-2026-11-01.csv"}
        assert "<svg" in attachments["report-2026-11-01.html"]
        rows = list(csv.reader(io.StringIO(attachments["report-2026-11-01.csv"])))
        assert rows[0][0] == "application" and rows[-1][0] == "(total)"
        assert "No tickets in this period" in message.get_body(preferencelist=("plain",)).get_content()
    finally:
        t.close()


def test_the_report_mail_speaks_french(tmp_path):
    from maildesk.runtime.app import App

    desk = Desk(tmp_path / "desk", extra=f'\n[reports]\nschedule = "0 8 * * mon"\n{MANAGERS}\n')
    desk.config.write_text(desk.config.read_text().replace('language = "en"', 'language = "fr"'))
    app = App.from_config(desk.config)
    try:
        assert run_schedule(
            app.db, app.settings, app.pipeline.renderer, datetime(2026, 11, 30, 8, 0, 1, tzinfo=UTC)
        )
        (_to, raw), _second = _mails(desk.db_url)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert message["Subject"].startswith("[Support] Rapport d'activité du 2026-11-23 au 2026-11-30")
        assert "Aucun ticket sur cette période" in message.get_body(preferencelist=("plain",)).get_content()
    finally:
        app.close()


def test_a_restarted_daemon_does_not_mail_a_period_again_but_makes_up_a_missed_run(tmp_path):
    from maildesk.runtime.app import App

    desk = Desk(tmp_path / "desk", extra=f'\n[reports]\nschedule = "0 8 * * mon"\n{MANAGERS}\n')
    monday = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
    app = App.from_config(desk.config)
    try:
        # Stopped over the Monday run: started on Monday afternoon, it makes the run up.
        assert run_schedule(
            app.db, app.settings, app.pipeline.renderer, monday.replace(hour=15), catching_up=True
        )
    finally:
        app.close()
    app = App.from_config(desk.config)  # a restart
    try:
        assert (
            run_schedule(
                app.db, app.settings, app.pipeline.renderer, monday.replace(hour=16), catching_up=True
            )
            == 0
        )
        # Started only on Wednesday: too late to make up Monday's run (a day of grace).
        later = datetime(2026, 12, 9, 8, 0, tzinfo=UTC)
        assert (
            run_schedule(app.db, app.settings, app.pipeline.renderer, later.replace(day=11), catching_up=True)
            == 0
        )
        assert run_schedule(app.db, app.settings, app.pipeline.renderer, later) == 2  # the cron's own run
    finally:
        app.close()
    assert len(_mails(desk.db_url)) == 4


@pytest.mark.postgres
@pytest.mark.slow
def test_two_daemons_on_postgresql_mail_each_period_once_also_after_a_restart(tmp_path):
    """Every minute is a period: both daemons run each, one claims it; a restart sends nothing again."""
    with postgres_url() as url:
        schedule = f'\n[reports]\nschedule = "* * * * *"\n{MANAGERS}\n'
        first = Desk(tmp_path / "one", db_url=url, extra=schedule)
        second = Desk(tmp_path / "two", db_url=url, extra=schedule)
        first.start()
        second.start()  # both catch up the run of the current minute at start: one of them mails it
        try:
            periods = lambda: db_rows(url, "SELECT since, until FROM report_runs ORDER BY since")  # noqa: E731
            wait_until(lambda: len(periods()) >= 1, timeout=30, what="the first period claimed")
            started = len(periods())
            # The next minute starts: both daemons' cron jobs fire, one period more.
            wait_until(lambda: len(periods()) >= started + 1, timeout=75, what="the next minute's report")
            claimed = periods()
            assert len({tuple(p) for p in claimed}) == len(claimed)  # never twice the same period
            mails = db_rows(
                url, "SELECT to_addr, count(*) FROM outbox WHERE template = 'report' GROUP BY to_addr"
            )
            assert dict(mails) == {"it-management@example.org": len(claimed), "cio@example.org": len(claimed)}
            count = len(claimed)
            second.stop()
            second.start()  # its catch-up finds the current minute mailed already
            time.sleep(3)
            assert len(periods()) in (count, count + 1)  # at most a new minute began meanwhile
            assert len(db_rows(url, "SELECT id FROM outbox WHERE template = 'report'")) == 2 * len(periods())
        finally:
            first.stop()
            second.stop()
