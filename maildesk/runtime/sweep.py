"""The timer sweep run: claim the due tickets in batches, escalate each and queue its mail in one transaction.

Rows are claimed with SKIP LOCKED on PostgreSQL (SQLite serialises
writers), so several daemons never escalate the same ticket twice; what
"due" and "escalate" mean is ``tickets.escalation``'s.
"""

from __future__ import annotations

from datetime import datetime

from maildesk.config import Settings
from maildesk.notify.drafts import fill_drafts, queue_mail
from maildesk.pipeline import Pipeline
from maildesk.storage.db import Database
from maildesk.storage.outbox import OutboxBatch, store_drafts
from maildesk.tickets.escalation import due_tickets_query, escalate
from maildesk.tickets.store import TicketStore


def sweep(db: Database, pipeline: Pipeline, now: datetime, *, batch: int = 500) -> int:
    """Escalate every ticket that is due; returns how many moved or were reported."""
    settings: Settings = pipeline.settings
    handled = 0
    while True:
        moved = 0
        with db.session() as session:
            query = due_tickets_query(now, batch)
            if db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            tickets = list(session.scalars(query))
            store = TicketStore(session)
            outbox = OutboxBatch()
            # One flush at commit for the whole batch, not one per lookup the mail queueing does.
            with session.no_autoflush:
                for ticket in tickets:
                    change = escalate(store, ticket, settings, now)
                    if change is None:
                        continue
                    queue_mail(
                        store, change, settings=settings, secret=pipeline.secret, now=now, batch=outbox
                    )
                    moved += 1
                store.flush()
                # The batch's mail rendered, then written by one multi-row INSERT.
                fill_drafts(outbox.drafts, pipeline.renderer, settings)
                store_drafts(session, outbox.drafts)
        handled += moved
        if len(tickets) < batch or not moved:
            return handled
