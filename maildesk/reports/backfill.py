"""Derive the report figures of tickets made before they were recorded, from their history.

The migration ``report_figures`` lists those tickets (``figures_backfill``);
``maildesk db upgrade`` runs this with the desk calendar, batch by batch,
each batch committed with how far it got, so an interrupted upgrade goes on
where it stopped. What the history tells is derived: the first technician
action and answer, pending intervals, closings and reopenings, escalations
and time entries. What it does not tell stays null: whether targets were
met (the due times moved with every pause), and self-care (which articles
the acknowledgement suggested was not kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from maildesk.config import Settings
from maildesk.durations import parse_duration
from maildesk.states import TicketStatus
from maildesk.storage.db import Database
from maildesk.storage.models import Event, FiguresBackfill, Ticket, TicketClosing, TicketEscalation, TimeEntry
from maildesk.tickets.figures import business_seconds

BATCH = 500
_ACTIONS = frozenset({"reply", "comment", "command"})


@dataclass
class _Replay:
    """One ticket's figures, rebuilt event by event."""

    created: datetime
    status: str = TicketStatus.NEW
    first_action: datetime | None = None
    first_answer: datetime | None = None
    answered_by: str | None = None
    pending_since: datetime | None = None
    pending_s: int = 0
    closings: list[dict] = field(default_factory=list)
    escalations: list[dict] = field(default_factory=list)
    time_entries: list[dict] = field(default_factory=list)


def derive_figures(db: Database, settings: Settings) -> int:
    """Derive what the history tells for the listed tickets; how many tickets were done."""
    done = 0
    while True:
        with db.session() as session:
            marker = session.get(FiguresBackfill, 1)
            if marker is None:
                return done
            numbers = list(
                session.scalars(
                    select(Ticket.number)
                    .where(Ticket.number > marker.done_up_to, Ticket.number <= marker.up_to)
                    .order_by(Ticket.number)
                    .limit(BATCH)
                )
            )
            if not numbers:
                session.delete(marker)
                return done
            _derive_batch(session, settings, numbers)
            marker.done_up_to = numbers[-1]
            done += len(numbers)


def _derive_batch(session: Session, settings: Settings, numbers: list[int]) -> None:
    query = select(Ticket.number, Ticket.created_at).where(Ticket.number.in_(numbers))
    created = {number: moment for number, moment in session.execute(query)}
    replays = {number: _Replay(created=created[number]) for number in numbers}
    for event in _events(session, numbers):
        _apply(replays[event.ticket], event, settings)
    for table in (TicketClosing, TicketEscalation, TimeEntry):
        session.execute(delete(table).where(table.ticket.in_(numbers)))  # a second run starts afresh
    for number, replay in replays.items():
        _write(session, settings, number, replay)


def _events(session: Session, numbers: list[int]) -> Iterator[Event]:
    query = select(Event).where(Event.ticket.in_(numbers)).order_by(Event.ticket, Event.id)
    yield from session.scalars(query.execution_options(yield_per=1000))


def _apply(replay: _Replay, event: Event, settings: Settings) -> None:
    data = event.data or {}
    technician = event.from_addr in settings.technicians
    refused = "refused" in data
    if event.type in _ACTIONS and technician and not (event.type == "comment" and refused):
        replay.first_action = replay.first_action or event.at
    if event.type == "reply" and technician and (event.text or "").strip() and replay.first_answer is None:
        replay.first_answer, replay.answered_by = event.at, event.from_addr
    if replay.status == TicketStatus.NEW and technician and event.type in _ACTIONS and not refused:
        replay.status = TicketStatus.OPEN
    if event.type == "command" and not refused:
        _command(replay, event, data, settings)
    elif event.type == "status":
        _status(replay, event, data, settings)
    elif event.type == "escalation":
        target = data.get("to", data.get("level"))
        if isinstance(target, int):
            replay.escalations.append(
                {
                    "at": event.at,
                    "from_level": data.get("from"),
                    "to_level": target,
                    "by_timer": data.get("by") == "timer",
                }
            )


def _command(replay: _Replay, event: Event, data: dict, settings: Settings) -> None:
    name = data.get("command")
    if name == "known" and replay.first_answer is None:
        replay.first_answer, replay.answered_by = event.at, event.from_addr
    elif name == "pending" and replay.status != TicketStatus.PENDING:
        replay.status, replay.pending_since = TicketStatus.PENDING, event.at
    elif name in ("open", "reopen"):
        _reopen(replay, event.at, settings)
    elif name == "time":
        try:
            seconds = int(parse_duration(str(data.get("value"))).total_seconds())
        except ValueError:
            return
        replay.time_entries.append({"at": event.at, "seconds": seconds, "technician": event.from_addr})


def _status(replay: _Replay, event: Event, data: dict, settings: Settings) -> None:
    if data.get("status") == TicketStatus.CLOSED:
        if data.get("answer") and replay.first_answer is None:
            replay.first_answer = event.at  # a level-0 answer
        _end_pending(replay, event.at, settings)
        if replay.status != TicketStatus.CLOSED:
            by = "requester" if data.get("by") == "requester" else event.from_addr or "rule"
            replay.closings.append(
                {"closed_at": event.at, "reopened_at": None, "by": by, "pending_s": replay.pending_s}
            )
        replay.status = TicketStatus.CLOSED
    elif data.get("status") == TicketStatus.OPEN:
        _reopen(replay, event.at, settings)


def _reopen(replay: _Replay, at: datetime, settings: Settings) -> None:
    if replay.status == TicketStatus.CLOSED and replay.closings:
        replay.closings[-1]["reopened_at"] = at
    _end_pending(replay, at, settings)
    replay.status = TicketStatus.OPEN


def _end_pending(replay: _Replay, at: datetime, settings: Settings) -> None:
    if replay.status == TicketStatus.PENDING and replay.pending_since is not None:
        replay.pending_s += business_seconds(settings, replay.pending_since, at)
        replay.pending_since = None


def _write(session: Session, settings: Settings, number: int, replay: _Replay) -> None:
    """The derived figures of one ticket: columns of the ticket, rows of closings, escalations and time."""
    since = replay.created
    values: dict = {"first_action_at": replay.first_action, "first_answer_at": replay.first_answer}
    values["taken_into_account_s"] = (
        business_seconds(settings, since, replay.first_action) if replay.first_action else None
    )
    values["first_response_s"] = (
        business_seconds(settings, since, replay.first_answer) if replay.first_answer else None
    )
    values["technician"] = replay.answered_by
    for closing in replay.closings:
        spent = business_seconds(settings, since, closing["closed_at"])
        closing["resolution_s"] = max(0, spent - closing["pending_s"])
    standing = replay.closings[-1] if replay.closings and replay.closings[-1]["reopened_at"] is None else None
    values["resolution_s"] = standing["resolution_s"] if standing else None
    if standing and "@" in (standing["by"] or ""):
        values["technician"] = standing["by"]
    values["pending_s"] = replay.pending_s
    session.execute(update(Ticket).where(Ticket.number == number).values(**values))
    rows = [
        {
            "ticket": number,
            "closed_at": c["closed_at"],
            "reopened_at": c["reopened_at"],
            "resolution_s": c["resolution_s"],
            "resolve_met": None,
            "self_care": False,
            "closed_by": c["by"],
        }
        for c in replay.closings
    ]
    if rows:
        session.execute(insert(TicketClosing), rows)
    if replay.escalations:
        session.execute(insert(TicketEscalation), [{"ticket": number, **e} for e in replay.escalations])
    if replay.time_entries:
        session.execute(insert(TimeEntry), [{"ticket": number, **t} for t in replay.time_entries])
