"""``report --tickets``: one line per ticket of the period, the billing detail, streamed from SQL.

A ticket belongs to the period when it was received or closed in it, or
when time was recorded on it in it (what is billed is that time).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence

from sqlalchemy import Select, and_, case, func, or_, select

from maildesk.config import Settings
from maildesk.durations import format_duration
from maildesk.reports.build import rate_of
from maildesk.reports.keys import BY, NONE_LABEL, value_as_of
from maildesk.reports.keys import TICKETS as T
from maildesk.reports.period import Period
from maildesk.reports.scan import TIME, moment
from maildesk.states import TicketStatus
from maildesk.storage.db import Database

BATCH = 2000  # rows read at a time: PostgreSQL through a server-side cursor, so memory stays flat
COLUMNS = (
    "number",
    "subject",
    "organisation",
    "application",
    "category",
    "kind",
    "level",
    "team",
    "status",
    "created_at",
    "taken_into_account_s",
    "first_response_s",
    "resolution_s",
    "time_spent",
    "amount",
)


def ticket_lines(db: Database, settings: Settings, period: Period) -> Iterator[dict]:
    """The billing detail of ``period``, ticket by ticket in number order."""
    with db.engine.connect() as connection:
        query = _lines_query(settings, period)
        result = connection.execution_options(stream_results=True, max_row_buffer=BATCH).execute(query)
        for row in result:
            yield _line(settings, row)


def _lines_query(settings: Settings, period: Period) -> Select:
    """Each ticket created, closed or worked on in the period, with its fields as they were at its end."""
    since, until = moment(period.since), moment(period.until)
    closed_before_until = and_(T.c.status == TicketStatus.CLOSED, T.c.closed_at < until)
    asof = case((closed_before_until, T.c.closed_at), else_=until)
    spent = (
        select(TIME.c.ticket, func.sum(TIME.c.seconds).label("seconds"))
        .where(TIME.c.at >= since, TIME.c.at < until)
        .group_by(TIME.c.ticket)
        .subquery()
    )
    status = case(
        (closed_before_until, TicketStatus.CLOSED),
        (T.c.status == TicketStatus.CLOSED, TicketStatus.OPEN),
        else_=T.c.status,
    )  # as it was at the end of the period
    query = (
        select(
            T.c.number,
            T.c.subject,
            T.c.organisation,
            value_as_of("application", asof),
            value_as_of("category", asof),
            value_as_of("kind", asof),
            value_as_of("level", asof),
            BY["team"].expression(asof, settings),
            status,
            T.c.created_at,
            T.c.taken_into_account_s,
            T.c.first_response_s,
            case((closed_before_until, T.c.resolution_s), else_=None),
            spent.c.seconds,
        )
        .select_from(T.outerjoin(spent, spent.c.ticket == T.c.number))
        .where(
            or_(
                and_(T.c.created_at >= since, T.c.created_at < until),
                and_(T.c.closed_at >= since, T.c.closed_at < until),
                spent.c.ticket.is_not(None),
            )
        )
        .order_by(T.c.number)
    )
    return query


def _line(settings: Settings, row: Sequence) -> dict:
    number, subject, organisation, application, category, kind, level, team, state, created = row[:10]
    taken, answer, resolution, seconds = row[10:]
    rate = rate_of(settings, organisation)
    return {
        "number": number,
        "subject": subject,
        "organisation": organisation,
        "application": application,
        "category": category,
        "kind": kind,
        "level": int(level) if level is not None else None,
        "team": team,
        "status": state,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "taken_into_account_s": taken,
        "first_response_s": answer,
        "resolution_s": resolution,
        "time_spent": format_duration(seconds or 0),
        "amount": round((seconds or 0) / 3600 * rate, 2) if rate is not None else None,
    }


def lines_json(lines: Iterator[dict]) -> Iterator[str]:
    """A JSON list written item by item (a period may hold many tickets)."""
    first = True
    for line in lines:
        yield ("[\n  " if first else ",\n  ") + json.dumps(line, ensure_ascii=False)
        first = False
    yield "[]\n" if first else "\n]\n"


def lines_csv(lines: Iterator[dict]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for line in lines:
        writer.writerow(line)
        if out.tell() > 65536:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def lines_table(lines: Iterator[dict]) -> Iterator[str]:
    """Fixed-width columns (the subject cut to fit), so a long period streams without measuring first."""
    widths = {"number": 7, "subject": 40, "organisation": 20, "application": 14, "category": 11, "kind": 9}
    widths.update(level=5, team=14, status=7, created_at=20)
    widths.update(taken_into_account_s=9, first_response_s=9, resolution_s=9, time_spent=8, amount=9)
    heads = {"taken_into_account_s": "taken_s", "first_response_s": "resp_s", "resolution_s": "resol_s"}
    yield "  ".join(heads.get(c, c)[: widths[c]].ljust(widths[c]) for c in COLUMNS).rstrip() + "\n"
    for line in lines:
        cells = (_cell(line[c])[: widths[c]].ljust(widths[c]) for c in COLUMNS)
        yield "  ".join(cells).rstrip() + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return " ".join(str(value).split()) or NONE_LABEL
