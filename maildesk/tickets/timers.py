"""Ticket clocks as data: due times on the ticket row, moved as the ticket changes.

Nothing here lives in memory: the sweep (``maildesk.tickets.escalation``) finds due
tickets with an indexed query, so timers survive restarts and fire once.
Clocks count business time (SPEC section 7): a level's ``escalate_after`` in
the level's calendar, the urgency's targets in the urgency's calendar. Due
times are still stored as instants, computed when a clock starts or
resumes; a stopped clock keeps the business seconds it had left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from maildesk.calendars import Calendar
from maildesk.config import Settings, UrgencyTarget
from maildesk.states import CLOCK_STOPPED
from maildesk.storage.models import Ticket
from maildesk.tickets import figures


def enter_level(
    ticket: Ticket, level_id: int, settings: Settings, now: datetime, team: str | None = None
) -> None:
    """Put the ticket at a level, in ``team`` (else the level's team that handles it), and start the clock."""
    ticket.level = level_id
    chosen = settings.team(team) if team is not None else None
    if chosen is None or chosen.level != level_id:
        chosen = settings.route(level_id, ticket.category, ticket.application, ticket.kind)
    ticket.team = chosen.name if chosen is not None else None
    ticket.level_since = now
    restart_escalation(ticket, settings, now)


def restart_escalation(ticket: Ticket, settings: Settings, now: datetime) -> None:
    level = settings.level(ticket.level)
    after = level.escalate_after if level else None
    # Nobody is expected to answer a closed ticket, nor one waiting on the requester.
    if after and ticket.status not in CLOCK_STOPPED:
        ticket.escalate_due_at = settings.level_calendar(ticket.level).add_business_time(now, after)
    else:
        ticket.escalate_due_at = None


def start_targets(ticket: Ticket, settings: Settings) -> None:
    """A new ticket: the urgency's first-response and resolve due times, counted from creation."""
    target = settings.urgency.get(ticket.urgency)
    calendar = settings.urgency_calendar(ticket.urgency)
    created = ticket.created_at
    first_response = _target(target, "first_response")
    resolve = _target(target, "resolve")
    ticket.first_response_due_at = (
        calendar.add_business_time(created, first_response)
        if first_response and ticket.first_response_at is None
        else None
    )
    ticket.resolve_due_at = calendar.add_business_time(created, resolve) if resolve else None
    ticket.first_response_remaining_s = None
    ticket.resolve_remaining_s = None
    ticket.resolve_breached = False


def change_urgency(ticket: Ticket, previous: str, settings: Settings, now: datetime) -> None:
    """Requalified from ``previous``: each clock carries the business time already used to the new target.

    A clock at 1h of a 4h target moved to an 8h target has 7h left (running) or
    keeps 7h in reserve (pending or closed). The time used is counted in the
    old urgency's calendar, what is left in the new one's. A clock the old
    urgency did not have counts from creation. A clock that already ran out
    and fired stays spent: a requalification never escalates the same target twice.
    """
    old, new = settings.urgency.get(previous), settings.urgency.get(ticket.urgency)
    clocks = _Clocks(settings.urgency_calendar(previous), settings.urgency_calendar(ticket.urgency), now)
    stopped = ticket.status in CLOCK_STOPPED
    if ticket.first_response_at is None:
        ticket.first_response_due_at, ticket.first_response_remaining_s = clocks.retarget(
            _target(old, "first_response"),
            _target(new, "first_response"),
            ticket.first_response_due_at,
            ticket.first_response_remaining_s,
            ticket.created_at,
            stopped,
        )
    if not ticket.resolve_breached:
        ticket.resolve_due_at, ticket.resolve_remaining_s = clocks.retarget(
            _target(old, "resolve"),
            _target(new, "resolve"),
            ticket.resolve_due_at,
            ticket.resolve_remaining_s,
            ticket.created_at,
            stopped,
        )


def _target(urgency: UrgencyTarget | None, name: str) -> timedelta | None:
    value = getattr(urgency, name, None) if urgency is not None else None
    return value or None


@dataclass(frozen=True)
class _Clocks:
    """Moving one urgency's clocks to another's, each side in its own calendar."""

    old_calendar: Calendar
    new_calendar: Calendar
    now: datetime

    def retarget(
        self,
        old: timedelta | None,
        new: timedelta | None,
        due: datetime | None,
        remaining: int | None,
        created: datetime,
        stopped: bool,
    ) -> tuple[datetime | None, int | None]:
        """(due time, business seconds left while stopped) of a clock moved from target ``old`` to ``new``."""
        if new is None:
            return None, None
        if old is not None and due is not None:
            used = old.total_seconds() - self.old_calendar.business_seconds_between(self.now, due)
        elif old is not None and remaining is not None:
            used = old.total_seconds() - remaining
        elif old is not None:
            return None, None  # ran out and fired at the old urgency
        elif stopped:
            used = self.new_calendar.business_seconds_between(created, self.now)
        else:
            return self.new_calendar.add_business_time(created, new), None
        left = new.total_seconds() - used
        if stopped:
            return None, max(0, int(left))
        return self.new_calendar.add_business_time(self.now, left), None


def on_technician_reply(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """A technician answered: the first response is met and the level's clock restarts."""
    figures.decide_first_response(ticket, settings, now)
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    ticket.first_response_due_at = None
    ticket.first_response_remaining_s = None
    restart_escalation(ticket, settings, now)


def pause(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """Pending or closed: stop the first-response, resolve and escalation clocks, keeping what is left.

    What is left is business time in the urgency's calendar. The escalation
    clock is not kept: it restarts in full when the ticket is open again, as
    after a technician reply.
    """
    calendar = settings.urgency_calendar(ticket.urgency)
    if ticket.first_response_due_at is not None:
        ticket.first_response_remaining_s = _left(calendar, ticket.first_response_due_at, now)
        ticket.first_response_due_at = None
    if ticket.resolve_due_at is not None:
        ticket.resolve_remaining_s = _left(calendar, ticket.resolve_due_at, now)
        ticket.resolve_due_at = None
    ticket.escalate_due_at = None


def resume(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """Back from pending, or reopened: the clocks go on from where they stopped.

    The time spent pending or closed does not count against the targets; the
    level's escalate_after clock starts afresh.
    """
    calendar = settings.urgency_calendar(ticket.urgency)
    if ticket.first_response_remaining_s is not None:
        if ticket.first_response_at is None:
            ticket.first_response_due_at = calendar.add_business_time(now, ticket.first_response_remaining_s)
        ticket.first_response_remaining_s = None
    if ticket.resolve_remaining_s is not None:
        ticket.resolve_due_at = calendar.add_business_time(now, ticket.resolve_remaining_s)
        ticket.resolve_remaining_s = None
    restart_escalation(ticket, settings, now)


def _left(calendar: Calendar, due: datetime, now: datetime) -> int:
    return max(0, int(calendar.business_seconds_between(now, due)))
