"""The figure queries about what happened in a period to tickets of any age: closings undone after it,
reopenings, escalations, time recorded, self-service mail; and the volume per day of the charts.

Each is driven by an index on its own table (``at``, ``reopened_at``) and
joins the few tickets it needs by number, so none reads the whole tickets table.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

import numpy as np
from sqlalchemy import Integer, and_, cast, extract, func, literal, null, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql import CompoundSelect
from sqlalchemy.sql.elements import ColumnElement

from maildesk.reports.keys import TICKETS as T
from maildesk.reports.keys import value_as_of
from maildesk.reports.period import Period
from maildesk.reports.scan import CLOSINGS, ESCALATIONS, SELF_SERVICE, TIME, KeyAt, Scan, Tally, moment
from maildesk.states import TicketStatus

QUARTER = 900  # seconds: volume per day is counted per quarter of an hour, then placed in local days


def scan_events(
    connection: Connection, scan: Scan, period: Period, key: KeyAt, day_starts: list[float]
) -> Iterator[tuple[str | None, str | None, int]]:
    """Closings undone after the period, reopenings and escalations into ``scan``; yields the time
    recorded, (group key, organisation, seconds), for the caller to bill."""
    _undone_closings(connection, scan, period, key, day_starts)
    for group_key, organisation, what, level, by_timer, amount in happenings(connection, period, key):
        tally = scan.tally(group_key)
        if what == TIME_SPENT:
            yield group_key, organisation, amount
        elif what == REOPENING:
            tally.reopened += amount
        else:
            name = str(level)
            tally.escalations[name] = tally.escalations.get(name, 0) + amount
            if by_timer:
                tally.escalations_by_timer[name] = tally.escalations_by_timer.get(name, 0) + amount


def _count_closing(
    group: Tally, targets: list[int], resolution: int | None, met: bool | None, self_care: bool
) -> None:
    group.closed += 1
    if resolution is not None:
        group.resolution.append(_one(resolution))
    if met is not None:
        group.resolve_decided += 1
        targets[3] += 1
        if met:
            group.resolve_met += 1
            targets[2] += 1
    if self_care:
        group.self_care += 1


def _one(value: int) -> np.ndarray:
    return np.array([value], dtype=np.int64)


def _undone_closings(
    connection: Connection, scan: Scan, period: Period, key: KeyAt, day_starts: list[float]
) -> None:
    """Tickets closed at the end of the period whose closing was undone later (reopened after it).

    The ticket parts saw them as not closed: they count as closed in the period
    (when the closing falls in it) and not as open at its end.
    """
    since, until = moment(period.since), moment(period.until)
    c = CLOSINGS
    query = (
        select(
            key(until),
            key(c.c.closed_at),
            value_as_of("level", c.c.closed_at),
            c.c.closed_at >= since,
            extract("epoch", c.c.closed_at) if day_starts else literal(None),
            c.c.resolution_s,
            c.c.resolve_met,
            c.c.self_care,
        )
        .select_from(c.join(T, T.c.number == c.c.ticket))
        .where(c.c.reopened_at >= until, c.c.closed_at < until)
    )
    for key_at_end, key_at_closing, level, in_period, ended, resolution, met, self_care in connection.execute(
        query
    ):
        scan.tally(key_at_end).open -= 1
        if in_period:
            _count_closing(scan.tally(key_at_closing), scan.level(level), resolution, met, self_care)
            if day_starts:
                scan.closed_by_day[bisect_right(day_starts, ended) - 1] += 1


def _by_ticket(dialect: str, column: ColumnElement) -> ColumnElement:
    """On SQLite, a condition the planner cannot search an index by: it then reads the event table's
    index in ticket order, and the tickets joined to it come in the order they are stored, far faster
    than looked up at random (PostgreSQL plans the join from its statistics)."""
    return func.coalesce(column, column) if dialect == "sqlite" else column


TIME_SPENT, ESCALATION, REOPENING = "time", "escalation", "reopening"


def _happenings(dialect: str, period: Period) -> CompoundSelect:
    """What happened in the period, per ticket: time recorded, escalations by level and how, reopenings."""
    since, until = moment(period.since), moment(period.until)
    e, c = ESCALATIONS, CLOSINGS
    reopened = _by_ticket(dialect, c.c.reopened_at)
    return union_all(
        select(TIME.c.ticket, literal(TIME_SPENT), null(), null(), func.sum(TIME.c.seconds))
        .where(TIME.c.at >= since, TIME.c.at < until)
        .group_by(TIME.c.ticket),
        select(e.c.ticket, literal(ESCALATION), e.c.to_level, cast(e.c.by_timer, Integer), func.count())
        .where(e.c.at >= since, e.c.at < until)
        .group_by(e.c.ticket, e.c.to_level, e.c.by_timer),
        select(c.c.ticket, literal(REOPENING), null(), null(), literal(1))  # once, however many times
        .where(c.c.ticket > 0, reopened >= since, reopened < until)
        .group_by(c.c.ticket),
    )


def happenings(
    connection: Connection, period: Period, key: KeyAt
) -> Iterator[tuple[str | None, str | None, str, int | None, bool, int]]:
    """(group key, organisation, kind, level, by timer, how much) of what happened in the period, joined
    to the tickets once: seconds of ``[time=...]``, escalations into a level, tickets reopened."""
    rows = _happenings(connection.dialect.name, period).subquery("happened")
    ticket, kind, level, by_timer, value = rows.c
    group = key(moment(period.until)).label("key")
    query = (
        select(group, T.c.organisation, kind, level, by_timer, func.sum(value))
        .select_from(rows.join(T, T.c.number == ticket))
        .group_by(group, T.c.organisation, kind, level, by_timer)
    )
    for group_key, organisation, what, to_level, timer, amount in connection.execute(query):
        yield group_key, organisation, what, to_level, bool(timer), int(amount or 0)


def scan_days(connection: Connection, scan: Scan, period: Period, day_starts: list[float]) -> None:
    """Received and closed per local day: counted per quarter of an hour in SQL, placed in days here
    (a day's UTC bounds move with daylight saving time, and some zones are half an hour off)."""
    since, until = moment(period.since), moment(period.until)
    received = and_(T.c.created_at >= since, T.c.created_at < until)
    closed = and_(T.c.status == TicketStatus.CLOSED, T.c.closed_at >= since, T.c.closed_at < until)
    for instant, condition, days in (
        (T.c.created_at, received, scan.received_by_day),
        (T.c.closed_at, closed, scan.closed_by_day),
    ):
        bucket = (cast(extract("epoch", instant), Integer) // QUARTER).label("bucket")
        query = select(bucket, func.count()).where(condition).group_by(bucket)
        for quarter, count in connection.execute(query):
            days[max(0, bisect_right(day_starts, int(quarter) * QUARTER) - 1)] += count


def self_service_by_organisation(connection: Connection, period: Period) -> Iterator[tuple[str | None, int]]:
    """Self-service mails answered in the period that opened no ticket: (organisation, how many).

    A mail whose answer was replied to, opening a ticket, names that ticket: it was not self-care.
    """
    s = SELF_SERVICE
    query = (
        select(s.c.organisation, func.count())
        .where(s.c.at >= moment(period.since), s.c.at < moment(period.until), s.c.ticket.is_(None))
        .group_by(s.c.organisation)
    )
    for organisation, count in connection.execute(query):
        yield organisation, int(count)
