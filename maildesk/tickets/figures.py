"""Record the facts reports count, at the moment they happen, in the ticket's transaction.

Why record rather than derive at report time: every duration of a report is
counted in business time of ``[desk] calendar``, which SQL cannot do, and a
report over a million tickets cannot replay each ticket's history in Python.
So the figure is computed once, when it happens, with the calendar in force
then: the first technician action and the first answer store their business
seconds on the ticket; each pending interval adds its business seconds to
``pending_s``; each closing stores its resolution (business seconds since
creation, less ``pending_s``) and whether its resolve target was met. A
report then only sums, counts and sorts integers over indexed columns.

Facts that several periods see differently are kept as intervals or dated
rows: every closing with its reopening (``ticket_closings``: was a ticket
closed at the end of a period?), escalations, time entries, and the old
value of a grouping attribute when it changes (``ticket_changes``), so an
older period groups a ticket as it was then.

Rows are buffered in :class:`FigureRows` and written with the history when
the ticket store flushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection

from maildesk.config import Settings
from maildesk.states import TicketStatus
from maildesk.storage.models import AttributeChange, Ticket, TicketClosing, TicketEscalation, TimeEntry


def business_seconds(settings: Settings, start: datetime, end: datetime) -> int:
    """Whole business seconds from ``start`` to ``end`` in ``[desk] calendar`` (never negative)."""
    return max(0, round(settings.calendars.get(None).business_seconds_between(start, end)))


#: Who closed a ticket when it was not a technician.
BY_REQUESTER = "requester"
BY_RULE = "rule"

_STANDING = (TicketClosing.ticket == bindparam("t")) & TicketClosing.reopened_at.is_(None)
_REOPEN = update(TicketClosing).where(_STANDING).values(reopened_at=bindparam("at"))
_RECLOSE = (
    update(TicketClosing)
    .where(_STANDING)
    .values(
        closed_at=bindparam("at"),
        resolution_s=bindparam("resolution"),
        resolve_met=bindparam("met"),
        closed_by=bindparam("by"),
    )
)


@dataclass
class FigureRows:
    """Report rows decided in one transaction, not yet written (see :meth:`write`)."""

    closings: list[dict] = field(default_factory=list)
    escalations: list[dict] = field(default_factory=list)
    time_entries: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    # UPDATEs of closings written by an earlier flush (the buffered ones are changed in place).
    reopenings: list[dict] = field(default_factory=list)
    reclosings: list[dict] = field(default_factory=list)

    def write(self, connection: Connection) -> None:
        """Updates first: they only ever target rows of earlier flushes, and a new closing must not match."""
        for statement, rows in ((_REOPEN, self.reopenings), (_RECLOSE, self.reclosings)):
            if rows:
                connection.execute(statement, rows)
        for model, rows in (
            (TicketClosing, self.closings),
            (TicketEscalation, self.escalations),
            (TimeEntry, self.time_entries),
            (AttributeChange, self.changes),
        ):
            if rows:
                connection.execute(insert(model), rows)
        for rows in (
            self.closings,
            self.escalations,
            self.time_entries,
            self.changes,
            self.reopenings,
            self.reclosings,
        ):
            rows.clear()

    def _standing_closing(self, number: int) -> dict | None:
        return next(
            (
                row
                for row in reversed(self.closings)
                if row["ticket"] == number and row["reopened_at"] is None
            ),
            None,
        )


# -- first action and first answer -------------------------------------------------------


def note_action(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """A technician acted on the ticket (reply, note, command, routing): taken into account."""
    if ticket.first_action_at is None:
        ticket.first_action_at = now
        ticket.taken_into_account_s = business_seconds(settings, ticket.created_at, now)


def note_answer(ticket: Ticket, settings: Settings, now: datetime, technician: str | None) -> None:
    """The requester received an answer from a person (a reply, a ``[known]`` or level-0 article)."""
    if ticket.first_answer_at is None:
        ticket.first_answer_at = now
        ticket.first_response_s = business_seconds(settings, ticket.created_at, now)
    if technician and ticket.technician is None:
        ticket.technician = technician


def decide_first_response(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """The first-response clock stops for good: was its target met? Call before the clock is cleared."""
    if ticket.first_response_met is not None or ticket.first_response_at is not None:
        return
    target = settings.urgency.get(ticket.urgency)
    if target is None or not target.first_response:
        return
    if ticket.first_response_due_at is not None:
        ticket.first_response_met = now <= ticket.first_response_due_at
    elif ticket.first_response_remaining_s is not None:
        ticket.first_response_met = ticket.first_response_remaining_s > 0
    else:
        ticket.first_response_met = False  # the target ran out and fired


def first_response_missed(ticket: Ticket) -> None:
    """The sweep fired the first-response target: missed, whatever comes later."""
    if ticket.first_response_met is None:
        ticket.first_response_met = False


# -- status: pending time, closings and reopenings ---------------------------------------------


def note_status(
    rows: FigureRows,
    ticket: Ticket,
    status: str,
    settings: Settings,
    now: datetime,
    by: str | None,
) -> None:
    """The ticket goes from its current status to ``status``; call before the clocks move."""
    previous = ticket.status
    if (
        previous == TicketStatus.PENDING
        and status != TicketStatus.PENDING
        and ticket.pending_since is not None
    ):
        ticket.pending_s = (ticket.pending_s or 0) + business_seconds(settings, ticket.pending_since, now)
        ticket.pending_since = None
    elif status == TicketStatus.PENDING and previous != TicketStatus.PENDING:
        ticket.pending_since = now
    if status == TicketStatus.CLOSED:
        _note_closing(rows, ticket, previous, settings, now, by)
    elif previous == TicketStatus.CLOSED:
        standing = rows._standing_closing(ticket.number)
        if standing is not None:
            standing["reopened_at"] = now
        else:
            rows.reopenings.append({"t": ticket.number, "at": now})
        ticket.resolution_s = ticket.resolve_met = ticket.self_care = None


def _note_closing(
    rows: FigureRows, ticket: Ticket, previous: str, settings: Settings, now: datetime, by: str | None
) -> None:
    resolution = max(0, business_seconds(settings, ticket.created_at, now) - (ticket.pending_s or 0))
    met = _resolve_met(ticket, settings, now)
    self_care = by == BY_REQUESTER and (ticket.suggestions or 0) > 0
    ticket.resolution_s, ticket.resolve_met, ticket.self_care = resolution, met, self_care
    if by and "@" in by:
        ticket.technician = by
    if previous == TicketStatus.CLOSED:  # closed again while closed: the standing closing moves to now
        standing = rows._standing_closing(ticket.number)
        if standing is not None:
            standing.update(closed_at=now, resolution_s=resolution, resolve_met=met, closed_by=by)
        else:
            rows.reclosings.append(
                {"t": ticket.number, "at": now, "resolution": resolution, "met": met, "by": by}
            )
        return
    rows.closings.append(
        {
            "ticket": ticket.number,
            "closed_at": now,
            "reopened_at": None,
            "resolution_s": resolution,
            "resolve_met": met,
            "self_care": self_care,
            "closed_by": by,
        }
    )


def _resolve_met(ticket: Ticket, settings: Settings, now: datetime) -> bool | None:
    """At a closing: was the resolve target met (None: the urgency has none)."""
    target = settings.urgency.get(ticket.urgency)
    if target is None or not target.resolve:
        return None
    if ticket.resolve_breached:
        return False
    if ticket.resolve_due_at is not None:
        return now <= ticket.resolve_due_at
    if ticket.resolve_remaining_s is not None:
        return ticket.resolve_remaining_s > 0
    return None


# -- levels, attributes, time ------------------------------------------------------------------


def note_move(
    rows: FigureRows,
    ticket: Ticket,
    previous: tuple[int, str | None],
    settings: Settings,
    now: datetime,
    *,
    by_timer: bool,
) -> None:
    """The ticket moved from ``previous`` (level, team) to its level and team; a move up is an escalation."""
    level, team = previous
    note_change(rows, ticket, "team", team, ticket.team, now)
    if ticket.level == level:
        return
    note_change(rows, ticket, "level", level, ticket.level, now)
    order = [known.id for known in settings.levels]
    if level not in order or ticket.level not in order or order.index(ticket.level) > order.index(level):
        rows.escalations.append(
            {
                "ticket": ticket.number,
                "at": now,
                "from_level": level,
                "to_level": ticket.level,
                "by_timer": by_timer,
            }
        )


def note_change(rows: FigureRows, ticket: Ticket, name: str, old: object, new: object, now: datetime) -> None:
    """A grouping attribute changed: keep its old value for reports of earlier periods."""
    if old == new:
        return
    rows.changes.append(
        {
            "ticket": ticket.number,
            "at": now,
            "field": name,
            "old_value": None if old is None else str(old)[:500],
        }
    )
    ticket.changed_at = now


def note_time(rows: FigureRows, ticket: Ticket, seconds: int, now: datetime, technician: str | None) -> None:
    rows.time_entries.append(
        {"ticket": ticket.number, "at": now, "seconds": seconds, "technician": technician}
    )


def note_self_service(
    connection: Connection, at: datetime, sender: str, organisation: str | None, **answer: object
) -> None:
    """A mail to ``[kb] self_service`` was answered with articles and opened no ticket: self-care.

    ``answer``: what :class:`~maildesk.storage.models.SelfCareMail` keeps for a
    reply to open a ticket with (question_id, answer_id, language, subject,
    question, articles).
    """
    from maildesk.storage.models import SelfCareMail

    connection.execute(
        insert(SelfCareMail).values(
            at=at, sender=sender[:500], organisation=organisation and organisation[:300], **answer
        )
    )
