"""Ticket clocks as data: due times on the ticket row, moved as the ticket changes.

Nothing here lives in memory: the sweep (``maildesk.sweep``) finds due
tickets with an indexed query, so timers survive restarts and fire once.
"""

from __future__ import annotations

from datetime import datetime

from maildesk.config import Settings
from maildesk.models import Ticket


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
    """Set the urgency's first-response and resolve due times, counted from creation."""
    target = settings.urgency.get(ticket.urgency)
    created = ticket.created_at
    ticket.first_response_due_at = (
        created + target.first_response if target and target.first_response and ticket.first_response_at is None
        else None
    )
    if ticket.status == "pending":
        ticket.resolve_remaining_s = int(target.resolve.total_seconds()) if target and target.resolve else None
        ticket.resolve_due_at = None
    else:
        ticket.resolve_due_at = created + target.resolve if target and target.resolve else None
    ticket.resolve_breached = False


def on_technician_reply(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """A technician answered: the first response is met and the level's clock restarts."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    ticket.first_response_due_at = None
    restart_escalation(ticket, settings, now)


def pause(ticket: Ticket, now: datetime) -> None:
    """Waiting on the requester: stop the resolve and escalation clocks, keeping what is left."""
    if ticket.resolve_due_at is not None:
        ticket.resolve_remaining_s = max(0, int((ticket.resolve_due_at - now).total_seconds()))
        ticket.resolve_due_at = None
    ticket.escalate_due_at = None


def resume(ticket: Ticket, settings: Settings, now: datetime) -> None:
    """Back from pending (or reopened): the resolve clock goes on from where it stopped."""
    if ticket.resolve_remaining_s is not None:
        from datetime import timedelta

        ticket.resolve_due_at = now + timedelta(seconds=ticket.resolve_remaining_s)
        ticket.resolve_remaining_s = None
    restart_escalation(ticket, settings, now)


def stop_all(ticket: Ticket) -> None:
    ticket.escalate_due_at = None
    ticket.first_response_due_at = None
    ticket.resolve_due_at = None
    ticket.resolve_remaining_s = None
