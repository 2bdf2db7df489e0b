"""The figure queries: SQL over indexed columns, each group's durations handed over packed.

The tickets a period concerns fall in disjoint parts, each read through its
own index: received in the period (``created_at``), created before it and
closed in it (``closed_at``), created before it and open at its end
(``status``, and ``closed_at`` for those closed only later). One grouped
query over their ``UNION ALL`` counts them and packs each group's durations
into a string of numbers that numpy reads at C speed (``stats``): no row and
no object per ticket in Python. The oldest and newest creation and closing
(read from the indexes' ends) drop the comparisons that hold for every
ticket, so a period that holds them all is one plain pass over the table.
Small queries add what happened in the period to tickets of any age:
closings undone after it, reopenings, escalations, time, self-service mail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import Integer, Text, and_, case, cast, func, literal, null, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from maildesk.reports import stats
from maildesk.reports.keys import TICKETS as T
from maildesk.reports.keys import value_as_of
from maildesk.reports.period import Period
from maildesk.states import OPEN_STATUSES, TicketStatus
from maildesk.storage.models import SelfCareMail, TicketClosing, TicketEscalation, TimeEntry, UTCDateTime

CLOSINGS = TicketClosing.__table__
ESCALATIONS = TicketEscalation.__table__
TIME = TimeEntry.__table__
SELF_SERVICE = SelfCareMail.__table__


#: A ``--by`` key bound to the settings: the group of a ticket row as it was at ``asof``.
KeyAt = Callable[[ColumnElement], ColumnElement]


@dataclass
class Tally:
    """One group's running figures; durations as the arrays read from each query."""

    received: int = 0
    closed: int = 0
    open: int = 0
    reopened: int = 0
    problems: set[str] = field(default_factory=set)
    taken: list[np.ndarray] = field(default_factory=list)
    first_response: list[np.ndarray] = field(default_factory=list)
    resolution: list[np.ndarray] = field(default_factory=list)
    first_response_met: int = 0
    first_response_decided: int = 0
    resolve_met: int = 0
    resolve_decided: int = 0
    escalations: dict[str, int] = field(default_factory=dict)
    escalations_by_timer: dict[str, int] = field(default_factory=dict)
    self_care: int = 0
    time_s: int = 0
    amount: float | None = None

    def absorb(self, other: Tally) -> None:
        for name in ("received", "closed", "open", "reopened", "self_care", "time_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("first_response_met", "first_response_decided", "resolve_met", "resolve_decided"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems |= other.problems
        for name in ("taken", "first_response", "resolution"):
            getattr(self, name).extend(getattr(other, name))
        for name in ("escalations", "escalations_by_timer"):
            mine = getattr(self, name)
            for level, count in getattr(other, name).items():
                mine[level] = mine.get(level, 0) + count


@dataclass
class Scan:
    """Everything the queries gathered, by raw group key (None: no value)."""

    groups: dict[str | None, Tally] = field(default_factory=dict)
    # Within target by level (as it was), for the chart: level -> [fr met, fr decided, res met, res decided].
    levels: dict[str | None, list[int]] = field(default_factory=dict)
    received_by_day: list[int] = field(default_factory=list)
    closed_by_day: list[int] = field(default_factory=list)

    @classmethod
    def for_days(cls, days: int) -> Scan:
        return cls(received_by_day=[0] * days, closed_by_day=[0] * days)

    def absorb(self, other: Scan) -> None:
        """Add what another pass gathered (on another connection) to this one."""
        for key, tally in other.groups.items():
            self.tally(key).absorb(tally)
        for key, counts in other.levels.items():
            self.level(key)[:] = [a + b for a, b in zip(self.level(key), counts, strict=True)]
        for mine, theirs in (
            (self.received_by_day, other.received_by_day),
            (self.closed_by_day, other.closed_by_day),
        ):
            mine[:] = [a + b for a, b in zip(mine, theirs, strict=True)]

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


def moment(value: datetime) -> ColumnElement:
    """A datetime bound with the column's own type (SQLite stores text, PostgreSQL timestamptz)."""
    return literal(value, UTCDateTime())


def scan_tickets(
    connection: Connection, scan: Scan, period: Period, key: KeyAt, *, with_days: bool
) -> TicketParts:
    """The figures of the tickets ``period`` concerns, grouped by ``key`` (and by level for the charts)."""
    parts = TicketParts(connection, period)
    for row in connection.execute(parts.grouped(key)):
        _add_tickets(scan, row)
    for group_key, problem in connection.execute(parts.problems(key)):
        scan.tally(group_key).problems.add(problem)
    if with_days:
        level = lambda asof: value_as_of("level", asof)  # noqa: E731 - a KeyAt like the others
        for row in connection.execute(parts.grouped(level, durations=False)):
            name, counts = row[0], row[7:11]
            targets = scan.level(name)
            for index, value in enumerate(counts):
                targets[index] += value
    return parts


def _add_tickets(scan: Scan, row: tuple) -> None:
    group_key, got, shut, pending, taken, answer, resolution = row[:7]
    fr_met, fr_decided, res_met, res_decided, self_care = row[7:]
    group = scan.tally(group_key)
    group.received += got or 0
    group.closed += shut or 0
    group.open += pending or 0
    group.taken.append(stats.unpack(taken))
    group.first_response.append(stats.unpack(answer))
    group.resolution.append(stats.unpack(resolution))
    group.first_response_met += fr_met
    group.first_response_decided += fr_decided
    group.resolve_met += res_met
    group.resolve_decided += res_decided
    group.self_care += self_care


class TicketParts:
    """The tickets a period concerns, as disjoint parts each found through one index.

    Every part gives the same columns: whether the ticket was received in the
    period, closed in it (its standing closing), open at its end, and the
    values each of those counts.
    """

    def __init__(self, connection: Connection, period: Period) -> None:
        self.dialect = connection.dialect.name
        self.since, self.until = moment(period.since), moment(period.until)
        first, last, last_closed = connection.execute(
            select(
                select(func.min(T.c.created_at)).scalar_subquery(),
                select(func.max(T.c.created_at)).scalar_subquery(),
                select(func.max(T.c.closed_at)).scalar_subquery(),
            )
        ).one()
        # Which comparisons can fail for some ticket (the others are dropped).
        self.older = first is not None and first < period.since  # tickets created before the period
        self.newer = last is not None and last >= period.until  # tickets created after it
        self.closed_later = last_closed is not None and last_closed >= period.until
        self.scan_table = self.dialect == "sqlite" and self._covers_most(connection)

    def _covers_most(self, connection: Connection) -> bool:
        """On SQLite, whether most tickets were received in the period: then one pass over the table
        beats visiting it through the ``created_at`` index (PostgreSQL's planner knows it from its
        statistics)."""
        received = connection.execute(
            select(func.count()).select_from(T).where(*self._received_where(T.c.created_at))
        ).scalar_one()
        total = connection.execute(select(func.count()).select_from(T)).scalar_one()
        return received * 3 > total

    def _received_where(self, created: ColumnElement) -> list[ColumnElement]:
        return [
            c
            for c, needed in ((created >= self.since, self.older), (created < self.until, self.newer))
            if needed
        ]

    def _closed_by_end(self) -> ColumnElement:
        """A ticket created in the period is closed at its end."""
        closed: ColumnElement = T.c.status == TicketStatus.CLOSED
        return and_(closed, T.c.closed_at < self.until) if self.closed_later else closed

    def parts(self, key: KeyAt, *, durations: bool = True) -> list[Select]:
        until = self.until
        closed_by_end = self._closed_by_end()
        # SQLite: a function of the column, so the planner reads the table in order instead of the index.
        created = func.coalesce(T.c.created_at, T.c.created_at) if self.scan_table else T.c.created_at
        flag = case((closed_by_end, 1), else_=0)
        received = _Part(key(case((closed_by_end, T.c.closed_at), else_=until)), True, flag, 1 - flag)
        parts = [received.select(durations, closed_by_end).where(*self._received_where(created))]
        if not self.older:
            return parts
        # Created before the period: never the index to search by here (that would be most of the table).
        before = func.coalesce(T.c.created_at, T.c.created_at) < self.since
        closed_in = [T.c.status == TicketStatus.CLOSED, T.c.closed_at >= self.since]
        if self.closed_later:
            closed_in.append(T.c.closed_at < until)
        closed = _Part(key(T.c.closed_at), False, literal(1), literal(0))
        parts.append(closed.select(durations, True).where(*closed_in, before))
        still_open = _Part(key(until), False, literal(0), literal(1))
        parts.append(still_open.select(durations, False).where(T.c.status.in_(OPEN_STATUSES), before))
        if self.closed_later:
            closed_after = [T.c.status == TicketStatus.CLOSED, T.c.closed_at >= until, before]
            parts.append(still_open.select(durations, False).where(*closed_after))
        return parts

    def grouped(self, key: KeyAt, *, durations: bool = True) -> Select:
        """Counts, packed durations and distinct problems of every group."""
        parts = self.parts(key, durations=durations)
        rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("concerned")
        c = rows.c
        return select(
            c.key,
            func.sum(c.r),
            func.sum(c.c),
            func.sum(c.o),
            packed(self.dialect, c.taken),
            packed(self.dialect, c.answer),
            packed(self.dialect, c.resolution),
            func.coalesce(func.sum(c.fr_met), 0),
            func.count(c.fr_met),
            func.coalesce(func.sum(c.res_met), 0),
            func.count(c.res_met),
            func.coalesce(func.sum(c.self_care), 0),
        ).group_by(c.key)

    def problems(self, key: KeyAt) -> Select:
        """The distinct problems of each group's received tickets, through the partial index of the tickets
        that have one (a DISTINCT in the main query would also make PostgreSQL sort instead of hash)."""
        asof = case((self._closed_by_end(), T.c.closed_at), else_=self.until)
        group = key(asof).label("key")
        return (
            select(group, T.c.problem)
            .where(T.c.problem.is_not(None), *self._received_where(T.c.created_at))
            .group_by(group, T.c.problem)
        )


@dataclass(frozen=True)
class _Part:
    """One part's group key and whether its rows count as received, closed and open."""

    group: ColumnElement
    received: bool
    closed: ColumnElement
    opened: ColumnElement

    def select(self, durations: bool, closing: ColumnElement | bool) -> Select:
        """The part's columns; ``closing`` says whether a row's closing counts (True, False or per row)."""

        def if_closed(column: ColumnElement) -> ColumnElement:
            if closing is True:
                return column
            return null() if closing is False else case((closing, column))

        def if_received(column: ColumnElement) -> ColumnElement:
            return column if self.received else null()

        def duration(column: ColumnElement) -> ColumnElement:
            return column if durations else null()

        return select(
            self.group.label("key"),
            literal(1 if self.received else 0).label("r"),
            self.closed.label("c"),
            self.opened.label("o"),
            duration(if_received(T.c.taken_into_account_s)).label("taken"),
            duration(if_received(T.c.first_response_s)).label("answer"),
            duration(if_closed(T.c.resolution_s)).label("resolution"),
            if_received(cast(T.c.first_response_met, Integer)).label("fr_met"),
            if_closed(cast(T.c.resolve_met, Integer)).label("res_met"),
            if_closed(cast(T.c.self_care, Integer)).label("self_care"),
        ).select_from(T)


def packed(dialect: str, column: ColumnElement) -> ColumnElement:
    """The group's non-null values of an integer column as one string of decimal numbers."""
    if dialect == "postgresql":
        return func.string_agg(cast(column, Text), literal(","))
    return func.group_concat(column)  # its separator is a comma; NULLs are left out
