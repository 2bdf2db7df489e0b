"""The scheduled report: ``[reports] schedule`` (cron, ``[desk] timezone``) mails the period that just ended.

The period follows from the cron: a schedule on one day of the week reports
the previous calendar week (Monday to Monday), one on a day of the month the
previous calendar month, a daily one the previous day; any other the time
since its previous run. Each period is mailed once, also with several
daemons and across restarts: the daemon that sends it first claims it with a
unique row in ``report_runs``, in the very transaction that queues its mail,
so a crash before the commit leaves it to be sent by the next run. A daemon
started within a day after a run it missed sends that run's report then.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from maildesk.config import Settings
from maildesk.cron import for_apscheduler
from maildesk.reports.period import Period, previous_day, previous_month, previous_week
from maildesk.storage.db import Database
from maildesk.storage.models import ReportRun

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from maildesk.notify.render import Renderer

log = structlog.get_logger("maildesk.reports")
CATCH_UP = timedelta(days=1)  # a run missed by less than this is made up at start-up
_LOOK_BACK = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
)


def parse_schedule(schedule: str, timezone: str) -> CronTrigger:
    """The cron trigger of ``[reports] schedule``; ValueError saying what is wrong."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} is not a cron line of 5 fields (minute hour day month weekday)")
    return CronTrigger.from_crontab(for_apscheduler(schedule), timezone=timezone)


def period_for(schedule: str, fire_time: datetime, timezone: str) -> Period:
    """The period a run at ``fire_time`` reports on."""
    _minute, _hour, day, month, weekday = schedule.split()
    if day == "*" and month == "*" and weekday != "*":
        since, until = previous_week(fire_time, timezone)
    elif day != "*" and weekday == "*":
        since, until = previous_month(fire_time, timezone)
    elif day == "*" and month == "*" and weekday == "*" and _hour not in ("*",) and "/" not in _hour:
        since, until = previous_day(fire_time, timezone)
    else:
        trigger = parse_schedule(schedule, timezone)
        since = latest_fire(trigger, fire_time - timedelta(seconds=1)) or fire_time - timedelta(days=1)
        until = fire_time
    return Period(since=since.astimezone(UTC), until=until.astimezone(UTC), timezone=timezone)


def latest_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The last time the schedule fired at or before ``now`` (within a year), or None."""
    for back in _LOOK_BACK:
        found, moment = None, trigger.get_next_fire_time(None, now - back)
        while moment is not None and moment <= now:
            found = moment
            moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
        if found is not None:
            return found
    return None


def already_sent(db: Database, period: Period) -> bool:
    with db.engine.connect() as connection:
        query = select(ReportRun.id).where(ReportRun.since == period.since, ReportRun.until == period.until)
        return connection.execute(query).first() is not None


def run_schedule(
    db: Database, settings: Settings, renderer: Renderer, now: datetime, *, catching_up: bool = False
) -> int:
    """Mail the report of the latest run of the schedule unless it was mailed; how many mails were queued."""
    from maildesk.reports.mailing import queue_report

    reports = settings.reports
    if not reports.schedule or not reports.recipients:
        return 0
    timezone = settings.desk.timezone
    fire = latest_fire(parse_schedule(reports.schedule, timezone), now)
    if fire is None or (catching_up and now - fire > CATCH_UP):
        return 0
    period = period_for(reports.schedule, fire, timezone)
    if already_sent(db, period):
        return 0  # another daemon, or this one before a restart
    try:
        queued = queue_report(db, settings, renderer, period, now)
    except IntegrityError:
        log.info("report_already_claimed", since=period.since.isoformat(), until=period.until.isoformat())
        return 0
    log.info("report_queued", since=period.since.isoformat(), until=period.until.isoformat(), mails=queued)
    return queued


def claim(session: Session, period: Period, now: datetime, recipients: int) -> None:
    """Take the period: raises IntegrityError (at flush) when another daemon has it already."""
    session.add(ReportRun(since=period.since, until=period.until, claimed_at=now, recipients=recipients))
    session.flush()
