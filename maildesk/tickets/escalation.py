"""What the timer sweep decides (SPEC section 7): which tickets are due, and what escalating one means.

One indexed query finds the due tickets; ``runtime.sweep`` claims them and
calls :func:`escalate` on each in the same transaction that queues the mail,
so a timer fires once even with several daemons.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import or_, select, union
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.sql import Select

from maildesk.config import Settings
from maildesk.durations import format_duration
from maildesk.states import TicketStatus
from maildesk.storage.models import Ticket
from maildesk.tickets import figures, timers
from maildesk.tickets.store import TicketStore
from maildesk.types import Reason, TicketChange

log = structlog.get_logger("maildesk.timers")
_CHANGED_BY_ESCALATION = (
    "level",
    "team",
    "level_since",
    "escalate_due_at",
    "first_response_due_at",
    "resolve_due_at",
    "resolve_breached",
    "updated_at",
    "first_response_met",  # report figures (maildesk.tickets.figures)
    "changed_at",
)


def due_tickets_query(now: datetime, limit: int) -> Select:
    """Due tickets, found through the three due-time indexes.

    A plain ``OR`` of the three clocks makes SQLite scan the table in
    number order; a UNION of one index range per clock does not. The
    conditions are repeated outside the subquery so that PostgreSQL, when it
    re-checks a row another daemon has just escalated, sees it is no longer due.
    """
    passed = (
        Ticket.escalate_due_at <= now,
        Ticket.first_response_due_at <= now,
        Ticket.resolve_due_at <= now,
    )
    candidates = union(*(select(Ticket.number).where(condition) for condition in passed))
    return (
        select(Ticket)
        .where(Ticket.number.in_(candidates), Ticket.status != TicketStatus.CLOSED, or_(*passed))
        .order_by(Ticket.number)
        .limit(limit)
    )


def _after(seconds: int) -> str:
    """A level's escalate_after as "4h", "1h30m", or "2s" below a minute."""
    return format_duration(seconds) if seconds >= 60 else f"{seconds}s"


def _fired_reasons(ticket: Ticket, settings: Settings, now: datetime) -> tuple[Reason, ...]:
    """Clear every due time that has passed and say why the ticket moves."""
    reasons = []
    if ticket.escalate_due_at is not None and ticket.escalate_due_at <= now:
        level = settings.level(ticket.level)
        after = _after(int(level.escalate_after.total_seconds())) if level and level.escalate_after else "?"
        reasons.append(Reason.of("no_reply_at_level", level=ticket.level, after=after))
        ticket.escalate_due_at = None
    if ticket.first_response_due_at is not None and ticket.first_response_due_at <= now:
        reasons.append(Reason.of("first_response_passed", urgency=ticket.urgency))
        ticket.first_response_due_at = None
        figures.first_response_missed(ticket)
    if ticket.resolve_due_at is not None and ticket.resolve_due_at <= now:
        reasons.append(Reason.of("resolve_passed", urgency=ticket.urgency))
        ticket.resolve_due_at = None
        ticket.resolve_breached = True
    return tuple(reasons)


def escalate(store: TicketStore, ticket: Ticket, settings: Settings, now: datetime) -> TicketChange | None:
    """Clear the due times that passed, move the ticket up a level (if any is left) and record why.

    None when nothing had passed after all: a ticket never moves without a reason.
    """
    reasons = _fired_reasons(ticket, settings, now)
    if not reasons:
        return None
    nxt = settings.next_level(ticket.level)
    previous, team = ticket.level, ticket.team
    if nxt is not None:
        timers.enter_level(ticket, nxt.id, settings, now)
        figures.note_move(store.figures, ticket, (previous, team), settings, now, by_timer=True)
    reason = "; ".join(r.text for r in reasons)  # in English: events and logs
    store.add_event(
        ticket,
        "escalation",
        now,
        text=reason,
        data={
            "from": previous,
            "to": nxt.id if nxt else None,
            "team": ticket.team,
            "by": "timer",
            "reason": reason,
        },
    )
    for column in _CHANGED_BY_ESCALATION:
        # Every ticket of a sweep batch writes the same columns, so their UPDATEs go out as one
        # executemany instead of one statement per ticket.
        flag_modified(ticket, column)
    log.info(
        "ticket_escalated",
        ticket=ticket.number,
        from_level=previous,
        to_level=nxt.id if nxt else None,
        team=ticket.team,
        reason=reason,
    )
    return TicketChange(
        ticket=store.view(ticket),
        message_id=ticket.root_message_id or "",
        references=(),
        author="",
        author_name="",
        text="",
        level_reached=nxt.id if nxt else None,
        team_reached=ticket.team if nxt else None,
        past_last_level=nxt is None,
        reasons=reasons,
    )
