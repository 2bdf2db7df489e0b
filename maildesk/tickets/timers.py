"""Ticket clocks as data: due times on the ticket row, moved as the ticket changes.

Nothing here lives in memory: the sweep (``maildesk.tickets.escalation``) finds due
tickets with an indexed query, so timers survive restarts and fire once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from maildesk.config import Settings
from maildesk.storage.models import Ticket


def enter_level(ticket: Ticket, level_id: int, settings: Settings, now: datetime) -> None:
    """Put the ticket at a level and start that level's escalate_after clock."""
    ticket.level = level_id
    ticket.level_since = now
    restart_escalation(ticket, settings, now)


def restart_escalation(ticket: Ticket, settings: Settings, now: datetime) -> None:
    level = settings.level(ticket.level)
    after = level.escalate_after if level else None
    # Nobody is expected to answer a closed ticket, nor one waiting on the requester.
    ticket.escalate_due_at = now + after if after and ticket.status not in ("closed", "pending") else None


def start_targets(ticket: Ticket, settings: Settings) -> None:
    """A new ticket: the urgency's first-response and resolve due times, counted from creation."""
    target = settings.urgency.get(ticket.urgency)
    created = ticket.created_at
    first_response = _target(target, "first_response")
    resolve = _target(target, "resolve")
    ticket.first_response_due_at = (
        created + first_response if first_response and ticket.first_response_at is None else None
    )
    ticket.resolve_due_at = created + resolve if resolve else None
    ticket.first_response_remaining_s = None
    ticket.resolve_remaining_s = None
    ticket.resolve_breached = False


def change_urgency(ticket: Ticket, previous: str, settings: Settings, now: datetime) -> None:
    """Requalified from ``previous``: each clock carries the time already used over to the new target.

    A clock at 1h of a 4h target moved to an 8h target has 7h left (running) or
    keeps 7h in reserve (pending or closed). A clock the old urgency did not have
    counts from creation. A clock that already ran out and fired stays spent: a
    requalification never escalates the same target twice.
    """
    old, new = settings.urgency.get(previous), settings.urgency.get(ticket.urgency)
    stopped = ticket.status in ("pending", "closed")
    if ticket.first_response_at is None:
        ticket.first_response_due_at, ticket.first_response_remaining_s = _retarget(
            _target(old, "first_response"),
            _target(new, "first_response"),
            ticket.first_response_due_at,
            ticket.first_response_remaining_s,
            ticket.created_at,
            now,
            stopped,
        )
    if not ticket.resolve_breached:
        ticket.resolve_due_at, ticket.resolve_remaining_s = _retarget(
            _target(old, "resolve"),
            _target(new, "resolve"),
            ticket.resolve_due_at,
            ticket.resolve_remaining_s,
            ticket.created_at,
            now,
            stopped,
        )


def _target(urgency, name: str) -> timedelta | None:
    value = getattr(urgency, name, None) if urgency is not None else None
    return value or None


def _retarget(
    old: timedelta | None,
    new: timedelta | None,
    due: datetime | None,
    remaining: int | None,
    created: datetime,
    now: datetime,
    stopped: bool,
) -> tuple[datetime | None, int | None]:
    """(due time, seconds left while stopped) of one clock moved from target ``old`` to ``new``."""
    if new is None:
        return None, None
    if old is not None and due is not None:
        used = old - (due - now)
    elif old is not None and remaining is not None:
        used = old - timedelta(seconds=remaining)
    elif old is not None:
        return None, None  # ran out and fired at the old urgency
    elif stopped:
        used = now - created
    else:
        return created + new, None
    left = new - used
    if stopped:
        return None, max(0, int(left.total_seconds()))
    return now + left, None


def on_technician_reply(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """A technician answered: the first response is met and the level's clock restarts."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    ticket.first_response_due_at = None
    ticket.first_response_remaining_s = None
    restart_escalation(ticket, settings, now)


def pause(ticket: Ticket, now: datetime) -> None:
    """Pending or closed: stop the first-response, resolve and escalation clocks, keeping what is left.

    The escalation clock is not kept: it restarts in full when the ticket is
    open again, as after a technician reply.
    """
    if ticket.first_response_due_at is not None:
        ticket.first_response_remaining_s = _left(ticket.first_response_due_at, now)
        ticket.first_response_due_at = None
    if ticket.resolve_due_at is not None:
        ticket.resolve_remaining_s = _left(ticket.resolve_due_at, now)
        ticket.resolve_due_at = None
    ticket.escalate_due_at = None


def resume(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """Back from pending, or reopened: the clocks go on from where they stopped.

    The time spent pending or closed does not count against the targets; the
    level's escalate_after clock starts afresh.
    """
    if ticket.first_response_remaining_s is not None:
        if ticket.first_response_at is None:
            ticket.first_response_due_at = now + timedelta(seconds=ticket.first_response_remaining_s)
        ticket.first_response_remaining_s = None
    if ticket.resolve_remaining_s is not None:
        ticket.resolve_due_at = now + timedelta(seconds=ticket.resolve_remaining_s)
        ticket.resolve_remaining_s = None
    restart_escalation(ticket, settings, now)


def _left(due: datetime, now: datetime) -> int:
    return max(0, int((due - now).total_seconds()))
