"""The figure queries: SQL over indexed columns, read in one streamed pass.

One query reads the tickets a period concerns (received in it, closed in
it, or open at its end) through the ``created_at`` and ``closed_at`` and
status indexes, with each ticket's group key already resolved in SQL; the
pass counts, collects the problem names and gathers the durations into
compact arrays (see ``stats``). Small queries add what happened in the
period to tickets of any age: closings that were undone after the period,
reopenings, escalations, time entries, self-service mails.

Why a streamed pass rather than GROUP BY: SQLite has no hash aggregation
(its GROUP BY sorts every row) and no percentile function (a window
function sorts again per figure), so a pass that only appends integers is
several times faster there; PostgreSQL reads the same rows through a
server-side cursor, so memory stays flat on both.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Integer, and_, case, cast, extract, func, literal, or_, select, union
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from maildesk.reports.keys import TICKETS as T
from maildesk.reports.keys import GroupKey, value_as_of
from maildesk.reports.period import Period
from maildesk.storage.models import (
    SelfServiceMail,
    TicketClosing,
    TicketEscalation,
    TimeEntry,
    UTCDateTime,
)

CLOSINGS = TicketClosing.__table__
ESCALATIONS = TicketEscalation.__table__
TIME = TimeEntry.__table__
SELF_SERVICE = SelfServiceMail.__table__
BATCH = 5000
QUARTER = 900  # seconds: volume per day is counted per quarter of an hour, then placed in local days


@dataclass
class Tally:
    """One group's running figures."""

    received: int = 0
    closed: int = 0
    open: int = 0
    reopened: int = 0
    problems: set[str] = field(default_factory=set)
    taken: array = field(default_factory=lambda: array("I"))
    first_response: array = field(default_factory=lambda: array("I"))
    resolution: array = field(default_factory=lambda: array("I"))
    first_response_met: int = 0
    first_response_decided: int = 0
    resolve_met: int = 0
    resolve_decided: int = 0
    escalations: dict[str, int] = field(default_factory=dict)
    escalations_by_timer: dict[str, int] = field(default_factory=dict)
    self_care: int = 0
    time_s: int = 0
    amount: float | None = None


@dataclass
class Scan:
    """Everything the pass gathered, by raw group key (None: no value)."""

    groups: dict[str | None, Tally] = field(default_factory=dict)
    # Within target by level (as it was), for the chart: level -> [fr met, fr decided, res met, res decided].
    levels: dict[str | None, list[int]] = field(default_factory=dict)
    received_by_day: list[int] = field(default_factory=list)
    closed_by_day: list[int] = field(default_factory=list)

    def tally(self, key: str | None) -> Tally:
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = Tally()
        return found

    def level(self, key: str | None) -> list[int]:
        found = self.levels.get(key)
        if found is None:
            found = self.levels[key] = [0, 0, 0, 0]
        return found


def _moment(value) -> ColumnElement:  # noqa: ANN001 - a datetime bound with the column's own type
    return literal(value, UTCDateTime())


def _flag(condition: ColumnElement) -> ColumnElement:
    return case((condition, 1), else_=0)


def scan_period(connection: Connection, period: Period, by: GroupKey, *, with_days: bool) -> Scan:
    """Run every figure query of ``period`` grouped by ``by``."""
    scan = Scan()
    day_starts = period.day_starts() if with_days else []
    scan.received_by_day = [0] * len(day_starts)
    scan.closed_by_day = [0] * len(day_starts)
    _scan_tickets(connection, scan, period, by, day_starts)
    _scan_undone_closings(connection, scan, period, by, day_starts)
    _scan_reopenings(connection, scan, period, by)
    _scan_escalations(connection, scan, period, by)
    return scan


def _rows(connection: Connection, query) -> Iterator[tuple]:  # noqa: ANN001 - a Select
    """Rows in batches through a server-side cursor (PostgreSQL) or SQLite's own stepping: flat memory."""
    result = connection.execution_options(stream_results=True, max_row_buffer=BATCH).execute(query)
    for partition in result.partitions(BATCH):
        yield from partition


def _scan_tickets(
    connection: Connection, scan: Scan, period: Period, by: GroupKey, day_starts: list[float]
) -> None:
    """Received, closed and open tickets, grouped in SQL; their durations come back ``packed``."""
    since, until = _moment(period.since), _moment(period.until)
    closed_before_until = and_(T.c.status == "closed", T.c.closed_at < until)
    asof = case((closed_before_until, T.c.closed_at), else_=until)
    received = and_(T.c.created_at >= since, T.c.created_at < until)
    closed = and_(T.c.status == "closed", T.c.closed_at >= since, T.c.closed_at < until)
    # Open at the end: not closed now, or closed only after the end.
    not_closed = and_(T.c.status.in_(("new", "open", "pending")), T.c.created_at < until)
    closed_after = and_(T.c.closed_at >= until, T.c.created_at < until)
    still_open = or_(not_closed, closed_after)
    dialect = connection.dialect.name
    key = by.expression(asof).label("key")
    count = func.count()
    query = select(
        key,
        count.filter(received),
        count.filter(closed),
        count.filter(still_open),
        packed(dialect, T.c.taken_into_account_s, received),
        packed(dialect, T.c.first_response_s, received),
        packed(dialect, T.c.resolution_s, closed),
        count.filter(and_(received, T.c.first_response_met.is_not(None))),
        count.filter(and_(received, T.c.first_response_met.is_(True))),
        count.filter(and_(closed, T.c.resolve_met.is_not(None))),
        count.filter(and_(closed, T.c.resolve_met.is_(True))),
        count.filter(and_(closed, T.c.self_care.is_(True))),
        _distinct_names(dialect, T.c.problem, received),
    ).group_by(key)
    if not _covers_most(connection, period):
        # Three index ranges (one UNION, so no planner reads the table instead); rows they bring that
        # the period does not concern count nowhere.
        concerned = union(
            select(T.c.number).where(received),
            select(T.c.number).where(T.c.closed_at >= since),
            select(T.c.number).where(T.c.status.in_(("new", "open", "pending"))),
        )
        query = query.where(T.c.number.in_(concerned))
    for row in connection.execute(query):
        group_key, got, shut, pending, taken, answer, resolution = row[:7]
        fr_decided, fr_met, res_decided, res_met, self_care, problems = row[7:]
        if not (got or shut or pending):
            continue  # tickets this period does not concern (the whole table was read)
        group = scan.tally(group_key)
        group.received += got
        group.closed += shut
        group.open += pending
        group.taken.extend(unpack(taken))
        group.first_response.extend(unpack(answer))
        group.resolution.extend(unpack(resolution))
        group.first_response_decided += fr_decided
        group.first_response_met += fr_met
        group.resolve_decided += res_decided
        group.resolve_met += res_met
        group.self_care += self_care
        group.problems.update(_names(problems, dialect))
    if day_starts:
        _scan_levels(connection, scan, received, closed, asof)
        _scan_days(connection, scan, period, received, closed, day_starts)


def packed(dialect: str, column: ColumnElement, condition: ColumnElement) -> ColumnElement:
    """The group's non-null values of ``column`` as one string of 8 hex digits each, built by the database.

    The durations of a million tickets reach Python as a few strings that
    ``unpack`` turns into an array at C speed: no row and no object per ticket.
    """
    where = and_(condition, column.is_not(None))
    if dialect == "postgresql":
        return func.string_agg(func.lpad(func.to_hex(column), 8, "0"), literal("")).filter(where)
    return func.group_concat(func.printf("%08x", column), literal("")).filter(where)


def unpack(text: str | None) -> array:
    """The array of the values ``packed`` wrote."""
    values = array("I")
    if text:
        values.frombytes(bytes.fromhex(text))
        if sys.byteorder == "little":
            values.byteswap()
    return values


def _covers_most(connection: Connection, period: Period) -> bool:
    """On SQLite, whether the period holds most tickets: then one pass over the table beats the indexes.

    PostgreSQL's planner knows this from its statistics.
    """
    if connection.dialect.name != "sqlite":
        return False
    received = connection.execute(
        select(func.count()).where(
            T.c.created_at >= _moment(period.since), T.c.created_at < _moment(period.until)
        )
    ).scalar_one()
    total = connection.execute(select(func.count()).select_from(T)).scalar_one()
    return received * 3 > total


_SEPARATOR = "\x1f"


def _distinct_names(dialect: str, column: ColumnElement, condition: ColumnElement) -> ColumnElement:
    """The group's distinct non-null values of a text column, joined by a control character."""
    if dialect == "postgresql":
        return func.string_agg(column.distinct(), literal(_SEPARATOR)).filter(condition)
    # SQLite's group_concat takes no separator with DISTINCT: its commas are put back by _names.
    return func.group_concat(func.replace(column, ",", _SEPARATOR).distinct()).filter(condition)


def _names(joined: str | None, dialect: str) -> set[str]:
    """The names :func:`_distinct_names` joined."""
    if not joined:
        return set()
    if dialect == "postgresql":
        return set(joined.split(_SEPARATOR))
    return {part.replace(_SEPARATOR, ",") for part in joined.split(",")}


def _scan_levels(
    connection: Connection, scan: Scan, received: ColumnElement, closed: ColumnElement, asof: ColumnElement
) -> None:
    """Within target by level (as it was), for the chart."""
    level = value_as_of("level", asof).label("level")
    count = func.count()
    query = (
        select(
            level,
            count.filter(and_(received, T.c.first_response_met.is_(True))),
            count.filter(and_(received, T.c.first_response_met.is_not(None))),
            count.filter(and_(closed, T.c.resolve_met.is_(True))),
            count.filter(and_(closed, T.c.resolve_met.is_not(None))),
        )
        .where(or_(received, closed))
        .group_by(level)
    )
    for name, *counts in connection.execute(query):
        targets = scan.level(name)
        for index, value in enumerate(counts):
            targets[index] += value


def _scan_days(
    connection: Connection,
    scan: Scan,
    period: Period,
    received: ColumnElement,
    closed: ColumnElement,
    day_starts: list[float],
) -> None:
    """Received and closed per local day: counted per quarter of an hour in SQL, placed in days here
    (a day's UTC bounds move with daylight saving time, and some zones are half an hour off)."""
    for moment, condition, days in (
        (T.c.created_at, received, scan.received_by_day),
        (T.c.closed_at, closed, scan.closed_by_day),
    ):
        bucket = (cast(extract("epoch", moment), Integer) // QUARTER).label("bucket")
        query = select(bucket, func.count()).where(condition).group_by(bucket)
        for quarter, count in connection.execute(query):
            days[max(0, bisect_right(day_starts, int(quarter) * QUARTER) - 1)] += count


def _count_closing(group: Tally, targets: list[int], resolution, met, self_care) -> None:  # noqa: ANN001
    group.closed += 1
    if resolution is not None:
        group.resolution.append(resolution)
    if met is not None:
        group.resolve_decided += 1
        targets[3] += 1
        if met:
            group.resolve_met += 1
            targets[2] += 1
    if self_care:
        group.self_care += 1


def _closing_joined(*where: ColumnElement):  # noqa: ANN202 - a Select builder
    return CLOSINGS.join(T, T.c.number == CLOSINGS.c.ticket), and_(*where)


def _scan_undone_closings(
    connection: Connection, scan: Scan, period: Period, by: GroupKey, day_starts: list[float]
) -> None:
    """Tickets closed at the end of the period whose closing was undone later (reopened after it).

    The ticket pass saw them as not closed: they count as closed in the period
    (when the closing falls in it) and not as open at its end.
    """
    since, until = _moment(period.since), _moment(period.until)
    c = CLOSINGS
    joined, where = _closing_joined(c.c.reopened_at >= until, c.c.closed_at < until)
    query = (
        select(
            by.expression(until),
            by.expression(c.c.closed_at),
            value_as_of("level", c.c.closed_at),
            _flag(c.c.closed_at >= since),
            extract("epoch", c.c.closed_at) if day_starts else literal(None),
            c.c.resolution_s,
            c.c.resolve_met,
            c.c.self_care,
        )
        .select_from(joined)
        .where(where)
    )
    for key_at_end, key_at_closing, level, in_period, ended, resolution, met, self_care in _rows(
        connection, query
    ):
        scan.tally(key_at_end).open -= 1
        if in_period:
            _count_closing(scan.tally(key_at_closing), scan.level(level), resolution, met, self_care)
            if day_starts:
                scan.closed_by_day[bisect_right(day_starts, ended) - 1] += 1


def _scan_reopenings(connection: Connection, scan: Scan, period: Period, by: GroupKey) -> None:
    since, until = _moment(period.since), _moment(period.until)
    reopened = (
        select(CLOSINGS.c.ticket)
        .where(CLOSINGS.c.reopened_at >= since, CLOSINGS.c.reopened_at < until)
        .scalar_subquery()
    )
    key = by.expression(until).label("key")
    query = select(key, func.count()).where(T.c.number.in_(reopened)).group_by(key)
    for group_key, count in connection.execute(query):
        scan.tally(group_key).reopened += count


def _scan_escalations(connection: Connection, scan: Scan, period: Period, by: GroupKey) -> None:
    since, until = _moment(period.since), _moment(period.until)
    e = ESCALATIONS
    key = by.expression(until).label("key")
    query = (
        select(key, e.c.to_level, e.c.by_timer, func.count())
        .select_from(e.join(T, T.c.number == e.c.ticket))
        .where(e.c.at >= since, e.c.at < until)
        .group_by(key, e.c.to_level, e.c.by_timer)
    )
    for group_key, level, by_timer, count in connection.execute(query):
        group = scan.tally(group_key)
        level_key = str(level)
        group.escalations[level_key] = group.escalations.get(level_key, 0) + count
        if by_timer:
            group.escalations_by_timer[level_key] = group.escalations_by_timer.get(level_key, 0) + count


def time_by_organisation(
    connection: Connection, period: Period, by: GroupKey
) -> Iterator[tuple[str | None, str | None, int]]:
    """Seconds of ``[time=...]`` recorded in the period: (group key, organisation, seconds)."""
    since, until = _moment(period.since), _moment(period.until)
    key = by.expression(until).label("key")
    query = (
        select(key, T.c.organisation, func.sum(TIME.c.seconds))
        .select_from(TIME.join(T, T.c.number == TIME.c.ticket))
        .where(TIME.c.at >= since, TIME.c.at < until)
        .group_by(key, T.c.organisation)
    )
    for group_key, organisation, seconds in connection.execute(query):
        yield group_key, organisation, int(seconds or 0)


def self_service_by_organisation(connection: Connection, period: Period) -> Iterator[tuple[str | None, int]]:
    """Self-service mails answered in the period that opened no ticket: (organisation, how many)."""
    s = SELF_SERVICE
    query = (
        select(s.c.organisation, func.count())
        .where(s.c.at >= _moment(period.since), s.c.at < _moment(period.until))
        .group_by(s.c.organisation)
    )
    yield from connection.execute(query)
