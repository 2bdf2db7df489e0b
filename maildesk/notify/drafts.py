"""Draft the mail a ticket change causes, inside the ticket's transaction, and render the drafts.

A draft's fate (queued, suppressed with why, or failed for an unusable
address) and its Message-ID are decided at once, so the ticket's thread
knows the Message-ID before the mail is composed, possibly in a worker
process (see ``runtime.workers``). When the per-ticket hourly cap first
holds a change's mail back, the supervisors' storm notice is drafted with
it (see ``notify.storm``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from maildesk.config import Settings
from maildesk.notify.compose import check_address, new_message_id
from maildesk.notify.mailjob import MailJob, render_mails
from maildesk.notify.plan import plan
from maildesk.notify.render import Renderer
from maildesk.notify.storm import react_to_storm
from maildesk.states import OutboxStatus
from maildesk.storage.outbox import DraftMail, OutboxBatch, suppression_reason
from maildesk.tickets.store import TicketStore
from maildesk.types import Notification, TicketChange


def draft(
    session: Session, notification: Notification, *, settings: Settings, now: datetime, batch: OutboxBatch
) -> DraftMail:
    """Decide one mail's fate (queued, suppressed with why, or failed for an unusable address) and add it."""
    desk = settings.desk
    try:
        check_address(notification.to, "to")
        if notification.reply_to:
            check_address(notification.reply_to, "reply-to")
        message_id = new_message_id(desk.address.rpartition("@")[2])
    except ValueError as exc:
        # An address no mail can be sent to (a forged or broken From): record it, send nothing.
        mail = DraftMail(notification, "", OutboxStatus.FAILED, str(exc), now, desk.address)
    else:
        reason = suppression_reason(
            session,
            notification,
            settings,
            now,
            batch.pending_automatic(notification.to) if notification.automatic else 0,
            batch.pending_about_ticket(notification.ticket),
        )
        mail = DraftMail(
            notification,
            message_id,
            OutboxStatus.SUPPRESSED if reason else OutboxStatus.QUEUED,
            reason,
            now,
            desk.address,
        )
    batch.drafts.append(mail)
    return mail


def fill_drafts(drafts: list[DraftMail], renderer: Renderer, settings: Settings) -> None:
    """Render and compose drafts in this process (``runtime.workers`` does the same in a pool)."""
    for mail, (subject, raw) in zip(
        drafts,
        render_mails(renderer, MailJob.desk_of(settings), [MailJob.of(d) for d in drafts]),
        strict=True,
    ):
        mail.subject, mail.raw = subject, raw


def queue_mail(
    store: TicketStore,
    change: TicketChange,
    *,
    settings: Settings,
    secret: bytes,
    now: datetime,
    batch: OutboxBatch,
) -> None:
    """Plan who is told of ``change``, draft each mail into ``batch`` and thread its Message-ID to the ticket.

    The one tail shared by a processed message and a timer escalation. If the
    per-ticket cap holds back the first of a storm, the supervisors' notice follows.
    """
    first_draft = batch.mark()
    for notification in plan(change, settings, secret):
        mail = draft(store.session, notification, settings=settings, now=now, batch=batch)
        store.record_thread(mail.message_id, change.ticket.number)
    storm = react_to_storm(store, change, batch, first_draft, settings=settings, secret=secret, now=now)
    for notification in storm:
        mail = draft(store.session, notification, settings=settings, now=now, batch=batch)
        store.record_thread(mail.message_id, change.ticket.number)
