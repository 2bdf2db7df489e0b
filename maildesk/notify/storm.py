"""No storm, whatever escapes the loop guards: react when mail about a ticket runs into the hourly cap.

The cap itself is decided mail by mail when the outbox drafts it (see
``storage.outbox.suppression_reason``); this is what follows the first mail
it holds back. The ticket gets the tag ``storm``, its history says so, and
the supervisors get one ``storm`` mail (drafted by ``notify.drafts``). A
storm lasts while mail about the ticket keeps being held back: it is told
once, not once per mail, and a new one is told only after a quiet hour.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from maildesk.config import Settings
from maildesk.notify.plan import plan_storm
from maildesk.storage.outbox import STORM_TEMPLATE, OutboxBatch, storm_under_way
from maildesk.tickets.store import TicketStore
from maildesk.types import Notification, Reason, TicketChange

log = structlog.get_logger("maildesk.storm")

STORM_TAG = "storm"


def react_to_storm(
    store: TicketStore,
    change: TicketChange,
    batch: OutboxBatch,
    first_draft: int,
    *,
    settings: Settings,
    secret: bytes,
    now: datetime,
) -> list[Notification]:
    """Tag and note the ticket when the change's mail (drafts from ``first_draft`` on) is the first the
    per-ticket cap held back; returns the mail that tells the supervisors ([] when no storm began)."""
    number = change.ticket.number
    held = [d for d in batch.drafts[first_draft:] if d.storm and d.notification.ticket == number]
    if not held:
        return []
    earlier = batch.drafts[:first_draft]
    if any(
        d.notification.ticket == number and (d.storm or d.notification.template == STORM_TEMPLATE)
        for d in earlier
    ):
        return []  # began earlier in this transaction
    if storm_under_way(store.session, number, now):
        return []
    cap = settings.security.auto_mail_per_ticket_per_hour
    reason = Reason.of("mail_storm", ticket=number, cap=cap)
    ticket = store.get_ticket(number)
    if STORM_TAG not in (ticket.tags or []):
        ticket.tags = [*(ticket.tags or []), STORM_TAG]
    supervisors = list(settings.desk.supervisors)
    store.add_event(
        ticket,
        "notification",
        now,
        text=reason.text,
        data={
            "storm": True,
            "cap": cap,
            "held_back": [f"{d.notification.template} to {d.notification.to}" for d in held],
            "told": supervisors,
        },
    )
    notices = plan_storm(change, store.view(ticket), settings, secret, reason)
    log.warning("mail_storm_began", ticket=number, cap=cap, held_back=len(held), told=supervisors)
    return notices
