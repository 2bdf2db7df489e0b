"""Read-only ticket queries behind ``maildesk tickets``: a filtered list, and one ticket with its history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from maildesk.states import TicketStatus
from maildesk.storage.db import Database
from maildesk.storage.models import AttachmentRow, Event, Ticket


@dataclass(frozen=True)
class TicketFilter:
    """Which tickets to list; a field left None does not filter."""

    status: str | None = None  # None: every ticket not closed; "all": every ticket
    level: int | None = None
    urgency: str | None = None
    category: str | None = None
    application: str | None = None
    requester: str | None = None
    assignee: str | None = None
    # The team's name, and its level when it is that level's first team: tickets stored without a team
    # (made before teams existed, upgraded without the config) count as their level's first team.
    team: str | None = None
    team_default_of_level: int | None = None
    limit: int = 100


def list_tickets(db: Database, wanted: TicketFilter) -> list[Ticket]:
    """The newest tickets first, up to ``wanted.limit``."""
    query = select(Ticket).order_by(Ticket.number.desc()).limit(wanted.limit)
    if wanted.status == "all":
        pass
    elif wanted.status:
        query = query.where(Ticket.status == wanted.status)
    else:
        query = query.where(Ticket.status != TicketStatus.CLOSED)
    columns = {
        "level": Ticket.level,
        "urgency": Ticket.urgency,
        "category": Ticket.category,
        "application": Ticket.application,
        "requester": Ticket.requester,
        "assignee": Ticket.assignee,
    }
    for name, column in columns.items():
        value = getattr(wanted, name)
        if value is not None:
            # addresses are stored lower-case
            query = query.where(column == (value.lower() if name in ("requester", "assignee") else value))
    if wanted.team is not None:
        condition = Ticket.team == wanted.team
        if wanted.team_default_of_level is not None:
            condition = or_(
                condition, and_(Ticket.team.is_(None), Ticket.level == wanted.team_default_of_level)
            )
        query = query.where(condition)
    with db.session() as session:
        return list(session.scalars(query))


@dataclass(frozen=True)
class AttachedFile:
    event_id: int
    filename: str
    size: int
    content_type: str


@dataclass(frozen=True)
class TicketHistory:
    ticket: Ticket
    events: list[Event]  # oldest first
    attachments: list[AttachedFile]


def ticket_history(db: Database, number: int) -> TicketHistory | None:
    """The ticket, its events and the files attached to them; None when there is no such ticket."""
    with db.session() as session:
        ticket = session.get(Ticket, number)
        if ticket is None:
            return None
        events = list(session.scalars(select(Event).where(Event.ticket == number).order_by(Event.id)))
        attachments = [
            AttachedFile(*row)  # type: ignore[arg-type]  # event_id is set: attachments belong to events
            for row in session.execute(
                select(
                    AttachmentRow.event_id,
                    AttachmentRow.filename,
                    AttachmentRow.size,
                    AttachmentRow.content_type,
                ).where(AttachmentRow.ticket == number)
            )
        ]
        return TicketHistory(ticket, events, attachments)
